"""The pre-trained teacher: a trunk plus a linear classifier over the teacher's own label space.

For the embedded benchmark the teachers are our own models, trained by `bgsplit-pretrain` and shipped
in the package (`assets/<name>.keras`, model cards beside them), named by `embedded:<name>`:
shapes_v2_fine (the default: 384 teacher species of bgsplit_shapes 2.0.0), shapes_v2_medium (128
shape x colour classes), shapes_v2_coarse (16 shapes) and shapes_v1_coarse (bgsplit_shapes 1.0.0's
16 shape concepts).
"""

from __future__ import annotations

import pathlib

import keras
from keras import layers

from bgsplit_tf.models import trunks

ASSETS_DIR = pathlib.Path(__file__).parent / "assets"
EMBEDDED_PREFIX = "embedded:"
DEFAULT_EMBEDDED = "shapes_v2_fine"
EMBEDDED_TEACHER = ASSETS_DIR / f"{DEFAULT_EMBEDDED}.keras"
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


def embedded_names() -> list[str]:
    """Names of the teachers shipped with the embedded benchmark (embedded:<name>)."""
    return sorted(path.stem for path in ASSETS_DIR.glob("*.keras"))


def embedded_teacher_path(spec: str) -> pathlib.Path:
    """embedded:<name> -> its shipped .keras file; ValueError naming the shipped teachers otherwise."""
    name = spec.removeprefix(EMBEDDED_PREFIX)
    if name not in embedded_names():
        raise ValueError(f"--teacher={spec}: no shipped teacher {name!r}; shipped: "
                         f"{', '.join(EMBEDDED_PREFIX + n for n in embedded_names())}")
    return ASSETS_DIR / f"{name}.keras"


def load_teacher(path: str | pathlib.Path | None = None) -> keras.Model:
    """Loads a frozen teacher saved as a .keras file (default: the embedded benchmark's default teacher).

    Any classifier (pixels float32 [B, H, W, 3] in [0, 255] -> [B, M]) can be a teacher; one built by
    build_teacher (layers "trunk" and "classifier", see has_trunk) can also start the student.

    Raises:
      FileNotFoundError: naming the path and how to create a teacher.
    """
    path = pathlib.Path(path or EMBEDDED_TEACHER)
    if not path.exists():
        raise FileNotFoundError(
            f"teacher model {path} does not exist. Train one with `bgsplit-pretrain "
            f"--output={path}` or pass --teacher=<path to a .keras teacher>."
        )
    teacher = keras.saving.load_model(path, compile=False)
    teacher.trainable = False
    return teacher


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
