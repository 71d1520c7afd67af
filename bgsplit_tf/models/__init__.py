"""Models: trunks, the teacher's architecture, pretrained (one load(spec) for every model a flag names),
the two-output network and the training model with its custom train_step."""
