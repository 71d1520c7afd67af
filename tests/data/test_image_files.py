"""Image files: listing a folder, reading a manifest, decoding every supported format to RGB."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from bgsplit_tf.data import image_files


@pytest.fixture
def folder(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    files = {"a/rgb.jpg": ("JPEG", None), "a/b/rgb.PNG": ("PNG", None), "gray.png": ("PNG", "L"),
             "rgba.png": ("PNG", "RGBA"), "anim.gif": ("GIF", None), "old.bmp": ("BMP", None),
             "gray.jpeg": ("JPEG", "L"), "palette.png": ("PNG", "P")}
    for name, (fmt, mode) in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(pixels)
        (image.convert(mode) if mode else image).save(path, format=fmt)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path, pixels


def test_folder_listing_finds_every_image_recursively_and_nothing_else(folder):
    root, _ = folder
    names = [p.split(str(root) + "/")[1] for p in image_files.list_folder(root)]
    assert names == sorted(["a/rgb.jpg", "a/b/rgb.PNG", "gray.png", "rgba.png", "anim.gif", "old.bmp",
                            "gray.jpeg", "palette.png"])


def test_every_format_and_colour_mode_decodes_to_rgb(folder):
    root, pixels = folder
    for path in image_files.list_folder(root):
        image = image_files.decode_file(tf.constant(path)).numpy()
        assert image.shape == (12, 10, 3) and image.dtype == np.uint8, path
    lossless = image_files.decode_file(tf.constant(str(root / "a/b/rgb.PNG"))).numpy()
    np.testing.assert_array_equal(lossless, pixels)
    resized = image_files.decode_file(tf.constant(str(root / "old.bmp")), (7, 5)).numpy()
    assert resized.shape == (7, 5, 3) and resized.dtype == np.uint8


def test_manifest_paths_are_relative_to_it_and_labels_may_be_missing(tmp_path):
    manifest = tmp_path / "lists" / "pool.csv"
    manifest.parent.mkdir()
    manifest.write_text("path,label\nimgs/a.jpg,fox\nimgs/b.jpg,\n/abs/c.png\n\n")
    paths, labels = image_files.read_manifest(manifest)
    assert paths == [str(manifest.parent / "imgs/a.jpg"), str(manifest.parent / "imgs/b.jpg"), "/abs/c.png"]
    assert labels == ["fox", "", ""]
