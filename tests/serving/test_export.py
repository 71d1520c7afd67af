"""SavedModel export: TF Serving's contract, parity with Keras, bad requests, thresholds."""

import base64
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from bgsplit_tf.evaluation import validation

from bgsplit_tf.serving import export
from tests import helpers

CLASS_NAMES = ("background", "red_disk", "blue_star")


def _encoded(array: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    image = image.convert(mode) if mode else image
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    network = helpers.tiny_network(num_rare=2)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    probs = rng.dirichlet(np.ones(3), 200)
    points = validation.operating_points(labels, probs, CLASS_NAMES)
    base = tmp_path_factory.mktemp("export")
    path = export.export_saved_model(network, CLASS_NAMES, base, points, logit_offset=[0.5, 0.0, -0.5])
    return network, path, points


def test_versioned_layout_and_assets(exported, tmp_path):
    network, path, points = exported
    assert path.name == "1" and (path / "saved_model.pb").exists()
    assert (path / "assets.extra" / "class_names.txt").read_text().split() == list(CLASS_NAMES)
    per_class = json.loads((path / "assets.extra" / "operating_points.json").read_text())["per_class"]
    assert per_class == {name: [dataclasses.asdict(p) for p in per_target] for name, per_target in points.items()}
    assert export.next_version(path.parent) == 2


@pytest.mark.e2e
def test_saved_model_cli_lists_both_signatures_with_names_and_dtypes(exported):
    _, path, _ = exported
    cli = shutil.which("saved_model_cli")
    assert cli, "saved_model_cli ships with tensorflow"
    shown = subprocess.run([cli, "show", "--dir", str(path), "--all"], capture_output=True, text=True,
                           timeout=300, check=True).stdout
    serving = shown[shown.index("signature_def['serving_default']"):]
    assert "dtype: DT_STRING" in serving.split("outputs")[0] and "name: serving_default_images:0" in serving
    predict = shown[shown.index("signature_def['predict_images']"):]
    assert "dtype: DT_UINT8" in predict.split("outputs")[0]
    for key in export.OUTPUT_KEYS:
        assert f"outputs['{key}']" in serving and f"outputs['{key}']" in predict


def test_parity_with_the_keras_model(exported):
    network, path, _ = exported
    loaded = tf.saved_model.load(str(path))
    images = np.random.default_rng(1).integers(0, 256, (5, helpers.IMAGE_SIZE, helpers.IMAGE_SIZE, 3), dtype=np.uint8)
    keras_probs = tf.nn.softmax(network(images.astype("float32"))["main"] + [0.5, 0.0, -0.5]).numpy()
    out = loaded.signatures["predict_images"](images=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"].numpy(), keras_probs, atol=1e-5)
    # PNG is lossless: the encoded path decodes to the same pixels and gives the same probabilities.
    encoded = tf.constant([_encoded(image, "PNG") for image in images])
    served = loaded.signatures["serving_default"](images=encoded)
    np.testing.assert_allclose(served["probabilities"].numpy(), keras_probs, atol=1e-5)
    assert [n.decode() for n in served["top_class"].numpy()] == [CLASS_NAMES[i] for i in keras_probs.argmax(1)]


def test_thresholds_flag_scores_at_or_above_each_operating_point(exported):
    _, path, points = exported
    loaded = tf.saved_model.load(str(path))
    images = np.random.default_rng(2).integers(0, 256, (6, 20, 24, 3), dtype=np.uint8)  # any size is resized
    out = loaded.signatures["predict_images"](images=tf.constant(images))
    rare, above = out["rare_scores"].numpy(), out["above_threshold"].numpy()
    assert above.shape == (6, 2, 3)
    for k, name in enumerate(CLASS_NAMES[1:]):
        for p, point in enumerate(points[name]):
            threshold = np.inf if point.threshold is None else point.threshold
            np.testing.assert_array_equal(above[:, k, p], rare[:, k] >= np.float32(threshold))


def test_every_format_and_colour_mode_decodes(exported):
    _, path, _ = exported
    loaded = tf.saved_model.load(str(path))
    pixels = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    requests = [_encoded(pixels, "JPEG"), _encoded(pixels, "PNG"), _encoded(pixels, "GIF"), _encoded(pixels, "BMP"),
                _encoded(pixels, "PNG", "L"), _encoded(pixels, "PNG", "RGBA"), _encoded(pixels, "JPEG", "L")]
    out = loaded.signatures["serving_default"](images=tf.constant(requests))
    probs = out["probabilities"].numpy()
    assert probs.shape == (7, 3) and np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("bad", [b"", b"this is not an image", "truncated"])
def test_a_bad_image_costs_only_its_own_row(exported, bad):
    _, path, _ = exported
    loaded = tf.saved_model.load(str(path))
    good = _encoded(np.full((16, 16, 3), 128, np.uint8), "JPEG")
    if bad == "truncated":
        bad = _encoded(np.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=np.uint8), "JPEG")[:300]
    out = loaded.signatures["serving_default"](images=tf.constant([good, bad]))
    assert out["decoded"].numpy().tolist() == [True, False]
    alone = loaded.signatures["serving_default"](images=tf.constant([good]))
    np.testing.assert_allclose(out["probabilities"].numpy()[0], alone["probabilities"].numpy()[0], atol=1e-6)
    assert np.isnan(out["probabilities"].numpy()[1]).all() and out["top_class"].numpy()[1] == b""


_TF_ONLY_CLIENT = r"""
import base64, json, sys
import tensorflow as tf
body = json.loads(sys.stdin.read())
# What TF Serving's REST API does with {"instances": [{"b64": ...}]}: base64-decode each into the string input.
images = tf.constant([base64.b64decode(instance["b64"]) for instance in body["instances"]])
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](images=images)
assert "bgsplit_tf" not in sys.modules and "keras" not in sys.modules, "only tensorflow may be loaded"
print(json.dumps({"predictions": [
    {"probabilities": p.tolist(), "top_class": c.decode()}
    for p, c in zip(out["probabilities"].numpy(), out["top_class"].numpy())]}))
"""


@pytest.mark.e2e
def test_a_tensorflow_only_process_answers_a_rest_format_request(exported, tmp_path):
    network, path, _ = exported
    # Keras cannot even be imported in the client: tensorflow runs without it, and so must the export.
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "__init__.py").write_text("raise ImportError('keras is blocked in this process')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    images = np.random.default_rng(5).integers(0, 256, (3, helpers.IMAGE_SIZE, helpers.IMAGE_SIZE, 3), dtype=np.uint8)
    body = json.dumps({"instances": [{"b64": base64.b64encode(_encoded(i, "PNG")).decode()} for i in images]})
    result = subprocess.run([sys.executable, "-c", _TF_ONLY_CLIENT, str(path)], input=body, capture_output=True,
                            text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    predictions = json.loads(result.stdout.strip().splitlines()[-1])["predictions"]
    expected = tf.nn.softmax(network(images.astype("float32"))["main"] + [0.5, 0.0, -0.5]).numpy()
    np.testing.assert_allclose([p["probabilities"] for p in predictions], expected, atol=1e-5)


def test_existing_version_is_never_overwritten(exported):
    network, path, _ = exported
    with pytest.raises(FileExistsError, match="immutable"):
        export.export_saved_model(network, CLASS_NAMES, path.parent, version=1)


def test_a_centre_crop_export_serves_exactly_what_evaluation_scores(tmp_path):
    """Parity of the inception recipe's evaluation view: the folder source's evaluation batches, the
    encoded-image signature and the pixel signature give the same probabilities for the same photos."""
    from bgsplit_tf.data import image_files, pipeline, sources

    rng = np.random.default_rng(1)
    folder = tmp_path / "photos" / "test" / "fox"
    folder.mkdir(parents=True)
    shapes = [(50, 70), (90, 40), (16, 16), (33, 47)]
    for i, shape in enumerate(shapes):
        pixels = np.clip(rng.normal(128, 60, (*shape, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=92)
    source = sources.open_source(f"folder:{tmp_path / 'photos'}", image_size=(helpers.IMAGE_SIZE,) * 2,
                                 resize_mode=image_files.CENTER_CROP)
    network = helpers.tiny_network(num_rare=2)
    evaluated = []
    for images, _ in pipeline.evaluation_batches(source.encoded_examples("test"), 8, cache=False,
                                                 decode=source.decode):
        evaluated.append(tf.nn.softmax(network(images, training=False)["main"]).numpy())
    evaluated = np.concatenate(evaluated)

    path = export.export_saved_model(network, CLASS_NAMES, tmp_path / "export",
                                     evaluation_resize_mode=image_files.CENTER_CROP)
    info = json.loads((path / "assets.extra" / "model_info.json").read_text())
    assert info["evaluation_resize_mode"] == image_files.CENTER_CROP
    loaded = tf.saved_model.load(str(path))
    files = [folder / f"{i}.jpg" for i in range(len(shapes))]
    served = loaded.signatures["serving_default"](images=tf.constant([f.read_bytes() for f in files]))
    np.testing.assert_allclose(served["probabilities"].numpy(), evaluated, atol=1e-5)
    for i, f in enumerate(files):  # full-size pixels, one photo per request (their sizes differ)
        if shapes[i] == (helpers.IMAGE_SIZE,) * 2:
            continue  # a photo of exactly the input size is taken as the view itself (below)
        pixels = tf.io.decode_jpeg(f.read_bytes(), channels=3)[None]
        by_pixels = loaded.signatures["predict_images"](images=pixels)["probabilities"].numpy()
        np.testing.assert_allclose(by_pixels[0], evaluated[i], atol=1e-5)
    view = image_files.decode_file(tf.constant(str(files[0])), (helpers.IMAGE_SIZE,) * 2, image_files.CENTER_CROP)
    as_is = loaded.signatures["predict_images"](images=view[None])["probabilities"].numpy()
    np.testing.assert_allclose(as_is[0], evaluated[0], atol=1e-5)  # at the input size: taken as the view
