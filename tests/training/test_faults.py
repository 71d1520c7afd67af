"""A non-finite loss stops training with a message naming the step and the term, not a stack trace (the
programs' exit status on such faults: tests/e2e/test_training_faults.py)."""

import keras
import numpy as np
import pytest

from bgsplit_tf import faults
from bgsplit_tf.training import loss_guard
from bgsplit_tf.models import bgsplit_model
from tests import helpers


def _fit_one_batch(images, targets, aux_targets="hard"):
    model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network(), aux_weight=0.1, aux_targets=aux_targets)
    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=False)
    model.fit(images, targets, batch_size=len(images), epochs=1, verbose=0, callbacks=[loss_guard.NonFiniteLossGuard()])


def test_a_non_finite_main_loss_names_the_step_and_the_term():
    images, targets = helpers.tiny_batch(8)
    images[3, 0, 0, 0] = np.nan
    with pytest.raises(faults.TrainingFault, match=r"step 1 \(batch 1 of its epoch\): the main loss is nan"):
        _fit_one_batch(images, targets)


def test_a_non_finite_auxiliary_loss_is_named_as_such():
    images, targets = helpers.tiny_batch(8)
    targets["teacher_probs"][2] = np.inf
    with pytest.raises(faults.TrainingFault, match="the auxiliary loss is (nan|inf)"):
        _fit_one_batch(images, targets, aux_targets="soft")
