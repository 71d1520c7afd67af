"""Data, in the order it flows: sources (TFDS, image folders, CSV manifests, the embedded benchmark) ->
rare_task (K rare categories, N positives each, the rest background) -> teacher_targets and
teacher_cache (the teacher's predictions, computed once) -> pipeline (tf.data batches); image_files
and bad_images decode and screen the images on the way; fingerprints record what each store kept on
disk was computed from, so that a run reuses only what matches it."""
