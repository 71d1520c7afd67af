"""The learning-rate schedule at chosen steps, against values worked out by hand: linear warm-up from a
non-zero first step, cosine decay to 0 at the last step, step decay at its boundaries; the rate an SGD
step really applies; a Keras round trip; and the epochs a config names turned into steps."""

import json

import keras
import numpy as np
import pytest

from bgsplit_tf import config as config_lib
from bgsplit_tf.training import build, schedules
from tests import helpers

PEAK = 0.1


def _rate(schedule, step) -> float:
    return float(keras.ops.convert_to_numpy(schedule(step)))


def _rates(schedule, steps) -> list[float]:
    return [_rate(schedule, step) for step in steps]


def _cosine(**overrides):
    return schedules.WarmupDecay(**{"peak": PEAK, "total_steps": 100, "warmup_steps": 10, **overrides})


def _step_decay(**overrides):
    return schedules.WarmupDecay(**{"peak": PEAK, "total_steps": 100, "warmup_steps": 5, "kind": "step",
                                    "decay_boundaries": (20, 40), **overrides})


def test_warm_up_climbs_linearly_and_reaches_the_peak_on_its_last_step():
    # Step s of 10 warm-up steps: PEAK * (s + 1) / 10, so the first step already learns.
    assert _rates(_cosine(), [0, 1, 4, 9]) == pytest.approx([0.01, 0.02, 0.05, 0.1], rel=1e-6)


def test_cosine_decays_from_the_peak_to_zero_at_the_last_step_and_stays_there():
    # 90 steps of decay after the warm-up: PEAK * (1 + cos(pi * p)) / 2 at progress p = (step - 10) / 90.
    steps = [10, 40, 55, 70, 100, 150]  # p = 0, 1/3, 1/2, 2/3, 1, past the end
    assert _rates(_cosine(), steps) == pytest.approx([0.1, 0.075, 0.05, 0.025, 0.0, 0.0], rel=1e-6, abs=1e-8)


def test_without_warm_up_the_first_step_is_at_the_peak():
    assert _rates(_cosine(warmup_steps=0), [0, 50, 100]) == pytest.approx([0.1, 0.05, 0.0], rel=1e-6, abs=1e-8)


def test_step_decay_multiplies_by_the_factor_at_each_boundary_after_its_own_warm_up():
    steps = [0, 2, 4, 5, 19, 20, 39, 40, 99]
    expected = [0.02, 0.06, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert _rates(_step_decay(), steps) == pytest.approx(expected, rel=1e-5)
    assert _rates(_step_decay(decay_factor=0.5), [19, 20, 40]) == pytest.approx([0.1, 0.05, 0.025], rel=1e-6)


def test_an_sgd_step_moves_a_weight_by_the_rate_of_its_own_step():
    """SGD without momentum and a gradient of 1 lowers the weight by exactly the rate of the step it is
    at: the warm-up's 10 rates, then the first two of the cosine decay over 10 steps."""
    optimizer = keras.optimizers.SGD(_cosine(total_steps=20))
    weight = keras.Variable(0.0)
    moves = []
    for _ in range(12):
        before = float(weight.numpy())
        optimizer.apply_gradients([(keras.ops.ones(()), weight)])
        moves.append(before - float(weight.numpy()))
    expected = [0.01 * (k + 1) for k in range(10)] + [0.1, 0.05 * (1 + np.cos(np.pi / 10))]
    np.testing.assert_allclose(moves, expected, rtol=1e-5)


def test_a_saved_schedule_loads_with_the_same_rates():
    """What model.save writes of the optimizer (the serialised schedule, through JSON) loads back to a
    schedule with every argument kept."""
    schedule = _step_decay(decay_factor=0.5)
    saved = json.loads(json.dumps(keras.saving.serialize_keras_object(schedule)))
    loaded = keras.saving.deserialize_keras_object(saved)
    assert isinstance(loaded, schedules.WarmupDecay)
    steps = [0, 4, 19, 20, 40, 99]
    assert _rates(loaded, steps) == _rates(schedule, steps)


def test_an_unknown_kind_is_refused_naming_the_kinds():
    with pytest.raises(ValueError, match=r"'linear' is not one of \('cosine', 'step'\)"):
        _cosine(kind="linear")


def test_a_runs_optimizer_follows_the_epochs_its_config_names_in_steps():
    """--warmup_epochs and --lr_decay_epochs count epochs; the compiled model's optimizer counts steps:
    with 5 steps per epoch, 1 warm-up epoch is 5 steps and decay epochs 2 and 3 are steps 10 and 15."""
    config = config_lib.TrainConfig(learning_rate=PEAK, epochs=4, warmup_epochs=1, lr_schedule="step",
                                    lr_decay_epochs=(2, 3), jit_compile=False)
    optimizer = build.build_model(config, helpers.tiny_teacher(), [40, 5, 5], steps_per_epoch=5).optimizer
    rates = []
    for step in (0, 4, 9, 10, 14, 15, 19):
        optimizer.iterations.assign(step)
        rates.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
    assert rates == pytest.approx([0.02, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rel=1e-5)
