"""ImageNet teachers from keras.applications, split into the "trunk" and "classifier" a student needs.

`classifier("applications:resnet50")` builds keras.applications.ResNet50 with its 1000-way ImageNet
classifier (weights="imagenet" downloads them once into ~/.keras; tests use weights=None), then
rebuilds it as our teacher layout: a "trunk" sub-model (float32 pixels in [0, 255] -> the features the
classifier reads, with the application's own input preprocessing inside) and a "classifier" Dense
holding the application's final layer (a 1x1 convolution, as MobileNetV3 has, becomes the equivalent
Dense). The student's aux head then starts as the ImageNet classifier, as in the paper.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from bgsplit_tf.models import teacher as teacher_lib

PREFIX = "applications:"


@keras.saving.register_keras_serializable(package="bgsplit_tf")
class CaffePreprocess(layers.Layer):
    """ResNet50's ImageNet preprocessing ("caffe"): RGB -> BGR, minus the ImageNet channel means.

    float32 [B, H, W, 3] RGB in [0, 255] -> float32 [B, H, W, 3].
    """

    MEAN_BGR = (103.939, 116.779, 123.68)

    def call(self, pixels):
        """RGB float32 [B, H, W, 3] in [0, 255] -> BGR minus the ImageNet channel means."""
        return ops.flip(pixels, axis=-1) - ops.convert_to_tensor(self.MEAN_BGR, dtype=pixels.dtype)


def _resnet50(**kwargs):
    return keras.applications.ResNet50(**kwargs), CaffePreprocess(name="preprocess")


def _with_builtin_preprocessing(constructor):
    """Applications whose models rescale [0, 255] pixels themselves (include_preprocessing=True)."""
    return lambda **kwargs: (constructor(include_preprocessing=True, **kwargs), None)


APPLICATIONS = {
    "resnet50": _resnet50,
    "efficientnetv2b0": _with_builtin_preprocessing(keras.applications.EfficientNetV2B0),
    "efficientnetv2s": _with_builtin_preprocessing(keras.applications.EfficientNetV2S),
    "mobilenetv3small": _with_builtin_preprocessing(keras.applications.MobileNetV3Small),
    "mobilenetv3large": _with_builtin_preprocessing(keras.applications.MobileNetV3Large),
    "convnext_tiny": _with_builtin_preprocessing(keras.applications.ConvNeXtTiny),
}


def _final_layer(model: keras.Model) -> layers.Layer:
    """The application's classifier: its last layer with weights (a Dense or a 1x1 Conv2D)."""
    return [layer for layer in model.layers if layer.weights][-1]


def classifier(name: str, image_size: int = 224, weights: str | None = "imagenet") -> keras.Model:
    """A keras.applications ImageNet classifier as a teacher (see build_teacher's layout).

    Args:
      name: a key of APPLICATIONS (case-insensitive), e.g. "resnet50".
      image_size: input height and width; ImageNet weights with their classifier need the
        application's default size (224 for these).
      weights: "imagenet" for real use (downloaded once by Keras), None for random weights (tests).

    Returns:
      keras.Model: float32 pixels [B, S, S, 3] in [0, 255] -> float32 logits [B, 1000], with layers
      "trunk" and "classifier".
    """
    key = name.lower().removeprefix(PREFIX)
    if key not in APPLICATIONS:
        raise ValueError(f"unknown keras.applications teacher {name!r}; choose one of {sorted(APPLICATIONS)}")
    full, preprocess = APPLICATIONS[key](include_top=True, weights=weights, input_shape=(image_size, image_size, 3),
                                         classifier_activation=None)
    return split_classifier(full, preprocess, key)


def split_classifier(full: keras.Model, preprocess: layers.Layer | None, name: str) -> keras.Model:
    """Rebuilds a classifier model as trunk + "classifier" Dense computing the same logits.

    full: pixels -> logits, whose last weighted layer is a Dense or a 1x1 Conv2D; preprocess: a layer
    applied to [0, 255] pixels first, or None when `full` preprocesses itself.
    """
    head = _final_layer(full)
    features = head.input
    if len(features.shape) > 2:  # a 1x1 convolution on a [B, 1, 1, D] map
        features = layers.Flatten(name="flatten_features")(features)
    backbone = keras.Model(full.input, features, name=f"{name}_backbone")
    pixels = keras.Input(full.input_shape[1:], name="pixels")
    trunk = keras.Model(pixels, backbone(preprocess(pixels) if preprocess is not None else pixels),
                        name=teacher_lib.TRUNK_LAYER)
    kernel, bias = head.get_weights()
    kernel = kernel.reshape(-1, kernel.shape[-1])
    teacher = teacher_lib.build_teacher(trunk, kernel.shape[-1])
    teacher.get_layer(teacher_lib.CLASSIFIER_LAYER).set_weights([kernel, np.asarray(bias)])
    return teacher
