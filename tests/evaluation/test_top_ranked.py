"""Top-ranked test images: the running top N per rare class equals the top N of all images, and the
picture frames true positives green and false positives red."""

import io

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from bgsplit_tf.evaluation import plots, top_ranked, validation
from bgsplit_tf.models import bgsplit_model
from tests import helpers

CLASS_NAMES = ("background", "a", "b")


def _numbered_images(count):
    """float32 [count, 4, 4, 3]: image i is filled with the value i, so a kept image tells its index."""
    return np.broadcast_to(np.arange(count, dtype=np.float32)[:, None, None, None], (count, 4, 4, 3))


def test_running_top_n_over_batches_equals_the_top_n_of_all_images():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), size=30).astype(np.float32)
    labels = rng.integers(0, 3, 30)
    images = _numbered_images(30)
    top = top_ranked.TopRanked(CLASS_NAMES, per_class=4)
    for start in range(0, 30, 7):  # batches of 7, the last partial
        top.observe(images[start:start + 7], labels[start:start + 7], probabilities[start:start + 7])
    rows = top.rows()
    assert len(rows) == 2
    for k, (label, kept, correct) in enumerate(rows, start=1):
        expected = np.argsort(-probabilities[:, k])[:4]
        np.testing.assert_array_equal(kept[:, 0, 0, 0], expected)  # highest score first
        assert kept.dtype == np.uint8 and kept.shape == (4, 4, 4, 3)
        np.testing.assert_array_equal(correct, labels[expected] == k)
        assert label.startswith(f"{CLASS_NAMES[k]}: {correct.sum()} of the top 4")


def _pixels_near(png, colour):
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(pixels - colour).sum(-1) < 60).sum())


def test_gallery_frames_true_positives_green_and_false_positives_red():
    green, red = (0, 176, 0), (224, 0, 0)
    grey = np.full((2, 16, 16, 3), 128, np.uint8)
    marked = plots.gallery_png([("row", grey)], "t", correct=[np.array([True, False])])
    assert _pixels_near(marked, green) > 20 and _pixels_near(marked, red) > 20
    only_right = plots.gallery_png([("row", grey)], "t", correct=[np.array([True, True])])
    assert _pixels_near(only_right, red) == 0
    plain = plots.gallery_png([("row", grey)], "t")
    assert _pixels_near(plain, green) == 0 and _pixels_near(plain, red) == 0


def test_predict_main_shows_each_batch_to_the_observer_in_the_same_pass():
    model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network(num_rare=2))
    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=False)
    images, targets = helpers.tiny_batch(20, num_rare=2, seed=2)
    batches = tf.data.Dataset.from_tensor_slices((images, targets)).batch(8)
    top = top_ranked.TopRanked(CLASS_NAMES, per_class=3)
    labels, probabilities = validation.predict_main(model, batches, top.observe)
    for k, (_, kept, correct) in enumerate(top.rows(), start=1):
        expected = np.argsort(-probabilities[:, k])[:3]
        np.testing.assert_array_equal(kept, np.clip(np.rint(images[expected]), 0, 255).astype(np.uint8))
        np.testing.assert_array_equal(correct, labels[expected] == k)
    assert top.png("top").startswith(b"\x89PNG")
