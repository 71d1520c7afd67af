"""The benchmarks' parts at tiny settings: the photo pipeline's case, the ratios of the cases that ran, the
cases with a frozen part (the programs themselves run in tests/e2e/test_bench_programs.py). Their figures
are measurements, so only their presence and sanity are asserted."""

import pytest
import tensorflow as tf


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


def _frozen_part_config():
    """The embedded teacher frozen through its third stage: the cases time the stages above it."""
    from bgsplit_tf import config as config_lib

    return config_lib.TrainConfig(batch_size=8, frozen_through="stage3_block1_out")


@pytest.mark.e2e  # the benchmark's whole measurement, in process: it compiles four models
def test_with_a_frozen_part_every_case_trains_the_top_stages_on_maps():
    from bgsplit_tf.speed import training_speed

    report = training_speed.run_benchmark(_frozen_part_config(), steps=1, warmup=1, repeats=1, num_images=64,
                                          letters="bch")
    assert set(report["cases"]) == {"b_custom_step_no_xla", "c_peer_compile_fit_xla", "c_peer_compile_fit_default",
                                    "h_custom_step_bfloat16"}
    assert report["config"]["input_shape"] != [32, 32, 3] and report["config"]["image_size"] == [32, 32]
    flops = report["flops"]
    assert 0 < flops["fraction_of_measured_peak"] and 0 < flops["bfloat16_fraction_of_measured_peak"]


def test_with_a_frozen_part_the_cases_that_need_pixels_are_refused():
    from bgsplit_tf.speed import training_speed

    with pytest.raises(ValueError, match="cases d, g need pixels"):
        training_speed.run_benchmark(_frozen_part_config(), steps=1, warmup=1, repeats=1, num_images=64,
                                     letters="bdg")
