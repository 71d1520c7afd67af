"""Mining on Beam's DirectRunner (two worker processes) writes what mining in one process writes."""

import csv
import json

import pytest

from bgsplit_tf.beam import mining as beam_mining, reading
from bgsplit_tf.serving import mining
from tests.beam.test_teacher_targets import TWO_WORKERS
from tests.serving.test_mining import pool, red_blue_export  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e  # Beam's workers are subprocesses


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_the_beam_pipeline_ranks_exactly_as_one_process_and_lists_the_same_skipped_files(red_blue_export, pool,
                                                                                          tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "CHUNK_IMAGES", 7)  # several chunks, so several workers' bundles
    single = mining.mine(red_blue_export.parent, str(pool), tmp_path / "single", batch_size=8, top_n=4)
    beam = beam_mining.mine(red_blue_export.parent, str(pool), tmp_path / "beam", TWO_WORKERS, batch_size=8, top_n=4)
    assert (beam["scored"], beam["skipped"], beam["runner"]) == (single["scored"], single["skipped"], "DirectRunner")
    assert (tmp_path / "beam" / "skipped.txt").read_text() == (tmp_path / "single" / "skipped.txt").read_text()
    ours, theirs = _rows(tmp_path / "beam" / "ranked.csv"), _rows(tmp_path / "single" / "ranked.csv")
    assert len(ours) == len(theirs) == 2 * 30
    for a, b in zip(ours, theirs):
        assert {k: v for k, v in a.items() if k != "score"} == {k: v for k, v in b.items() if k != "score"}
        assert float(a["score"]) == pytest.approx(float(b["score"]), abs=1e-6)
    # The same top images per class, in the same order: the same picture.
    assert (tmp_path / "beam" / "contact_sheet.png").read_bytes() == (tmp_path / "single" / "contact_sheet.png").read_bytes()
    assert json.loads((tmp_path / "beam" / "summary.json").read_text())["scored"] == 30
