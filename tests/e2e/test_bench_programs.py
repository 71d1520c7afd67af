"""The benchmark programs end to end at tiny settings: bgsplit-bench (slow: it compiles seven models),
bgsplit-bench-decode and bgsplit-bench-search. Their figures are measurements, so only their presence and
sanity are asserted."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


@pytest.mark.slow
def test_bench_writes_every_case_and_ratio(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "-m", "bgsplit_tf.cli.bench", "--steps=2", "--repeats=1",
                             "--batch_size=16", "--jpeg_images=128", f"--output={out}"],
                            capture_output=True, text=True, timeout=900, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["cases"]) == {
        "a_custom_step_xla", "b_custom_step_no_xla", "c_peer_compile_fit_xla", "c_peer_compile_fit_default",
        "d_full_pipeline_cache_yes", "d_full_pipeline_cache_no", "d_pipeline_alone_cache_yes",
        "d_pipeline_alone_cache_no", "e_teacher_in_step", "h_custom_step_bfloat16", "g_inception_train", "g_stretch_train",
        "g_center_crop_eval"}
    assert all(case["images_per_second"] > 0 for case in report["cases"].values())
    assert 0 <= report["ratios"]["d_input_bound_fraction_cache_yes"] <= 1
    assert report["flops"]["train_per_image"] == 3 * report["flops"]["forward_per_image"] > 0


def test_the_decode_benchmark_reports_both_ways_and_their_ratio():
    result = subprocess.run([sys.executable, "-m", "bgsplit_tf.cli.bench_decode", "--images=8", "--height=40",
                             "--width=50", "--rounds=1", "--passes=1"],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert set(report["fastest_images_per_second"]) == {"bare", "ours"}
    assert all(rate > 0 for rate in report["fastest_images_per_second"].values())
    assert report["ours_over_bare"] > 0


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
