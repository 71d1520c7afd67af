"""Per-epoch validation: one pass gives the same losses as Keras' evaluate and the same mAP as predict."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bgsplit_tf.evaluation import validation
from bgsplit_tf.models import bgsplit_model
from tests import helpers


def test_validation_callback_matches_evaluate_and_predict():
    model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network(num_rare=2), aux_weight=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=False)
    images, targets = helpers.tiny_batch(20, num_rare=2, seed=3)
    targets["label"][:3] = [1, 2, 1]  # every rare class has a positive
    batches = tf.data.Dataset.from_tensor_slices((images, targets)).batch(8)  # last batch partial
    callback = validation.Validation(batches, ("background", "a", "b"))
    callback.set_model(model)
    logs = {}
    callback.on_epoch_end(0, logs)
    expected = model.evaluate(images, targets, batch_size=20, verbose=0, return_dict=True)
    for key in ("loss", "main_loss", "aux_loss"):
        assert logs[f"val_{key}"] == pytest.approx(expected[key], rel=1e-4)
    labels, probs = validation.predict_main(model, batches)
    np.testing.assert_array_equal(labels, targets["label"])
    assert logs["val_mAP"] == pytest.approx(validation.map_summary(labels, probs, callback.class_names).mAP)
    assert set(callback.last.ap) == {"a", "b"}
