"""Evaluation: average precision and mAP over the rare classes (metrics), per-epoch validation and
operating points (validation), the method's mechanism measured per epoch (mechanism), and pictures
(plots)."""
