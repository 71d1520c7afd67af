"""Decoding before the first training step: each image once (the bad-image scan and the teacher-target
pass are one pass), the gallery from encoded examples, and nothing on a re-run with a teacher cache.
Decode calls are counted per image id by a source whose decode reports each call."""

import collections
import dataclasses
import shutil

import pytest
import tensorflow as tf

from bgsplit_tf import config as config_lib
from bgsplit_tf.data import bad_images
from bgsplit_tf.data.sources import folders
from bgsplit_tf.training import prepare, run_inputs, targets_memo

DECODED = collections.Counter()  # image id -> decode calls


@dataclasses.dataclass(frozen=True)
class CountingFolderSource(folders.FolderSource):
    """A FolderSource whose decode counts its calls per image id in DECODED."""

    def decode(self, example: dict) -> dict:
        decoded = super().decode(example)
        counted = tf.py_function(lambda image_id: DECODED.update([image_id.numpy().decode()]) or 0,
                                 [example["id"]], tf.int32)
        with tf.control_dependencies([counted]):
            return {**decoded, "image": tf.identity(decoded["image"])}


@pytest.fixture
def counting(monkeypatch, image_root, tmp_path):
    """The image folder with one corrupt training image, opened through CountingFolderSource."""
    root = tmp_path / "photos"
    shutil.copytree(image_root, root)
    (root / "train" / "background" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    monkeypatch.setattr(run_inputs, "source_of", lambda config, image_size, resize_mode: CountingFolderSource(
        str(root), tuple(image_size), config.background_folder, resize_mode=resize_mode))
    DECODED.clear()
    bad_images._find_bad_images.cache_clear()
    return root


def _config(root, tmp_path, **overrides):
    return config_lib.TrainConfig(dataset=f"folder:{root}", num_rare=2, positives_per_class=2, input_recipe="inception",
                                  batch_size=8, output_dir=str(tmp_path / "run"), **overrides)


def _up_to_the_first_step(config) -> prepare.PreparedRun:
    run = prepare.prepare_run(config, targets_memo.TargetsMemo())
    prepare.task_gallery(run.task, run.source, config)
    next(iter(run.train_batches))
    return run


def _images_of(root, split):
    return {str(p.relative_to(root)) for p in (root / split).rglob("*.*")}


def test_every_image_is_decoded_once_before_the_first_step_and_the_gallery_only_what_it_shows(counting, tmp_path):
    run = _up_to_the_first_step(_config(counting, tmp_path))
    assert [b.id for b in run.bad_images] == ["train/background/corrupt.jpg"]
    every_image = set().union(*(_images_of(counting, split) for split in ("train", "validation", "test")))
    assert set(DECODED) == every_image - {"train/background/corrupt.jpg"}  # the scan fed the teacher: no split
    # was decoded twice...
    twice = {image for image, calls in DECODED.items() if calls > 1}
    assert max(DECODED.values()) == 2 and len(twice) <= 2 * 2 + 10  # ...but the gallery's positives and background
    assert run.input_recipe.augmentation == "random_resized_crop"  # training crops are decoded by decode_random_crop


def test_a_rerun_with_a_teacher_cache_decodes_nothing_but_the_gallery(counting, tmp_path):
    config = _config(counting, tmp_path, teacher_cache_dir=str(tmp_path / "cache"))
    first = _up_to_the_first_step(config)
    assert max(DECODED.values()) == 2  # the first run: one pass (scan + targets, then written to the cache)
    DECODED.clear()
    bad_images._find_bad_images.cache_clear()  # as a new process
    again = _up_to_the_first_step(config)
    assert sum(DECODED.values()) <= 2 * 2 + 10  # the gallery's images only
    assert again.bad_images == first.bad_images
    for split in ("train", "validation"):
        assert (tmp_path / "cache" / split / bad_images.SCAN_FILE).exists()
