"""bgsplit-bench and bgsplit-bench-decode (bgsplit_tf.speed) end to end at a tiny setting (bgsplit-bench is
slow: it compiles seven models); their figures are measurements, so only their presence and sanity are
asserted."""

import json
import subprocess
import sys

import pytest
import tensorflow as tf

from tests.conftest import REPO


@pytest.mark.e2e
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


def test_the_photo_pipeline_case_streams_224_px_crops_from_photo_sized_jpegs(tmp_path):
    from bgsplit_tf.speed import photo_pipeline

    photo_pipeline.write_photo_folder(tmp_path, 12)
    first = next(tmp_path.rglob("*.jpg"))
    assert tf.io.decode_jpeg(first.read_bytes()).shape == (*photo_pipeline.PHOTO_SIZE, 3)
    rates = photo_pipeline.photo_pipeline_rates(tmp_path, batch_size=4, steps=2)
    assert set(rates) == {"g_inception_train", "g_stretch_train", "g_center_crop_eval"}
    for case in rates.values():
        assert case["images_per_second"] > 0
        assert case["cores_to_feed"]["A100_tf32"] > case["cores_to_feed"]["V100_fp32"] > 0


def test_only_the_ratios_of_cases_that_ran_are_reported():
    from bgsplit_tf.speed import training_speed

    rates = {"a_custom_step_xla": 600.0, "b_custom_step_no_xla": 1000.0, "d_full_pipeline_cache_yes": 800.0}
    assert training_speed._ratios(rates, "b_custom_step_no_xla") == pytest.approx(
        {"a_over_b_xla_speedup": 0.6, "d_input_bound_fraction_cache_yes": 0.2})


@pytest.mark.e2e
def test_the_decode_benchmark_reports_both_ways_and_their_ratio():
    result = subprocess.run([sys.executable, "-m", "bgsplit_tf.cli.bench_decode", "--images=8", "--height=40",
                             "--width=50", "--rounds=1", "--passes=1"],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert set(report["fastest_images_per_second"]) == {"bare", "ours"}
    assert all(rate > 0 for rate in report["fastest_images_per_second"].values())
    assert report["ours_over_bare"] > 0


def test_with_a_frozen_part_every_case_trains_the_top_stages_on_maps():
    from bgsplit_tf import config as config_lib
    from bgsplit_tf.speed import training_speed

    config = config_lib.TrainConfig(batch_size=8, frozen_through="stage3_block1_out")
    report = training_speed.run_benchmark(config, steps=1, warmup=1, repeats=1, num_images=64, letters="bch")
    assert set(report["cases"]) == {"b_custom_step_no_xla", "c_peer_compile_fit_xla", "c_peer_compile_fit_default",
                                    "h_custom_step_bfloat16"}
    assert report["config"]["input_shape"] != [32, 32, 3] and report["config"]["image_size"] == [32, 32]
    flops = report["flops"]
    assert 0 < flops["fraction_of_measured_peak"] and 0 < flops["bfloat16_fraction_of_measured_peak"]
    with pytest.raises(ValueError, match="cases d, g need pixels"):
        training_speed.run_benchmark(config, steps=1, warmup=1, repeats=1, num_images=64, letters="bdg")
