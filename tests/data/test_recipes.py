"""Input recipes: the evaluation views (stretch, centre crop) and the inception recipe's random-resized
crops, from encoded images and from pixels, and their seeding through the training pipeline."""

import dataclasses
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from bgsplit_tf import config as config_lib
from bgsplit_tf.data import image_files, pipeline, recipes
from bgsplit_tf.training import run_inputs


def _jpeg(pixels: np.ndarray, orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[image_files.EXIF_ORIENTATION_TAG] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def _gradient(height: int, width: int) -> np.ndarray:
    """uint8 [H, W, 3] whose red channel grows down the rows and green across the columns."""
    rows, cols = np.meshgrid(np.linspace(0, 255, height), np.linspace(0, 255, width), indexing="ij")
    return np.stack([rows, cols, np.full_like(rows, 128)], -1).round().astype(np.uint8)


def test_the_centre_crop_covers_256_224ths_of_the_input_keeping_the_aspect_ratio_then_keeps_the_centre():
    image = tf.constant(_gradient(60, 90))
    cropped = image_files.apply_resize_mode(image, (28, 28), image_files.CENTER_CROP).numpy()
    # Shorter side 60 -> 32 (28 * 256 / 224), so 90 -> 48; the centre 28 x 28 starts at (2, 10).
    resized = image_files.resize_uint8(image, (32, 48)).numpy()
    np.testing.assert_array_equal(cropped, resized[2:30, 10:38])
    np.testing.assert_array_equal(image_files.apply_resize_mode(image, (28, 28), image_files.STRETCH),
                                  image_files.resize_uint8(image, (28, 28)))
    with pytest.raises(ValueError, match="resize_mode='squash'"):
        image_files.apply_resize_mode(image, (28, 28), "squash")


def test_a_turned_jpeg_is_turned_upright_before_its_centre_is_cropped():
    upright = _gradient(40, 64)
    stored = np.rot90(upright, k=1)  # orientation 6: the camera stored it turned a quarter anticlockwise
    decoded = image_files.decode_bytes(tf.constant(_jpeg(np.ascontiguousarray(stored), 6)), (24, 24),
                                       image_files.CENTER_CROP).numpy().astype(int)
    expected = image_files.apply_resize_mode(tf.constant(upright), (24, 24), image_files.CENTER_CROP).numpy()
    expected = expected.astype(int)
    assert np.abs(decoded - expected).mean() < 3  # JPEG loss only
    assert decoded[:, :, 0].mean(axis=1)[0] < decoded[:, :, 0].mean(axis=1)[-1]  # red still grows downwards


def test_random_boxes_keep_the_inception_area_and_aspect_ranges_and_vary_with_the_seed():
    boxes = {tuple(np.concatenate([b.numpy() for b in recipes._crop_box(300, 400, tf.constant([s, 7], tf.int64))]))
             for s in range(200)}
    assert len(boxes) > 150
    for top, left, height, width in boxes:
        assert 0 <= top and top + height <= 300 and 0 <= left and left + width <= 400
        assert 0.08 * 0.98 <= height * width / (300 * 400) <= 1.0
        whole = (height, width) == (300, 400)  # no draw fitted
        assert whole or 3 / 4 * 0.95 <= width / height <= 4 / 3 * 1.05


def test_a_jpeg_crop_decoded_alone_matches_the_same_crop_of_the_decoded_image():
    encoded = tf.constant(_jpeg(_gradient(120, 160)))
    pixels = tf.io.decode_jpeg(encoded, channels=3).numpy()
    for seed in range(5):
        seed = tf.constant([seed, 1], tf.int64)
        from_bytes = recipes.random_resized_crop(encoded, (32, 32), seed).numpy().astype(int)
        from_pixels = recipes.random_resized_crop(tf.constant(pixels), (32, 32), seed).numpy().astype(int)
        assert from_bytes.shape == (32, 32, 3)
        # The same box: equal but where chroma upsampling meets the crop's edge.
        assert np.abs(from_bytes - from_pixels).max() <= 3 and np.mean(from_bytes != from_pixels) < 0.05
    np.testing.assert_array_equal(recipes.random_resized_crop(encoded, (32, 32), tf.constant([3, 1], tf.int64)),
                                  recipes.random_resized_crop(encoded, (32, 32), tf.constant([3, 1], tf.int64)))


def test_a_png_crop_and_a_corrupt_image_fail_or_succeed_like_decoding():
    buffer = io.BytesIO()
    Image.fromarray(_gradient(50, 70)).save(buffer, format="PNG")
    crop = recipes.random_resized_crop(tf.constant(buffer.getvalue()), (16, 16), tf.constant([0, 0], tf.int64))
    assert crop.shape == (16, 16, 3) and crop.dtype == tf.uint8
    with pytest.raises(tf.errors.InvalidArgumentError):
        recipes.random_resized_crop(tf.constant(b"not an image"), (16, 16), tf.constant([0, 0], tf.int64))


@pytest.mark.parametrize("recipe,teacher,trunk,size,chosen", [
    ("auto", "", "", (32, 32), "pad_crop"),
    ("auto", "applications:resnet50", "", (32, 32), "inception"),
    ("auto", "teacher.keras", "applications:mobilenetv3small", (64, 64), "inception"),
    ("auto", "teacher.keras", "", (224, 224), "inception"),
    ("pad_crop", "applications:resnet50", "", (224, 224), "pad_crop"),
])
def test_auto_chooses_inception_for_imagenet_models_and_photographs(recipe, teacher, trunk, size, chosen):
    config = config_lib.TrainConfig(input_recipe=recipe, teacher=teacher, trunk=trunk)
    resolved = run_inputs.input_recipe_of(config, size)
    assert resolved.recipe == chosen and "--input_recipe" in resolved.reason
    assert resolved.evaluation_resize_mode == ("center_crop" if chosen == "inception" else "stretch")


def test_runs_and_exports_of_every_version_are_served_in_the_resize_mode_they_were_evaluated_in():
    """metrics.json's input_recipe and an export's model_info.json name it evaluation_resize_mode; older ones
    evaluation_fit; the oldest nothing (they stretched)."""
    resolved = run_inputs.input_recipe_of(config_lib.TrainConfig(input_recipe="inception"), (224, 224))
    assert recipes.recorded_resize_mode(dataclasses.asdict(resolved)) == image_files.CENTER_CROP
    assert recipes.recorded_resize_mode({"evaluation_fit": "center_crop"}) == image_files.CENTER_CROP
    assert recipes.recorded_resize_mode({}) == image_files.STRETCH


def _encoded_examples(count: int) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    images = [_jpeg(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)) for _ in range(count)]
    return tf.data.Dataset.from_tensor_slices({"image": images, "label": np.arange(count) % 2,
                                               "id": [str(i).encode() for i in range(count)]})


def _crop(example, seed):
    return {**example, "image": recipes.random_resized_crop(example["image"], (24, 24), seed)}


def test_random_resized_crop_epochs_are_seeded_and_resume_mid_epoch_on_the_same_batches():
    epochs = pipeline.training_epochs(_encoded_examples(24), batch_size=8, seed=3,
                                      augmentation=pipeline.RANDOM_RESIZED_CROP, num_examples=24,
                                      decode_random_crop=_crop)
    again = pipeline.training_epochs(_encoded_examples(24), batch_size=8, seed=3,
                                     augmentation=pipeline.RANDOM_RESIZED_CROP, num_examples=24,
                                     decode_random_crop=_crop)
    first = [images.numpy() for images, _ in epochs(1)]
    assert len(first) == 3 and first[0].shape == (8, 24, 24, 3) and first[0].dtype == np.float32
    resumed = [images.numpy() for images, _ in again(1, skip=1)]
    for expected, got in zip(first[1:], resumed):
        np.testing.assert_array_equal(expected, got)
    other_epoch = [images.numpy() for images, _ in epochs(2)]
    assert not np.array_equal(np.sort(first[0].ravel()), np.sort(other_epoch[0].ravel()))
    with pytest.raises(ValueError, match="needs decode_random_crop"):
        pipeline.training_epochs(_encoded_examples(8), 4, 0, augmentation=pipeline.RANDOM_RESIZED_CROP)
