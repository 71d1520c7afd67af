"""Models: trunks, the teacher, the two-output network and the training model."""
