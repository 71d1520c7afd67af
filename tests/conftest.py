"""Shared fixtures: the embedded benchmark's tiny config, rendered once per test session."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib

import pytest
import tensorflow_datasets as tfds

import bgsplit_tf  # noqa: F401  (registers the builder)

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> str:
    """A TFDS data_dir holding bgsplit_shapes/tiny (a few hundred images per split)."""
    data_dir = tmp_path_factory.mktemp("tfds")
    tfds.builder("bgsplit_shapes/tiny", data_dir=str(data_dir)).download_and_prepare()
    return str(data_dir)


@pytest.fixture(scope="session")
def tiny_source(tiny_data_dir):
    return bgsplit_tf.Source(name="bgsplit_shapes/tiny", data_dir=tiny_data_dir)
