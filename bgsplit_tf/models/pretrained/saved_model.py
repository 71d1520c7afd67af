"""A teacher from a SavedModel directory, called through keras.layers.TFSMLayer.

Any classifier exported as a SavedModel can be the teacher: one endpoint taking images [B, H, W, 3]
(float32 pixels in [0, 255], or uint8) and returning logits or probabilities [B, M], alone or as one
entry of a dict. M, the teacher's label space, is read from the endpoint. A SavedModel has no
trunk to copy, so the student's trunk then comes from --trunk.
"""

from __future__ import annotations

import pathlib

import keras
import tensorflow as tf
from keras import layers

DEFAULT_ENDPOINTS = ("serve", "serving_default")  # model.export()'s endpoint, then TF's default signature


def is_saved_model(path: str | pathlib.Path) -> bool:
    """Whether path is a SavedModel directory (holds saved_model.pb)."""
    return (pathlib.Path(path) / "saved_model.pb").is_file()


def _endpoint_layer(path: str, endpoint: str) -> layers.Layer:
    """TFSMLayer on `endpoint`, or on the first of DEFAULT_ENDPOINTS present when endpoint is empty."""
    errors = []
    for name in [endpoint] if endpoint else DEFAULT_ENDPOINTS:
        try:
            return keras.layers.TFSMLayer(path, call_endpoint=name, trainable=False, name="saved_model")
        except ValueError as error:
            errors.append(str(error))
    raise ValueError(f"SavedModel teacher {path}: {errors[-1]} Pass it with --teacher_endpoint.")


def _concrete(fn):
    """The traced function behind an endpoint (a signature is one already)."""
    return fn if hasattr(fn, "structured_outputs") else fn.concrete_functions[0]


class SavedModelClassifier(layers.Layer):
    """Calls one endpoint of a SavedModel: float32 pixels [B, H, W, 3] in [0, 255] -> float32 [B, M].

    The pixels are cast to the endpoint's input dtype (uint8 endpoints get exact integers back), and
    a dict of outputs is reduced to `output_key` (or its only entry).
    """

    def __init__(self, path: str, endpoint: str = "", output_key: str = "", **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.saved_model_path = str(path)
        self.endpoint = _endpoint_layer(self.saved_model_path, endpoint)
        function = _concrete(self.endpoint.call_endpoint_fn)
        args, kwargs_spec = function.structured_input_signature
        specs = list(args) + list(kwargs_spec.values())
        if len(specs) != 1 or not isinstance(specs[0], tf.TensorSpec) or specs[0].shape.rank != 4:
            raise ValueError(f"SavedModel teacher {path}: endpoint {self.endpoint.call_endpoint!r} must take one "
                             f"image tensor [B, H, W, 3]; it takes {specs}")
        self.input_spec_of_endpoint = specs[0]
        outputs = function.structured_outputs
        if isinstance(outputs, dict):
            if not output_key and len(outputs) == 1:
                output_key = next(iter(outputs))
            if output_key not in outputs:
                raise ValueError(f"SavedModel teacher {path}: choose its class scores with --teacher_output_key, "
                                 f"one of {sorted(outputs)}")
            outputs = outputs[output_key]
        elif output_key:
            raise ValueError(f"SavedModel teacher {path} returns one tensor; drop --teacher_output_key={output_key}")
        self.output_key = output_key
        if outputs.shape.rank != 2 or outputs.shape[-1] is None:
            raise ValueError(f"SavedModel teacher {path}: its output must be class scores [B, M], not {outputs.shape}")
        self.num_classes = int(outputs.shape[-1])

    def image_size(self, default: int) -> tuple[int, int]:
        """(H, W) the endpoint takes; `default` for each dimension it leaves open."""
        height, width = self.input_spec_of_endpoint.shape[1:3]
        return (height or default, width or default)

    def call(self, pixels):
        """pixels [B, H, W, 3] -> the endpoint's class scores, float32 [B, M]."""
        outputs = self.endpoint(tf.cast(pixels, self.input_spec_of_endpoint.dtype))
        if isinstance(outputs, dict):
            outputs = outputs[self.output_key]
        return tf.cast(outputs, tf.float32)

    def compute_output_shape(self, input_shape):
        """(B, M): the endpoint's number of classes."""
        return (input_shape[0], self.num_classes)


def classifier(path: str | pathlib.Path, image_size: int = 224, endpoint: str = "",
                        output_key: str = "") -> keras.Model:
    """A frozen keras.Model "teacher": float32 pixels [B, H, W, 3] in [0, 255] -> float32 [B, M].

    (H, W) is the endpoint's input size, or image_size where the endpoint accepts any size.
    """
    classifier = SavedModelClassifier(str(path), endpoint, output_key, name="saved_model_classifier")
    pixels = keras.Input((*classifier.image_size(image_size), 3), name="pixels")
    teacher = keras.Model(pixels, classifier(pixels), name="teacher")
    teacher.trainable = False
    return teacher
