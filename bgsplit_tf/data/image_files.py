"""Image files on disk: find them (a folder, recursively, or a CSV manifest) and decode them in tf.data.

Decoding accepts JPEG, PNG, GIF (first frame) and BMP; grayscale and RGBA become RGB. A file that does
not decode raises InvalidArgumentError inside tf.data, so pipelines can drop it (`ignore_errors`) and
report it by comparing what came out with what went in.
"""

from __future__ import annotations

import csv
import pathlib

import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")


def list_folder(root: str | pathlib.Path) -> list[str]:
    """Every image file under root (by extension, case-insensitive), sorted."""
    return sorted(str(p) for p in pathlib.Path(root).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)


def read_manifest(manifest: str | pathlib.Path) -> tuple[list[str], list[str]]:
    """(paths, labels) of a CSV manifest: `path[,label]` per row, an optional header row starting with
    "path", relative paths taken relative to the manifest. An empty or missing label is "" (unlabeled)."""
    manifest = pathlib.Path(manifest)
    with open(manifest, newline="") as f:
        rows = [row for row in csv.reader(f) if row and row[0].strip()]
    if rows and rows[0][0].strip().lower() == "path":
        rows = rows[1:]
    paths, labels = [], []
    for row in rows:
        path = pathlib.Path(row[0].strip())
        paths.append(str(path if path.is_absolute() else manifest.parent / path))
        labels.append(row[1].strip() if len(row) > 1 else "")
    return paths, labels


def decode_bytes(encoded: tf.Tensor) -> tf.Tensor:
    """One encoded image (string []: JPEG, PNG, GIF first frame, BMP) -> uint8 [H, W, 3] RGB."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return image


def decode_file(path: tf.Tensor, image_size: tuple[int, int] | None = None) -> tf.Tensor:
    """Reads and decodes one image file (string []) -> uint8 [H, W, 3], resized to image_size if given
    (bilinear, rounded back to uint8)."""
    image = decode_bytes(tf.io.read_file(path))
    return image if image_size is None else resize_uint8(image, image_size)


def resize_uint8(image: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    """uint8 [H, W, C] -> uint8 [image_size[0], image_size[1], C]: bilinear, rounded back to uint8."""
    resized = tf.image.resize(tf.cast(image, tf.float32), image_size)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
