"""TrainConfig: out-of-range and conflicting method flags are rejected with a message naming the flag."""

import pytest
from absl import flags

from bgsplit_tf import config as config_lib


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
    from bgsplit_tf import train

    config = config_lib.TrainConfig(cb_beta=0.999, reweight_from_epoch=2, epochs=4, focal_gamma=1.0,
                                    logit_adjustment="posthoc", la_tau=1.0)
    loss = train.main_head_loss(config, [100, 5, 3], steps_per_epoch=7)
    assert loss.reweight_from_step == 14
    assert loss.focal_gamma == 1.0
    assert not loss.adjusts_logits  # post-hoc adjustment acts at evaluation, not in the loss
