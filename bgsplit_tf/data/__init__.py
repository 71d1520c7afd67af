"""Data: the embedded benchmark, sources, rare tasks, teacher targets and the tf.data pipeline."""
