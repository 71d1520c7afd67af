"""bgsplit-bench-search (search.benchmark) end to end on the tiny pool: its figures are measurements, so
only their presence and sanity are asserted."""

import json
import subprocess
import sys

import pytest


@pytest.mark.e2e
def test_the_search_benchmark_reports_round_time_and_positives_found_per_strategy(tiny_data_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bgsplit_tf.cli.bench_search", "--pool=tfds:bgsplit_shapes/tiny/train",
         f"--data_dir={tiny_data_dir}", f"--cache_dir={tmp_path / 'cache'}", "--rounds=1", "--seeds=0",
         "--timing_rounds=1", "--examples=1", "--round_epochs=1", f"--output={tmp_path / 'report.json'}"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["pool_images"] == 768 and report["round_seconds"]["median"] > 0
    assert set(report["summary"]) == {"bgsplit", "finetune", "random", "nearest_neighbours"}
    assert (tmp_path / "report.png").stat().st_size > 0
