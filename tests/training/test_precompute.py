"""bgsplit-precompute: the teacher-target cache it fills is the one a training run then reads."""

from bgsplit_tf import config as config_lib
from bgsplit_tf.data import fingerprints, teacher_cache
from bgsplit_tf.training import precompute, prepare
from bgsplit_tf.training import run_inputs
from bgsplit_tf.training import targets_memo


def test_precompute_fills_the_cache_that_training_reads(tiny_data_dir, tmp_path):
    config = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, num_rare=2,
                                    positives_per_class=2, teacher_cache_dir=str(tmp_path / "cache"),
                                    teacher_cache_shard_size=100, output_dir=str(tmp_path / "run"))
    report = precompute.precompute_splits(config)
    assert set(report) == {"train", "validation"}
    source = run_inputs.source_of(config, (32, 32))
    for split, written in report.items():
        assert written["images"] == len(source.read_labels(split)[1]) and written["bytes"] > 0
        fingerprint = fingerprints.read(teacher_cache.split_directory(config.teacher_cache_dir, split) /
                                        fingerprints.FINGERPRINT_FILE)
        assert fingerprint["preprocessing"] == teacher_cache.preprocessing("stretch")  # the 32 px recipe
    run = prepare.prepare_run(config, targets_memo.TargetsMemo())  # reads the cache: a mismatch would raise
    assert run.input_recipe.recipe == "pad_crop"
