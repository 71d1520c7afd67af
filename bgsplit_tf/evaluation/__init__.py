"""Evaluation: average precision and mAP over the rare classes (metrics), per-epoch validation and
operating points (validation), the method's mechanism measured per epoch (mechanism), pictures
(plots), the test images ranked highest per rare class (top_ranked), and what TensorBoard shows beyond
Keras' epoch scalars (tensorboard_logging)."""
