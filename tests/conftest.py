"""Shared fixtures: the embedded benchmark's tiny config, rendered once per test session, and a folder
of camera-trap-like image files.

The tiers (markers in pytest.ini):
  fast     python -m pytest -q -m "not slow and not e2e" tests   unit tests on real TF ops, in this process
  default  python -m pytest -q tests                             what CI runs: fast and e2e (not slow)
  slow     python -m pytest -q -m slow tests                     long runs a default test covers more cheaply
e2e marks a test that starts a program, a notebook kernel or a second process, or that runs a whole
training run (training.run.run_training, comparison.run_experiment or Runner.run_many) or a benchmark's
measurement in this process. Every test under tests/e2e/ is e2e (its modules' pytestmark); an e2e test
that checks one module's part in a run sits beside that module's unit tests, marked."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# --mixed_precision=auto (the default) follows the hardware; pinning it to float32 makes the suite's
# figures the same on any machine (CPU with or without AMX, GPU, TPU). Inherited by the suite's
# subprocesses. Set BGSPLIT_AUTO_PRECISION=bfloat16 to run the suite in bfloat16.
if not os.environ.get("BGSPLIT_AUTO_PRECISION"):  # unset or empty
    os.environ["BGSPLIT_AUTO_PRECISION"] = "off"

import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import bgsplit_tf  # noqa: F401  (registers the builder)
from tests import helpers

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> str:
    """A TFDS data_dir holding bgsplit_shapes/tiny (a few hundred images per split)."""
    data_dir = tmp_path_factory.mktemp("tfds")
    tfds.builder("bgsplit_shapes/tiny", data_dir=str(data_dir)).download_and_prepare()
    return str(data_dir)


@pytest.fixture(scope="session")
def tiny_source(tiny_data_dir):
    return bgsplit_tf.TfdsSource(name="bgsplit_shapes/tiny", data_dir=tiny_data_dir)


@pytest.fixture(scope="session")
def image_root(tmp_path_factory):
    """train/validation/test with 3 categories and a background folder, mixed formats and sizes."""
    root = tmp_path_factory.mktemp("camera_traps")
    rng = np.random.default_rng(0)
    counts = {"train": (6, 48), "validation": (3, 24), "test": (3, 24)}
    for split, (per_category, background) in counts.items():
        for c, (name, colour) in enumerate(helpers.CAMERA_TRAP_COLOURS.items()):
            for i in range(per_category):
                pixels = np.clip(np.array(colour) + rng.integers(-30, 31, (40, 36, 3)), 0, 255).astype(np.uint8)
                folder = root / split / name / ("night" if i % 2 else "day")
                folder.mkdir(parents=True, exist_ok=True)
                fmt, suffix = [("JPEG", "jpg"), ("PNG", "png"), ("BMP", "bmp")][i % 3]
                Image.fromarray(pixels).save(folder / f"{i}.{suffix}", format=fmt)
        (root / split / "background").mkdir(parents=True)
        for i in range(background):
            pixels = rng.integers(0, 256, (28, 30, 3), dtype=np.uint8)
            image = Image.fromarray(pixels).convert("L") if i % 4 == 0 else Image.fromarray(pixels)
            image.save(root / split / "background" / f"{i}.jpg", format="JPEG")
    return root
