"""Teacher targets: top-k soft targets, the sharded TFRecord cache (fingerprint, resume), and teachers
from SavedModel directories."""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from bgsplit_tf import config as config_lib
from bgsplit_tf.serving import export
from bgsplit_tf.training import run as run_lib
from bgsplit_tf.data.sources import folders as folder_source
from bgsplit_tf.data import fingerprints, image_files, teacher_cache, teacher_targets
from bgsplit_tf.models import pretrained
from bgsplit_tf.models.pretrained import saved_model
from tests import helpers


def test_top_k_soft_targets_renormalise_and_the_full_distribution_stays_exact():
    probs = np.array([[0.05, 0.5, 0.15, 0.3], [0.25, 0.25, 0.4, 0.1]], np.float32)
    ids = np.array([b"a", b"b"], dtype=object)
    top2 = teacher_targets.TeacherTargets.from_probabilities(ids, probs, top_k=2)
    np.testing.assert_array_equal(top2.indices, [[1, 3], [2, 0]])  # ties: the lower class first
    np.testing.assert_array_equal(top2.labels, [1, 2])
    np.testing.assert_allclose(top2.dense_probs(), [[0, 0.5 / 0.8, 0, 0.3 / 0.8], [0.25 / 0.65, 0, 0.4 / 0.65, 0]],
                               rtol=1e-6)
    np.testing.assert_allclose(top2.dense_probs().sum(axis=1), 1.0, rtol=1e-6)
    full = teacher_targets.TeacherTargets.from_probabilities(ids, probs, top_k=10)
    assert full.top_k == 4
    np.testing.assert_array_equal(full.dense_probs(), probs)


def test_teacher_outputs_must_match_their_declared_kind():
    logits = np.array([[2.0, -1.0, 0.5]], np.float32)
    np.testing.assert_allclose(teacher_targets.teacher_probabilities(logits, "logits"), tf.nn.softmax(logits), rtol=1e-6)
    with pytest.raises(ValueError, match="--teacher_output=logits"):
        teacher_targets.teacher_probabilities(logits, "probabilities")
    with pytest.raises(ValueError, match="--teacher_output=probabilities"):
        teacher_targets.teacher_probabilities(np.array([[0.2, 0.8]], np.float32), "logits")


def _examples(n=23):
    rng = np.random.default_rng(0)
    return {
        "image": rng.integers(0, 256, (n, helpers.IMAGE_SIZE, helpers.IMAGE_SIZE, 3)).astype("uint8"),
        "id": np.array([f"img{i:03d}".encode() for i in range(n)], dtype=object),
    }


def _from(data, fail_from: int | None = None):
    """examples_from(skip) over in-memory data; fail_from makes the pipeline die at that position."""
    def examples_from(skip):
        positions = tf.range(skip, len(data["id"]), dtype=tf.int64)
        ds = tf.data.Dataset.from_tensor_slices(
            {"image": data["image"][skip:], "id": data["id"][skip:].astype(bytes), "position": positions})
        if fail_from is not None:
            def crash_at_fail_from(ex):
                check = tf.debugging.assert_less(ex["position"], tf.constant(fail_from, tf.int64),
                                                 message="simulated crash")
                with tf.control_dependencies([check]):
                    return {**ex, "image": tf.identity(ex["image"])}
            ds = ds.map(crash_at_fail_from)
        return ds
    return examples_from


def _fingerprint(data, teacher, top_k=2):
    return teacher_cache.fingerprint(dataset="unit", dataset_version="1", split="train", ids=data["id"], teacher="tiny",
                                     teacher_model=teacher, teacher_output="logits", image_size=(16, 16), top_k=top_k)


def test_cache_holds_what_the_in_memory_path_computes(tmp_path):
    teacher, data = helpers.tiny_teacher(), _examples()
    expected = _fingerprint(data, teacher)
    wrote = teacher_cache.precompute(tmp_path / "train", expected, teacher, _from(data), shard_size=5, batch_size=4)
    assert wrote == 5 and len(list((tmp_path / "train").glob("targets-*-of-00005.tfrecord"))) == 5
    cached = teacher_cache.load(tmp_path / "train", expected)
    in_memory = teacher_targets.compute_teacher_targets(teacher, _from(data)(0), batch_size=7, top_k=2)
    np.testing.assert_array_equal(cached.ids, in_memory.ids)
    np.testing.assert_array_equal(cached.labels, in_memory.labels)
    np.testing.assert_array_equal(cached.indices, in_memory.indices)
    np.testing.assert_allclose(cached.probs, in_memory.probs, rtol=1e-6)
    assert teacher_cache.precompute(tmp_path / "train", expected, teacher, _from(data), shard_size=5) == 0


def test_a_resumed_precompute_writes_the_same_cache_as_an_uninterrupted_one(tmp_path):
    teacher, data = helpers.tiny_teacher(), _examples()
    expected = _fingerprint(data, teacher)
    teacher_cache.precompute(tmp_path / "whole", expected, teacher, _from(data), shard_size=5, batch_size=4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="simulated crash"):  # dies inside the 3rd shard
        teacher_cache.precompute(tmp_path / "resumed", expected, teacher, _from(data, fail_from=12), shard_size=5,
                                 batch_size=4)
    assert sorted(p.name for p in (tmp_path / "resumed").glob("*.tfrecord")) == [
        "targets-00000-of-00005.tfrecord", "targets-00001-of-00005.tfrecord"]
    with pytest.raises(teacher_cache.CacheMismatchError, match="incomplete"):
        teacher_cache.load(tmp_path / "resumed", expected)
    assert teacher_cache.precompute(tmp_path / "resumed", expected, teacher, _from(data), shard_size=5,
                                    batch_size=4) == 3
    for whole in sorted((tmp_path / "whole").glob("*.tfrecord")):
        assert (tmp_path / "resumed" / whole.name).read_bytes() == whole.read_bytes()
    assert not list((tmp_path / "resumed").glob("*.partial"))


def test_a_fingerprint_mismatch_names_the_fields_and_how_to_rebuild(tmp_path):
    teacher, data = helpers.tiny_teacher(), _examples()
    teacher_cache.precompute(tmp_path / "train", _fingerprint(data, teacher), teacher, _from(data), shard_size=50)
    other_teacher = helpers.tiny_teacher(seed=1)
    with pytest.raises(fingerprints.FingerprintMismatch, match=r"teacher_weights_sha256(.|\n)*top_k(.|\n)*rm -r"):
        teacher_cache.load(tmp_path / "train", _fingerprint(data, other_teacher, top_k=3))
    with pytest.raises(teacher_cache.CacheMismatchError, match="--teacher_cache_shard_size"):
        teacher_cache.precompute(tmp_path / "train", _fingerprint(data, teacher), teacher, _from(data), shard_size=5)
    fewer = {key: value[:20] for key, value in data.items()}
    with pytest.raises(fingerprints.FingerprintMismatch, match="num_examples: stored 23, this run 20"):
        teacher_cache.load(tmp_path / "train", _fingerprint(fewer, teacher))


@pytest.mark.e2e  # full training runs
def test_training_writes_then_reuses_the_cache(image_root, tmp_path):
    cache = tmp_path / "cache"
    config = config_lib.TrainConfig(dataset=f"folder:{image_root}", num_rare=2, positives_per_class=2, epochs=1,
                                    batch_size=8, warmup_epochs=0, output_dir=str(tmp_path / "run"),
                                    teacher_cache_dir=str(cache), teacher_cache_shard_size=40, teacher_top_k=4)
    first = run_lib.run_training(config, verbose=0)
    fingerprint = json.loads((cache / "train" / "fingerprint.json").read_text())
    assert fingerprint["num_examples"] == 66 and fingerprint["top_k"] == 4 and fingerprint["num_classes"] == 384
    assert len(list((cache / "train").glob("*.tfrecord"))) == 2 and (cache / "validation" / "fingerprint.json").exists()
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.tfrecord")}
    second = run_lib.run_training(dataclasses.replace(config, overwrite=True), verbose=0)  # a fresh memo: from disk
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.tfrecord")} == before
    assert second.test.mAP == pytest.approx(first.test.mAP, abs=1e-6)


@pytest.fixture(scope="module")
def exported_network(tmp_path_factory):
    """(a tiny network, its SavedModel): a bgsplit export, uint8 images in and a dict of outputs."""
    network = helpers.tiny_network(num_rare=2)
    return network, export.export_saved_model(network, ("background", "a", "b"), tmp_path_factory.mktemp("export"),
                                              operating_points={})


def test_a_saved_model_teacher_is_its_named_output_frozen(exported_network):
    """A SavedModel teacher needs the key of its output named; it then computes that output, frozen, and
    the label-space size is read from the SavedModel."""
    network, exported = exported_network
    with pytest.raises(ValueError, match="--teacher_output_key"):
        saved_model.classifier(exported, 16, endpoint="predict_images")
    teacher = pretrained.load(str(exported), image_size=16, endpoint="predict_images",
                                         output_key="probabilities")
    assert teacher.input_shape == (None, 16, 16, 3) and teacher.output_shape == (None, 3)
    images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(teacher(images), tf.nn.softmax(network(images)["main"]), atol=1e-5)
    assert not teacher.trainable_weights


@pytest.mark.e2e  # full training runs
def test_a_saved_model_teacher_teaches_a_student_whose_trunk_comes_from_trunk(exported_network, image_root,
                                                                               tmp_path):
    """A SavedModel has no trunk to copy: training refuses it without --trunk, and with --trunk trains a
    student whose aux head has the SavedModel's classes."""
    _, exported = exported_network
    helpers.tiny_teacher().save(tmp_path / "trunk.keras")
    folder = folder_source.FolderSource(str(image_root), (16, 16))
    config = config_lib.TrainConfig(dataset=folder.name, teacher=str(exported), teacher_endpoint="predict_images",
                                    teacher_output_key="probabilities", teacher_output="probabilities",
                                    image_size=16, num_rare=2, positives_per_class=2, epochs=1, batch_size=8,
                                    warmup_epochs=0, output_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="--trunk="):
        run_lib.run_training(config, verbose=0)
    results = run_lib.run_training(dataclasses.replace(config, trunk=str(tmp_path / "trunk.keras")),
                                 verbose=0)
    assert np.isfinite(results.history["aux_loss"][0]) and 0.0 <= results.test.mAP <= 1.0
    student = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert student.output["aux"].shape[-1] == 3


def test_a_worker_whose_peers_never_finish_their_shards_stops_with_a_clear_error(tmp_path):
    teacher, data = helpers.tiny_teacher(), _examples(10)
    with pytest.raises(teacher_cache.IncompleteCacheError, match="has one failed"):
        teacher_cache.cached_targets(tmp_path, "train", _fingerprint(data, teacher), teacher, _from(data),
                                     shard_size=5, worker=(0, 2), poll_seconds=0.05, stall_seconds=0.3)
    assert (tmp_path / "train" / "targets-00000-of-00002.tfrecord").exists()  # its own share is kept


def test_the_fingerprint_describes_the_resize_that_runs():
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (40, 30, 3)), tf.uint8)
    expected = tf.image.resize(tf.cast(image, tf.float32), (16, 16), method="bilinear", antialias=False)
    np.testing.assert_array_equal(image_files.resize_uint8(image, (16, 16)),
                                  tf.cast(tf.clip_by_value(tf.round(expected), 0, 255), tf.uint8))
    stretch, crop = (teacher_cache.preprocessing(resize_mode) for resize_mode in image_files.RESIZE_MODES)
    assert "antialias=False" in stretch and "bilinear" in stretch and "crop" not in stretch
    assert "1.1429x" in crop and "centre" in crop
