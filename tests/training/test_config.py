"""TrainConfig: out-of-range and conflicting method flags are rejected with a message naming the flag."""

import re

import pytest
from absl import flags

from bgsplit_tf import config as config_lib
from tests.conftest import REPO


@pytest.mark.parametrize("overrides, message", [
    ({"background_fraction": 1.0}, r"--background_fraction=1.0 is out of range: it must be in \(0, 1\)"),
    ({"background_keep": 0.0}, r"--background_keep=0.0 is out of range: it must be in \(0, 1\]"),
    ({"rare_batch_fraction": 1.0}, r"--rare_batch_fraction=1.0 is out of range: it must be in \[0, 1\)"),
    ({"cb_beta": 1.0}, r"--cb_beta=1.0 is out of range"),
    ({"reweight_from_epoch": 2}, r"set --cb_beta too"),
    ({"cb_beta": 0.99, "reweight_from_epoch": 8, "epochs": 8}, r"must be below --epochs=8"),
])
def test_bad_method_flags_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        config_lib.TrainConfig(**overrides)


def test_command_line_bounds_name_the_flag():
    values = flags.FlagValues()
    config_lib.define_flags(flag_values=values)
    with pytest.raises(flags.IllegalFlagValueError, match="focal_gamma"):
        values(["bgsplit-train", "--focal_gamma=-1"])


def test_method_flags_round_trip_through_flag_lines():
    config = config_lib.TrainConfig(focal_gamma=2.0, cb_beta=0.999, reweight_from_epoch=3, cosine_head=True,
                                    ldam_max_margin=0.5, logit_adjustment="posthoc", la_tau=2.0,
                                    rare_batch_fraction=0.25, background_fraction=0.995, background_keep=0.5)
    values = flags.FlagValues()
    config_lib.define_flags(flag_values=values)
    values(["bgsplit-train", *config.to_flag_lines()])
    assert config_lib.config_from_flags(flag_values=values) == config


def test_deferred_reweighting_epoch_becomes_the_step_the_loss_switches_at():
    from bgsplit_tf.training import build

    config = config_lib.TrainConfig(cb_beta=0.999, reweight_from_epoch=2, epochs=4, focal_gamma=1.0,
                                    logit_adjustment="posthoc", la_tau=1.0)
    loss = build.main_head_loss(config, [100, 5, 3], steps_per_epoch=7)
    assert loss.reweight_from_step == 14
    assert loss.focal_gamma == 1.0
    assert not loss.adjusts_logits  # post-hoc adjustment acts at evaluation, not in the loss


@pytest.mark.parametrize("name", ["inat2017_bg100_finetune", "inat2017_bg100_bgsplit", "inat2017_bg1_finetune",
                                  "inat2017_bg1_bgsplit"])
def test_inaturalist_flagfiles_parse_and_name_the_packaged_splits(name):
    import importlib.resources

    from tests.conftest import REPO

    values = flags.FlagValues()
    config_lib.define_flags(flag_values=values)
    values(["bgsplit-train", f"--flagfile={REPO / 'flags' / (name + '.cfg')}"])
    config = config_lib.config_from_flags(flag_values=values)
    split_file = "inaturalist17_bg_100.txt" if "bg100" in name else "inaturalist17_bg_1_0.txt"
    packaged = importlib.resources.files("bgsplit_tf.data") / "splits" / "inaturalist2017" / split_file
    assert list(config.rare_categories) == packaged.read_text().split()
    assert (config.dataset, config.teacher, config.epochs, config.batch_size) == (
        "i_naturalist2017", "applications:resnet50", 90, 256)
    assert config.aux_weight == (0.0 if "finetune" in name else 0.1)


def test_xla_defaults_to_off_on_a_cpu_and_follows_the_flag():
    import tensorflow as tf

    from bgsplit_tf.training import build

    has_accelerator = bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    assert build.use_xla(config_lib.TrainConfig()) == has_accelerator
    assert build.use_xla(config_lib.TrainConfig(jit_compile=True)) is True
    assert build.use_xla(config_lib.TrainConfig(jit_compile=False)) is False
    assert "--jit_compile" not in "\n".join(config_lib.TrainConfig().to_flag_lines())  # unset stays unset


@pytest.mark.parametrize("flags_given, message", [
    ({"la_tau": 2.0}, "--la_tau=2.0 has no effect without --logit_adjustment"),
    ({"temperature": 4.0}, "--temperature=4.0 has no effect without --aux_targets=soft"),
    ({"logit_scale": 16.0}, "--logit_scale=16.0 has no effect without --cosine_head"),
    ({"lr_decay_epochs": (5, 8)}, "--lr_decay_epochs=5,8 has no effect without --lr_schedule=step"),
    ({"tpu": "grpc://10.0.0.2:8470"}, "--tpu=grpc://10.0.0.2:8470 has no effect without --strategy=tpu"),
    ({"trunk_weights": "none"}, "--trunk_weights=none has no effect without --trunk=applications:"),
    ({"teacher_weights": "none"}, "--teacher_weights=none has no effect without --teacher=applications:"),
    ({"teacher_cache_shard_size": 100}, "--teacher_cache_shard_size=100 has no effect without --teacher_cache_dir"),
])
def test_a_flag_that_cannot_act_is_rejected_naming_what_it_needs(flags_given, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        config_lib.TrainConfig(**flags_given)


def test_the_same_flags_are_accepted_where_they_act():
    config_lib.TrainConfig(la_tau=2.0, logit_adjustment="posthoc", temperature=4.0, aux_targets="soft",
                           logit_scale=16.0, cosine_head=True, lr_decay_epochs=(5, 8), lr_schedule="step",
                           trunk="applications:resnet50", trunk_weights="none",
                           teacher="applications:resnet50", teacher_weights="none",
                           teacher_cache_dir="cache", teacher_cache_shard_size=100)


def test_a_flag_defined_elsewhere_with_another_meaning_is_refused_not_silently_kept():
    values = flags.FlagValues()
    flags.DEFINE_integer("epochs", 30, "Teacher epochs.", flag_values=values)
    with pytest.raises(ValueError, match="--epochs is already defined with another meaning"):
        config_lib.define_flags(flag_values=values)
    same = flags.FlagValues()
    config_lib.define_flags(flag_values=same)
    config_lib.define_flags(flag_values=same)  # idempotent for its own flags


def test_config_is_in_sections_and_imports_no_tensorflow():
    assert config_lib.TrainConfig.section_of("dataset") == "data"
    assert config_lib.TrainConfig.section_of("teacher_top_k") == "teacher"
    assert config_lib.TrainConfig.section_of("aux_weight") == "method"
    assert config_lib.TrainConfig.section_of("learning_rate") == "optimisation"
    assert config_lib.TrainConfig.section_of("output_dir") == "run"
    import ast

    tree = ast.parse((REPO / "bgsplit_tf" / "config.py").read_text())
    top_level = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top_level |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert not any(name.startswith(("tensorflow", "keras", "bgsplit_tf")) for name in top_level), top_level


def test_importing_a_program_defines_no_flags():
    """Programs define their flags when they run, so one program's flags never clash with another's."""
    import importlib

    before = set(flags.FLAGS)
    for name in ("pretrain", "export", "predict", "bench_decode", "experiment", "regime_map", "bench", "train", "search",
                 "bench_search", "round_flags"):
        importlib.import_module(f"bgsplit_tf.cli.{name}")
    assert set(flags.FLAGS) == before
