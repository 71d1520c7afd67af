"""Pre-trained models by name: what --teacher and --trunk accept.

  ""                      the embedded benchmark's default teacher (embedded:shapes_v2_fine)
  embedded:<name>         a teacher shipped with the embedded benchmark (assets/<name>.keras)
  applications:<name>     a keras.applications ImageNet classifier (models.applications)
  <dir>/saved_model.pb    a SavedModel directory, via keras.layers.TFSMLayer (models.saved_model_teacher)
  <file>.keras            any Keras classifier (models.teacher.load_teacher)

Each comes back as a frozen keras.Model: float32 pixels [B, H, W, 3] in [0, 255] -> float32 [B, M].
"""

from __future__ import annotations

import keras

from bgsplit_tf.models import applications, saved_model_teacher, teacher as teacher_lib


def load_pretrained(spec: str, *, image_size: int = 224, weights: str = "imagenet", endpoint: str = "",
                    output_key: str = "") -> keras.Model:
    """Loads the model `spec` names (see the module docstring), frozen.

    image_size: input size of an applications: model and of a SavedModel that takes any size;
    weights: "imagenet" or "none" for applications: models; endpoint, output_key: for a SavedModel.
    """
    if spec.startswith(applications.PREFIX):
        model = applications.application_teacher(spec, image_size, None if weights == "none" else weights)
    elif spec.startswith(teacher_lib.EMBEDDED_PREFIX):
        model = teacher_lib.load_teacher(teacher_lib.embedded_teacher_path(spec))
    elif spec and saved_model_teacher.is_saved_model(spec):
        model = saved_model_teacher.saved_model_teacher(spec, image_size, endpoint, output_key)
    else:
        model = teacher_lib.load_teacher(spec or None)
    model.trainable = False
    return model
