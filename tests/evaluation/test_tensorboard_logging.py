"""TensorBoard summaries, read back as TensorBoard loads them: PR curves with the counts they stand for,
per-class AP only after validated epochs, and running losses at resumption-proof global steps."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import plugin_event_accumulator

from bgsplit_tf.evaluation import plots, tensorboard_logging, validation
from bgsplit_tf.models import bgsplit_model
from tests import helpers
from tests.tensorboard_events import image_shape, read_run

CLASS_NAMES = ("background", "a", "b")


def test_pr_curves_hold_each_rare_class_one_vs_rest_counts(tmp_path):
    labels = np.array([1, 0, 2, 1, 0, 2])
    probabilities = np.array([[.1, .8, .1], [.6, .3, .1], [.2, .2, .6], [.5, .4, .1], [.3, .1, .6], [.7, .1, .2]],
                             np.float32)
    with tf.summary.create_file_writer(str(tmp_path)).as_default(step=3):
        tensorboard_logging.write_pr_curves(labels, probabilities, CLASS_NAMES)
    run = read_run(tmp_path)
    assert set(run) == {"PR/a/pr_curves", "PR/b/pr_curves"}
    for k, name in enumerate(CLASS_NAMES[1:], start=1):
        curve = run[f"PR/{name}/pr_curves"]
        assert curve.plugin == "pr_curves" and curve.steps == [3]
        tp, fp, tn, fn, precision, recall = curve.values[0]  # each float32 [201 thresholds]
        thresholds = np.linspace(0, 1, 201)
        predicted = probabilities[:, k][:, None] >= thresholds - 1e-6  # [6, 201]
        np.testing.assert_array_equal(tp, (predicted & (labels == k)[:, None]).sum(0))
        np.testing.assert_array_equal(fp, (predicted & (labels != k)[:, None]).sum(0))
        np.testing.assert_array_equal(tp + fn, np.full(201, (labels == k).sum()))
        np.testing.assert_array_equal(fp + tn, np.full(201, (labels != k).sum()))
        assert recall[0] == 1.0 and precision[0] == pytest.approx(2 / 6)


def test_validation_summaries_follow_the_validated_epochs(tmp_path):
    model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network(num_rare=2))
    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=False)
    images, targets = helpers.tiny_batch(12, num_rare=2, seed=1)
    targets["label"][:2] = [1, 2]  # every rare class has a positive
    validating = validation.Validation(tf.data.Dataset.from_tensor_slices((images, targets)).batch(5), CLASS_NAMES,
                                       every=2, epochs=3)
    summaries = tensorboard_logging.ValidationSummaries(validating, tmp_path)
    for callback in (validating, summaries):
        callback.set_model(model)
    summaries.on_train_begin()
    for epoch in range(3):  # validates after epoch 1 (every 2) and after epoch 2 (the last)
        logs = {}
        validating.on_epoch_end(epoch, logs)
        summaries.on_epoch_end(epoch, logs)
    summaries.on_train_end()
    run = read_run(tmp_path)
    assert set(run) == {"val_AP/a", "val_AP/b", "PR/a/pr_curves", "PR/b/pr_curves"}
    assert all(series.steps == [1, 2] for series in run.values())
    assert run["val_AP/a"].plugin == "scalars" and run["PR/b/pr_curves"].plugin == "pr_curves"
    for name in ("a", "b"):
        assert float(run[f"val_AP/{name}"].values[-1]) == pytest.approx(validating.last.ap[name])


def _logs(global_step):
    return {"loss": float(global_step), "main_loss": global_step / 2, "aux_loss": global_step / 4, "other": 1.0}


def test_step_losses_are_written_at_the_global_step_across_a_resumption(tmp_path):
    def train(epochs, first_step):
        """A loop's callback calls for `epochs`, the first epoch resumed at batch first_step."""
        callback = tensorboard_logging.StepLosses(tmp_path, every_steps=4, steps_per_epoch=10)
        callback.on_train_begin()
        for epoch in epochs:
            callback.on_epoch_begin(epoch)
            for step in range(first_step if epoch == epochs[0] else 0, 10):
                callback.on_train_batch_end(step, _logs(epoch * 10 + step + 1))
        callback.on_train_end()

    train([0, 1], 0)
    train([1, 2], 5)  # interrupted after step 15 (in epoch 2, counted from 1), resumed from a checkpoint there
    run = read_run(tmp_path)
    assert set(run) == {"batch_loss", "batch_main_loss", "batch_aux_loss"}
    # Every 4th global step, the resumed steps 16 and 20 (again) then 24 and 28 included.
    assert sorted(set(run["batch_loss"].steps)) == [4, 8, 12, 16, 20, 24, 28]
    for series, scale in ((run["batch_loss"], 1), (run["batch_main_loss"], 2), (run["batch_aux_loss"], 4)):
        assert [float(v) * scale for v in series.values] == series.steps


def test_pictures_become_image_summaries_of_their_size(tmp_path):
    png = plots.gallery_png([("row", np.zeros((3, 8, 8, 3), np.uint8))], "three black squares")
    tensorboard_logging.write_pictures(tmp_path, 0, {"gallery": png})
    series = read_run(tmp_path)["gallery"]
    assert series.plugin == "images" and series.steps == [0]
    assert image_shape(series) == tuple(tf.io.decode_png(png).shape)


def test_the_hparams_dashboard_gets_its_columns_and_each_runs_values_and_maps(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    tensorboard_logging.write_hparams_config(tmp_path, {"method": ["finetune", "bgsplit"], "seed": None})
    tensorboard_logging.write_run_hparams(tmp_path / "run", {"method": "bgsplit", "seed": 3}, 0.5, 0.25)

    def plugin_content(log_dir):
        accumulator = plugin_event_accumulator.EventAccumulator(str(log_dir))
        accumulator.Reload()
        return plugin_data_pb2.HParamsPluginData.FromString(accumulator.PluginTagToContent("hparams")[
            next(iter(accumulator.PluginTagToContent("hparams")))])

    experiment = plugin_content(tmp_path).experiment
    assert [h.name for h in experiment.hparam_infos] == ["method", "seed"]
    assert sorted(v.string_value for v in experiment.hparam_infos[0].domain_discrete.values) == ["bgsplit", "finetune"]
    assert [m.name.tag for m in experiment.metric_infos] == [tensorboard_logging.HPARAMS_VAL_TAG,
                                                            tensorboard_logging.HPARAMS_TEST_TAG]
    run = read_run(tmp_path / "run")
    assert float(run[tensorboard_logging.HPARAMS_VAL_TAG].values[0]) == 0.5
    assert float(run[tensorboard_logging.HPARAMS_TEST_TAG].values[0]) == 0.25
    session = plugin_content(tmp_path / "run").session_start_info
    assert (session.hparams["method"].string_value, session.hparams["seed"].number_value) == ("bgsplit", 3)
