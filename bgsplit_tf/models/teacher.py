"""The teacher's architecture: a trunk plus a linear classifier over the teacher's own label space.

A teacher built here has the layers "trunk" and "classifier" a student starts from. The embedded
benchmark's teachers are such models, trained by `bgsplit-pretrain` and shipped in `assets/`
(models.pretrained loads them by name).
"""

from __future__ import annotations

import keras
from keras import layers

from bgsplit_tf.models import trunks

TRUNK_LAYER = "trunk"
CLASSIFIER_LAYER = "classifier"


def build_teacher(trunk: keras.Model, num_classes: int) -> keras.Model:
    """Wraps a trunk with a linear classifier.

    Returns:
      keras.Model named "teacher": float32 pixels [B, H, W, 3] in [0, 255] -> float32 logits
      [B, num_classes]. Its layers "trunk" and "classifier" are what students initialise from.
    """
    inputs = keras.Input(trunk.input_shape[1:], name="pixels")
    logits = layers.Dense(num_classes, name=CLASSIFIER_LAYER)(trunk(inputs))
    return keras.Model(inputs, logits, name="teacher")


def build_embedded_teacher(image_size: int = 32, num_classes: int = 16) -> keras.Model:
    """The architecture of the embedded benchmark's teacher (untrained)."""
    return build_teacher(trunks.small_resnet(image_size, widths=(16, 32, 64, 128)), num_classes)


def has_trunk(model: keras.Model) -> bool:
    """Whether `model` has the "trunk" and "classifier" layers a student is initialised from."""
    names = {layer.name for layer in model.layers}
    return {TRUNK_LAYER, CLASSIFIER_LAYER} <= names


def teacher_trunk(teacher: keras.Model) -> keras.Model:
    """The "trunk" sub-model: pixels float32 [B, H, W, 3] in [0, 255] -> features float32 [B, D]."""
    if not has_trunk(teacher):
        raise ValueError(
            f"model {teacher.name!r} has no 'trunk' and 'classifier' layers to start a student from (a model "
            "built by bgsplit_tf.models.teacher.build_teacher has them; a SavedModel never does). Pass "
            "--trunk=applications:<name> or --trunk=<a .keras teacher built by build_teacher>."
        )
    return teacher.get_layer(TRUNK_LAYER)


def teacher_classifier(teacher: keras.Model) -> layers.Dense:
    """The "classifier" Dense over the trunk's features: [B, D] -> logits [B, M]."""
    return teacher.get_layer(CLASSIFIER_LAYER)
