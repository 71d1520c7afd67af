"""The teacher-target pass on Beam's DirectRunner (two worker processes) writes the cache the single-process
pass writes, and training reads it."""

import json

import numpy as np
import pytest

from bgsplit_tf import config as config_lib
from bgsplit_tf.beam import options, reading, teacher_targets as beam_targets
from bgsplit_tf.data import bad_images, fingerprints, teacher_cache
from bgsplit_tf.training import precompute, prepare
from bgsplit_tf.training import run_inputs
from bgsplit_tf.training import targets_memo
from tests.data.test_bad_images import BAD_FILES, messy_root  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e  # Beam's workers are subprocesses
TWO_WORKERS = options.RunnerChoice("DirectRunner", ("--direct_num_workers=2",))


def _config(root, cache_dir, **overrides):
    return config_lib.TrainConfig(dataset=f"folder:{root}", rare_categories=("fox", "owl"), positives_per_class=0,
                                  teacher_cache_dir=str(cache_dir), teacher_cache_shard_size=16, epochs=1,
                                  batch_size=8, warmup_epochs=0, output_dir=str(cache_dir.parent / "run"),
                                  **overrides)


def test_the_beam_pass_writes_the_single_process_cache_and_training_reads_it(messy_root, tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "CHUNK_IMAGES", 20)  # several chunks per split, so several workers' bundles
    single, beam = _config(messy_root, tmp_path / "single"), _config(messy_root, tmp_path / "beam")
    single_report = precompute.precompute_splits(single)
    beam_report = beam_targets.precompute_splits(beam, TWO_WORKERS)
    listed = run_inputs.source_of(single, (32, 32))
    for split in ("train", "validation"):
        good = len(listed.read_labels(split)[1]) - len(BAD_FILES)
        assert beam_report[split]["images"] == single_report[split]["images"] == good
        ours, theirs = (teacher_cache.split_directory(c.teacher_cache_dir, split) for c in (beam, single))
        assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
        assert len(list(ours.glob("targets-*.tfrecord"))) == -(-good // 16)
        assert (ours / fingerprints.FINGERPRINT_FILE).read_text() == (theirs / fingerprints.FINGERPRINT_FILE).read_text()
        scan = json.loads((ours / bad_images.SCAN_FILE).read_text())
        assert scan == json.loads((theirs / bad_images.SCAN_FILE).read_text())
        assert sorted(image_id.rsplit("/", 1)[1] for image_id, _ in scan["bad_images"]) == sorted(BAD_FILES)
        expected = json.loads((theirs / fingerprints.FINGERPRINT_FILE).read_text())
        a, b = teacher_cache.load(ours, expected), teacher_cache.load(theirs, expected)
        assert list(a.ids) == list(b.ids)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
    run = prepare.prepare_run(beam, targets_memo.TargetsMemo())  # a fingerprint that did not match would raise
    assert len(run.bad_images) == 3 * len(BAD_FILES)
    # Run again: the cache is complete, so nothing is computed and no pipeline starts.
    monkeypatch.setattr(beam_targets.beam, "Pipeline", None)
    assert beam_targets.precompute_splits(beam, TWO_WORKERS) == beam_report


def test_a_cache_of_other_settings_is_refused_saying_how_to_rebuild(messy_root, tmp_path):
    config = _config(messy_root, tmp_path / "cache")
    precompute.precompute_splits(config)
    with pytest.raises(fingerprints.FingerprintMismatch, match=r"(?s)top_k: stored 20, this run 5.*rm -r"):
        beam_targets.precompute_splits(_config(messy_root, tmp_path / "cache", teacher_top_k=5), TWO_WORKERS)
