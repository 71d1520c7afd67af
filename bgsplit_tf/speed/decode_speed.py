"""What decoding as bgsplit_tf does costs over a bare decode.

Times, in one process and interleaved rounds (the machine is shared and noisy), a tf.data pass that
decodes the same in-memory photo-like JPEGs and resizes them to 224 x 224 in two ways:

  bare     tf.io.decode_image, then resize
  ours     image_files.decode_bytes: the header's pixel count checked first, the EXIF orientation
           read and applied (resizing before turning)

and prints the fastest round of each and their ratio, as JSON. --orientations=upright gives every
file orientation 1 (the parsing cost alone); mixed cycles through 1..8 (turning costs too).
"""

from __future__ import annotations

import io
import time

import numpy as np
import tensorflow as tf
from PIL import Image

from bgsplit_tf.data import image_files

TARGET_SIZE = (224, 224)


def photo_like_jpegs(count: int, height: int, width: int, orientations: str, seed: int = 0) -> list[bytes]:
    """JPEGs (quality 85) of smooth gradients with sensor-like noise, each with an EXIF orientation."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    files = []
    for i in range(count):
        base = np.stack([(x + 7 * i) % 256, (2 * y + i) % 256, (x + y) % 256], -1).astype(np.float32)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        exif = Image.Exif()
        exif[image_files.EXIF_ORIENTATION_TAG] = 1 if orientations == "upright" else 1 + i % 8
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=85, exif=exif.tobytes())
        files.append(buffer.getvalue())
    return files


def _bare(encoded: tf.Tensor) -> tf.Tensor:
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return image_files.resize_uint8(image, TARGET_SIZE)


def _ours(encoded: tf.Tensor) -> tf.Tensor:
    return image_files.decode_bytes(encoded, TARGET_SIZE)


def images_per_second(files: list[bytes], decode, passes: int) -> float:
    """Images/s of one tf.data pass (parallel map, batches of 64) over `files`, `passes` times."""
    batches = (tf.data.Dataset.from_tensor_slices(tf.constant(files)).repeat(passes)
               .map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(64))
    started = time.perf_counter()
    count = sum(int(batch.shape[0]) for batch in batches)
    return count / (time.perf_counter() - started)


def benchmark(count: int, height: int, width: int, orientations: str, rounds: int, passes: int) -> dict:
    """The fastest round of each way, and ours / bare."""
    files = photo_like_jpegs(count, height, width, orientations)
    fastest = {"bare": 0.0, "ours": 0.0}
    for _ in range(rounds):
        for name, decode in (("bare", _bare), ("ours", _ours)):
            fastest[name] = max(fastest[name], images_per_second(files, decode, passes))
    return {"images": count, "size": [height, width], "orientations": orientations, "rounds": rounds,
            "fastest_images_per_second": {k: round(v, 1) for k, v in fastest.items()},
            "ours_over_bare": round(fastest["ours"] / fastest["bare"], 3)}
