"""A trunk cut in two: a frozen lower part, computed once per image, and an upper part that trains.

On a CPU, training the whole trunk of an ImageNet network is slow; freezing its lower layers and
training only the top ones costs a fraction, and since a frozen part's output never changes, it is
computed once per image and the upper part trains on it. The labelling loop (search) and
`bgsplit-train --frozen_through=<layer>` both split a trunk here.

  lower: the trunk's input (pixels float32 [B, H, W, 3] in [0, 255]) -> the output of `at_layer`,
         maps float32 [B, h, w, c]
  upper: those maps -> the trunk's features float32 [B, D]
upper(lower(x)) == trunk(x), and both share the trunk's layers (weights).
"""

from __future__ import annotations

import re

import keras

from bgsplit_tf.models import teacher as teacher_lib


STAGE_NAMES = (
    re.compile(r"stage(\d+)_.*_out$"),  # models.trunks.small_resnet: stage<k>_block<j>_out
    re.compile(r"block(\d+)[a-z]_"),  # EfficientNet and EfficientNet-Lite: block<k><letter>_...
)


def default_split_layer(trunk: keras.Model) -> str:
    """The last layer of the stage before a trunk's last stage, for trunks whose layers name their stage
    (STAGE_NAMES: ours, EfficientNet's): stage3_block1_out for ours, block6d_add for EfficientNet-Lite0;
    ValueError asking for a layer name otherwise."""
    for pattern in STAGE_NAMES:
        staged = [(int(match.group(1)), layer.name) for layer in trunk.layers
                  if (match := pattern.match(layer.name))]
        stages = sorted({stage for stage, _ in staged})
        if len(stages) >= 2:
            return [name for stage, name in staged if stage == stages[-2]][-1]
    raise ValueError(f"trunk {trunk.name!r} names no stages (stage<k>_..._out or block<k><letter>_ layers) to "
                     "split at by default; name the layer whose output stays frozen (e.g. block6d_add for "
                     "EfficientNet-Lite0)")


def split_trunk(trunk: keras.Model, at_layer: str | None = None) -> tuple[keras.Model, keras.Model]:
    """(lower, upper) of the module docstring: lower ends at the output of `at_layer` (default:
    default_split_layer). ValueError naming the layer when the trunk has none of that name or its
    upper part also needs a tensor from below the cut (a skip connection across it)."""
    at_layer = at_layer or default_split_layer(trunk)
    try:
        cut = trunk.get_layer(at_layer).output
    except ValueError:
        raise ValueError(f"trunk {trunk.name!r} has no layer {at_layer!r}; its layers include "
                         f"{', '.join(l.name for l in trunk.layers[-8:])}") from None
    try:
        upper = keras.Model(cut, trunk.output, name="upper_trunk")
    except ValueError as error:
        raise ValueError(f"the trunk cannot be cut after {at_layer!r}: a later layer also reads a tensor from "
                         f"before it ({error}); cut at the end of a block instead") from None
    return keras.Model(trunk.input, cut, name="lower_trunk"), upper


def split_teacher(teacher: keras.Model, at_layer: str) -> tuple[keras.Model, keras.Model]:
    """(lower, upper teacher): lower is the teacher trunk's frozen part (split_trunk), and the upper
    teacher a model in the teacher layout (models.teacher: "trunk", "classifier") that takes lower's
    maps and gives the teacher's logits: upper_teacher(lower(x)) == teacher(x). Both frozen."""
    lower, upper = split_trunk(teacher_lib.teacher_trunk(teacher), at_layer)
    upper_teacher = teacher_lib.build_teacher(keras.Model(upper.input, upper.output, name=teacher_lib.TRUNK_LAYER),
                                              teacher_lib.teacher_classifier(teacher).units)
    upper_teacher.get_layer(teacher_lib.CLASSIFIER_LAYER).set_weights(
        teacher_lib.teacher_classifier(teacher).get_weights())
    lower.trainable = upper_teacher.trainable = False
    return lower, upper_teacher


def on_pixels(lower: keras.Model, network: keras.Model) -> keras.Model:
    """A network trained on lower's maps, made to take pixels again (what is saved and served):
    pixels float32 [B, H, W, 3] in [0, 255] -> network(lower(pixels)), the same output dict."""
    pixels = keras.Input(lower.input_shape[1:], name="pixels")
    return keras.Model(pixels, network(lower(pixels, training=False)), name=network.name)
