"""Training a run: prepare (source, rare task, teacher targets, batches) -> build (network, loss,
optimizer) -> loop (resumable epochs, checkpoints) -> run (the lifecycle, evaluation and outputs);
losses, schedules, distribution and faults beside them."""
