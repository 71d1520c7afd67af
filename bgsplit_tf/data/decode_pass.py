"""The one decode pass before training: every image of a split decoded once, in parallel, feeding the
teacher as it goes; the images that do not decode come out as bad images (data.bad_images), the others
as teacher targets (data.teacher_targets). So a split is decoded once whether it is screened, given
targets, or both."""

from __future__ import annotations

import keras

from bgsplit_tf.data import bad_images, teacher_targets


def scan_with_targets(source, split: str, teacher: keras.Model, teacher_output: str,
                      top_k: int) -> tuple[teacher_targets.TeacherTargets, tuple[bad_images.BadImage, ...]]:
    """(the teacher's targets of source[split]'s images that decode, in split order; the others as bad
    images, each with the reason it fails). teacher_output: 'logits' or 'probabilities' (what the
    teacher's output is); top_k: classes kept per image. ValueError if no image decodes."""
    progress = bad_images.scan_progress(source, split)
    parts = []
    for ids, probs in teacher_targets.predict_batches(
            teacher, bad_images.decoded_survivors(source, split, source.decode), teacher_output=teacher_output):
        parts.append(teacher_targets.TeacherTargets.from_probabilities(ids, probs, top_k))
        progress.add(len(ids))
    if not parts:
        raise ValueError(f"no image of {source.name}[{split}] decodes")
    targets = teacher_targets.concatenate(parts)
    return targets, bad_images.missing_images(source, split, set(targets.ids))
