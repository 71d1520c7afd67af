"""Evaluation: average precision and mAP over the rare classes (metrics), per-epoch validation and
operating points (validation), the method's mechanism measured per epoch (mechanism), pictures
(plots), the test images ranked highest per rare class (top_ranked), what TensorBoard shows beyond
Keras' epoch scalars (tensorboard_logging), and a run's results as records, read from and written to
metrics.json (run_results)."""
