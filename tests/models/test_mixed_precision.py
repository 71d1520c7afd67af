"""--mixed_precision: the trunk computes in 16 bits; variables, logits and losses stay float32."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bgsplit_tf import config as config_lib
from bgsplit_tf.training import build
from bgsplit_tf.models import network
from tests import helpers


def test_a_mixed_trunk_computes_in_16_bits_and_the_heads_in_float32():
    student = network.network_from_teacher(helpers.tiny_teacher(), 2, trunk_dtype="mixed_bfloat16")
    trunk = student.get_layer("trunk")
    assert {layer.compute_dtype for layer in trunk.layers if layer.weights} == {"bfloat16"}
    assert {v.dtype for v in student.weights} == {"float32"}
    outputs = student(helpers.tiny_batch()[0])
    assert outputs["main"].dtype == tf.float32 and outputs["aux"].dtype == tf.float32


def _losses(mixed_precision: str, steps: int = 6) -> np.ndarray:
    """Total loss of each of `steps` training steps on fixed batches, from the same initial weights."""
    config = config_lib.TrainConfig(mixed_precision=mixed_precision, jit_compile=False, warmup_epochs=0,
                                    learning_rate=0.05, epochs=1)
    model = build.build_model(config, helpers.tiny_teacher(), [40, 5, 5], steps_per_epoch=steps)
    images, targets = helpers.tiny_batch(batch_size=16)
    history = []
    for _ in range(steps):
        history.append(float(model.train_on_batch(images, targets, return_dict=True)["loss"]))
    return np.array(history), model


def test_bfloat16_losses_stay_finite_and_close_to_float32():
    reference, _ = _losses("off")
    mixed, _ = _losses("bfloat16")
    assert np.all(np.isfinite(mixed))
    # bfloat16 keeps 8 significant bits: the running mean losses agree to a few percent.
    np.testing.assert_allclose(mixed, reference, rtol=0.05)
    assert mixed[-1] < mixed[0]


def test_float16_scales_the_loss_and_trains():
    losses, model = _losses("float16")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_unknown_precision_is_rejected_by_the_flag():
    from absl import flags

    values = flags.FlagValues()
    config_lib.define_flags(flag_values=values)
    with pytest.raises(flags.IllegalFlagValueError, match="mixed_precision"):
        values(["prog", "--mixed_precision=float8"])
