"""Trunks: the shared feature extractors (image -> feature vector).

A trunk is a functional `keras.Model` named "trunk" that takes float32 pixels in [0, 255],
shape [B, H, W, 3], and returns float32 features [B, D]. It owns its input normalisation so that
every consumer (teacher, student, export) feeds raw pixels.
"""

from __future__ import annotations

import keras
from keras import layers


def _conv_bn(x, filters: int, stride: int, name: str):
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)


def _residual_block(x, filters: int, stride: int, name: str):
    """Basic ResNet block: two 3x3 convs with batch norm, projection shortcut on shape change."""
    shortcut = x
    y = layers.ReLU(name=f"{name}_relu1")(_conv_bn(x, filters, stride, f"{name}_a"))
    y = _conv_bn(y, filters, 1, f"{name}_b")
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(momentum=0.9, name=f"{name}_proj_bn")(shortcut)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, shortcut]))


def small_resnet(
    image_size: int = 32,
    widths: tuple[int, ...] = (32, 64, 128),
    blocks_per_stage: int = 1,
) -> keras.Model:
    """A small residual CNN for 32-64 px images, sized for CPU training.

    A 3x3 stem, then one stage per entry of `widths` (each stage after the first halves the
    resolution), then global average pooling.

    Returns:
      keras.Model named "trunk": float32 [B, image_size, image_size, 3] in [0, 255]
      -> float32 [B, widths[-1]].
    """
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalise")(inputs)
    x = layers.ReLU(name="stem_relu")(_conv_bn(x, widths[0], 1, "stem"))
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _residual_block(x, width, stride, f"stage{stage + 1}_block{block + 1}")
    features = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, features, name="trunk")
