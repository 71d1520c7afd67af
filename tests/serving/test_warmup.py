"""TF Serving warm-up requests: TensorFlow Serving's own protos read the file back as written, and the
exported SavedModel accepts every request through the signature it names."""

import os

import numpy as np
import pytest
import tensorflow as tf

from bgsplit_tf.serving import export, warmup
from tests import helpers

CLASS_NAMES = ("background", "red_disk", "blue_star")
# .ci/run installs tensorflow-serving-api and sets this: there the protos must be present.
REQUIRED = os.environ.get("BGSPLIT_REQUIRE_SERVING_API") == "1"
INSTALL = "pip install --no-deps tensorflow-serving-api==2.21.0"


def _serving_apis():
    """TensorFlow Serving's generated proto modules (prediction_log_pb2, predict_pb2, model_pb2): a skip
    when they are not installed, a failure when BGSPLIT_REQUIRE_SERVING_API=1."""
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError as error:
        message = f"TensorFlow Serving's protos do not import ({error}); {INSTALL} reads the warm-up file with them"
        if REQUIRED:
            pytest.fail(f"BGSPLIT_REQUIRE_SERVING_API=1: {message}")
        pytest.skip(message)
    return prediction_log_pb2, predict_pb2, model_pb2


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export.export_saved_model(helpers.tiny_network(num_rare=2), CLASS_NAMES, tmp_path_factory.mktemp("export"))


def _records(path) -> list[bytes]:
    return list(tf.data.TFRecordDataset(str(path / "assets.extra" / warmup.WARMUP_FILE)).as_numpy_iterator())


def test_one_record_per_signature_and_batch_size(exported):
    assert len(_records(exported)) == len(export.INPUT_SPECS) * len(warmup.WARMUP_BATCH_SIZES)


def test_tf_serving_protos_read_each_record_as_the_request_they_would_write(exported):
    prediction_log_pb2, predict_pb2, model_pb2 = _serving_apis()
    expected_order = [(name, size) for name in export.INPUT_SPECS for size in warmup.WARMUP_BATCH_SIZES]
    for record, (signature_name, batch_size) in zip(_records(exported), expected_order, strict=True):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert request.model_spec.signature_name == signature_name and list(request.inputs) == ["images"]
        images = tf.make_ndarray(request.inputs["images"])
        if export.INPUT_SPECS[signature_name].dtype == tf.string:
            assert images.shape == (batch_size,)
            assert [image[:2] for image in images] == [(b"\xff\xd8", b"\x89P")[i % 2] for i in range(batch_size)]
            decoded = np.stack([tf.io.decode_image(image).numpy() for image in images])
        else:
            decoded = images
        assert decoded.dtype == np.uint8 and decoded.shape == (batch_size, helpers.IMAGE_SIZE, helpers.IMAGE_SIZE, 3)
        # Byte for byte what TF Serving's own classes serialize for the same request.
        same = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(
            request=predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=signature_name),
                                               inputs={"images": request.inputs["images"]})))
        assert same.SerializeToString(deterministic=True) == record


def test_the_export_accepts_every_warm_up_request(exported):
    prediction_log_pb2, _, _ = _serving_apis()
    loaded = tf.saved_model.load(str(exported))
    for record in _records(exported):
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        images = tf.make_ndarray(request.inputs["images"])
        out = loaded.signatures[request.model_spec.signature_name](images=tf.constant(images))
        assert out["decoded"].numpy().all() and out["probabilities"].shape == (len(images), len(CLASS_NAMES))
        np.testing.assert_allclose(out["probabilities"].numpy().sum(1), 1.0, atol=1e-5)


def test_an_input_of_another_dtype_is_refused():
    with pytest.raises(ValueError, match="float32 input 'pixels'"):
        warmup.warmup_input(tf.TensorSpec([None], tf.float32, name="pixels"), (16, 16), 1)
