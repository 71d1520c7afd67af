"""TF Serving warm-up requests shipped with an export: <version>/assets.extra/tf_serving_warmup_requests.

TF Serving runs these requests once when it loads a version, before the version serves, so that the
first real requests do not pay for what TensorFlow initialises lazily on a signature's first call
(the tf.data decoding pass of serving_default, kernel selection for the batch shapes). For each
signature of the export, one request per batch size in WARMUP_BATCH_SIZES (1 and 4) of generated
images at the model's input size: encoded for a string input (JPEG and PNG alternately, so both
decoders warm up), pixels for a uint8 one.

File format (TF Serving's SavedModel warm-up): a TFRecord file, one serialized
tensorflow.serving.PredictionLog per record. bgsplit_tf does not depend on tensorflow-serving-api,
which requires the full `tensorflow` package (it conflicts with tensorflow-cpu), so the wrapper
messages are written here in protobuf's wire format; only the input TensorProto comes from
TensorFlow (tf.make_tensor_proto). Every field written is length-delimited (wire type 2: tag varint
(number << 3 | 2), length varint, bytes); numbers from tensorflow_serving/apis/*.proto:

  PredictionLog    predict_log = 6      PredictLog
  PredictLog       request = 1          PredictRequest
  PredictRequest   model_spec = 1       ModelSpec
                   inputs = 2           map<string, TensorProto>: one entry {key = 1, value = 2}
  ModelSpec        signature_name = 3   string
                   (name = 1 is left empty: TF Serving warms up the version it is loading, whatever
                   name it serves it under)
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow as tf

from bgsplit_tf.data import image_files

WARMUP_FILE = "tf_serving_warmup_requests"  # the name TF Serving looks for in assets.extra/
WARMUP_BATCH_SIZES = (1, 4)
# Field numbers of the messages written (see the module docstring).
PREDICTION_LOG_PREDICT_LOG = 6
PREDICT_LOG_REQUEST = 1
REQUEST_MODEL_SPEC, REQUEST_INPUTS = 1, 2
MAP_KEY, MAP_VALUE = 1, 2
MODEL_SPEC_SIGNATURE_NAME = 3
# The generated images: random colours on a GRID x GRID grid, smoothly resized to the input size
# (small once encoded, unlike noise).
GRID = 4
ENCODERS = (tf.io.encode_jpeg, tf.io.encode_png)


def _varint(value: int) -> bytes:
    """A non-negative integer as a protobuf base-128 varint (7 bits a byte, low bits first)."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field: tag (number, wire type 2), length, payload."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def prediction_log(signature_name: str, input_name: str, tensor: tf.Tensor | np.ndarray) -> bytes:
    """A serialized tensorflow.serving.PredictionLog holding one PredictRequest: `tensor` as the
    signature's input `input_name`."""
    model_spec = _field(MODEL_SPEC_SIGNATURE_NAME, signature_name.encode())
    entry = _field(MAP_KEY, input_name.encode()) + _field(MAP_VALUE, tf.make_tensor_proto(tensor).SerializeToString())
    request = _field(REQUEST_MODEL_SPEC, model_spec) + _field(REQUEST_INPUTS, entry)
    return _field(PREDICTION_LOG_PREDICT_LOG, _field(PREDICT_LOG_REQUEST, request))


def warmup_input(spec: tf.TensorSpec, image_size: tuple[int, int], batch_size: int, seed: int = 0) -> tf.Tensor:
    """A request's input for a signature taking spec: batch_size generated images at image_size (H, W),
    as encoded strings (string [B]; JPEG and PNG alternately) or pixels (uint8 [B, H, W, 3])."""
    colours = np.random.default_rng(seed).integers(0, 256, (batch_size, GRID, GRID, 3), dtype=np.uint8)
    pixels = image_files.resize_uint8(colours, image_size)
    if spec.dtype == tf.uint8:
        return pixels
    if spec.dtype == tf.string:
        return tf.stack([ENCODERS[i % len(ENCODERS)](image) for i, image in enumerate(pixels)])
    raise ValueError(f"no warm-up input for a {spec.dtype.name} input {spec.name!r}: only string (encoded images) "
                     "and uint8 (pixels) inputs are known")


def write_warmup_requests(extra_dir: str | pathlib.Path, input_specs: dict[str, tf.TensorSpec],
                          image_size: tuple[int, int]) -> pathlib.Path:
    """Writes extra_dir/tf_serving_warmup_requests and returns its path.

    Args:
      extra_dir: the version's assets.extra folder.
      input_specs: {signature name: the spec of its one input (spec.name is the input's name)}.
      image_size: the model's input size (H, W).
    """
    path = pathlib.Path(extra_dir) / WARMUP_FILE
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature_name, spec in input_specs.items():
            for seed, batch_size in enumerate(WARMUP_BATCH_SIZES):
                images = warmup_input(spec, image_size, batch_size, seed)
                writer.write(prediction_log(signature_name, spec.name, images))
    return path
