"""Case g of bgsplit-bench: does the streamed 224 px input pipeline keep up with a GPU?

A generated folder of photo-sized JPEGs (PHOTO_SIZE, smooth scenes with grain, so that they compress
like photographs) is read through the training pipeline's own code, without a model: files listed by
FolderSource, decoded, cropped and batched by pipeline.training_epochs, nothing cached (the setting of a
dataset larger than memory, decoded every epoch). Three paths, images/s each:

  g_inception_train   the inception recipe: a random box cut out of each JPEG before it is decoded
                      whole (decode_and_crop_jpeg), resized to the input, flipped
  g_stretch_train     the pad_crop recipe at 224 px: every JPEG decoded whole and stretched to the
                      input, then the padded random crop and flip per batch
  g_center_crop_eval  the inception recipe's evaluation view: decoded whole, resized to cover 256/224
                      of the input, centre crop

and, for each, how many cores of this CPU would feed a GPU training ResNet-50 at NVIDIA's published
single-GPU rates (GPU_RATES): the rate divided by the images/s per core measured here.
"""

from __future__ import annotations

import os
import pathlib
import time

import numpy as np
import tensorflow as tf
from PIL import Image

from bgsplit_tf.data import image_files, pipeline, sources

PHOTO_SIZE = (375, 500)  # (H, W), a common camera-trap and iNaturalist photo size
INPUT_SIZE = (224, 224)
# ResNet-50 v1.5 training, one GPU, TensorFlow with XLA, as NVIDIA's DeepLearningExamples publish them.
GPU_RATES = {"V100_fp32": 412.0, "A100_tf32": 909.0}


SPECIES = [f"species_{i}" for i in range(10)]


def write_image_folder(root: pathlib.Path, counts: dict[str, int], pixels_of, quality: int,
                       categories: list[str] = SPECIES) -> None:
    """<root>/<split>/<category>/<i>.jpg, counts[split] JPEGs per split: image i in
    categories[i % len(categories)] when i % 4 == 0, else in background/; each pixels_of() (uint8
    [H, W, 3]), drawn in split then index order. Shared by bgsplit-bench's generated datasets."""
    for split, count in counts.items():
        for i in range(count):
            folder = root / split / (categories[i % len(categories)] if i % 4 == 0 else "background")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels_of()).save(folder / f"{i}.jpg", quality=quality)


def write_photo_folder(root: pathlib.Path, num_images: int, seed: int = 0, evaluation_splits: bool = False) -> None:
    """write_image_folder of num_images training JPEGs of PHOTO_SIZE, quality 90, each a smooth colour
    field with sensor-like grain (about the bytes per pixel of a photograph); with evaluation_splits,
    validation/ and test/ too, a quarter as many each."""
    rng = np.random.default_rng(seed)
    rows, cols = np.meshgrid(np.linspace(0, 1, PHOTO_SIZE[0]), np.linspace(0, 1, PHOTO_SIZE[1]), indexing="ij")

    def photo() -> np.ndarray:
        weights = rng.uniform(-1, 1, (3, 3))
        field = 128 + 90 * np.tanh(weights[:, 0] * rows[..., None] * 3 + weights[:, 1] * cols[..., None] * 3
                                   + weights[:, 2])
        return np.clip(field + rng.normal(0, 12, field.shape), 0, 255).astype(np.uint8)

    counts = {"train": num_images, **({"validation": num_images // 4, "test": num_images // 4}
                                      if evaluation_splits else {})}
    write_image_folder(root, counts, photo, quality=90)


def _rate(batches: tf.data.Dataset, steps: int, batch_size: int) -> float:
    """Images/s of `steps` batches, after one untimed batch (tf.data's threads start)."""
    iterator = iter(batches)
    next(iterator)
    started = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    return steps * batch_size / (time.perf_counter() - started)


def photo_pipeline_rates(root: pathlib.Path, batch_size: int, steps: int) -> dict:
    """{case: {"images_per_second", "cores_to_feed": {GPU: cores}}} over the folder at root."""
    cores = os.cpu_count() or 1
    cases = {}
    for name, resize_mode, augmentation in (
            ("g_inception_train", image_files.CENTER_CROP, pipeline.RANDOM_RESIZED_CROP),
            ("g_stretch_train", image_files.STRETCH, pipeline.PAD_CROP),
            ("g_center_crop_eval", image_files.CENTER_CROP, None)):
        source = sources.open_source(f"folder:{root}", image_size=INPUT_SIZE, resize_mode=resize_mode)
        examples = source.encoded_examples("train")
        if augmentation is None:
            batches = pipeline.evaluation_batches(examples, batch_size, cache=False, decode=source.decode).repeat()
        else:
            batches = pipeline.training_epochs(
                examples.repeat(), batch_size, seed=0, augmentation=augmentation, cache=False,
                decode=source.decode, decode_random_crop=source.decode_random_crop)(0)
        rate = _rate(batches, steps, batch_size)
        cases[name] = {"images_per_second": rate,
                       "cores_to_feed": {gpu: gpu_rate / (rate / cores) for gpu, gpu_rate in GPU_RATES.items()}}
    return cases
