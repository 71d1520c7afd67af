"""One training run, from flags to finished outputs (what `bgsplit-train` does).

  run folder (refuse a finished run, check a resumable one, write flags.txt) -> prepare (source,
  rare task, teacher targets, batches) -> build the model -> train (resumable) -> evaluate (test mAP,
  PR curves, operating points) -> write (model.keras, model card, export, metrics.json last)

Writes to --output_dir: flags.txt (re-run with --flagfile), metrics.json, tensorboard/, model.keras,
model_card.md (serving.model_card: data, method, results, operating points, limits),
pr_curves_test.png, test_top_ranked.png (each rare class's highest-ranked test images, true or false
positives) and train_gallery.png (the kept positives of each rare class, and some background),
bad_images.tsv when images were left out, and checkpoints/ while training (removed once the run has
finished: rerunning an interrupted run's command resumes from them).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bgsplit_tf import config as config_lib, phases
from bgsplit_tf.evaluation import mechanism, plots, run_results, tensorboard_logging, top_ranked
from bgsplit_tf.evaluation import validation as validation_lib
from bgsplit_tf.models import teacher as teacher_lib, trunk_split
from bgsplit_tf.serving import export, model_card
from bgsplit_tf.training import build, checkpoints, distribute, loop, loss_guard, precision as precision_lib
from bgsplit_tf.training import precision_timing, prepare, run_folder
from bgsplit_tf.training import targets_memo

def run_training(config: config_lib.TrainConfig, memo: targets_memo.TargetsMemo | None = None,
                 verbose: int | str | None = None, hparams: dict | None = None) -> run_results.RunResults:
    """Trains and evaluates one model; returns its results (and writes them to metrics.json).

    verbose: Keras' console verbosity while training (1 progress bar, 2 one line per epoch, 0 silent;
    default: the config's --verbose, loop.keras_verbosity). hparams: what the HParams dashboard shows
    for this run (default: the config's method flags). What TensorBoard gets: tensorboard_logging.
    """
    wall_started, phases_before = time.time(), phases.totals()
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = distribute.make_strategy(config.strategy, config.tpu)
    worker = distribute.worker_of(strategy)
    output_dir = pathlib.Path(config.output_dir)
    # Resolved once: the run folder, its checkpoints and the model all record what auto chose here.
    precision = precision_timing.resolve(config)
    config = dataclasses.replace(config, mixed_precision=precision.chosen)
    if worker[0] > 0:  # the chief (worker 0) writes the run's outputs; the others keep theirs apart
        output_dir = output_dir / "workers" / str(worker[0])
    run_folder.open_run_folder(output_dir, config)
    keras.utils.set_random_seed(config.seed)  # tf.data derives its op seeds from this global seed
    run = prepare.prepare_run(config, memo or targets_memo.TargetsMemo(worker))
    run_folder.report_bad_images(run.bad_images, output_dir)
    # Seed again right before the model draws its initial weights: preparing the data (e.g. TFDS
    # rendering the dataset on first use) consumes global random state.
    keras.utils.set_random_seed(config.seed)
    gallery = prepare.task_gallery(run.task, run.pixel_source, config)
    (output_dir / "train_gallery.png").write_bytes(gallery)
    tensorboard_logging.write_pictures(output_dir / "tensorboard" / "train", 0, {"train_gallery": gallery})
    logging.info("Trunk precision: %s (%s)", precision_lib.trunk_dtype(precision), precision.reason)
    with strategy.scope():
        model = build.build_model(config, run.teacher, run.class_counts, run.steps_per_epoch, run.trunk_donor,
                                  precision)
    with phases.timed(phases.TRAINING):
        trained = _train(config, run, model, strategy, worker, output_dir, verbose)
    with phases.timed(phases.EVALUATION):
        evaluated = _evaluate(config, run, model, trained, output_dir)
    # The run's wall time and where it went, up to writing its outputs.
    results = run_results.RunResults(**evaluated, precision=precision, wall_seconds=time.time() - wall_started,
                                     phase_seconds=phases.since(phases_before))
    with phases.timed(phases.EVALUATION):
        _write_outputs(config, run, model, results, output_dir, hparams)
    logging.info("Test mAP %.4f (val mAP %.4f) in %.0f s; wrote %s", results.test.mAP, results.val.mAP,
                 results.train_seconds, output_dir)
    return results


def _train(config: config_lib.TrainConfig, run: prepare.PreparedRun, model: keras.Model,
           strategy: tf.distribute.Strategy, worker: tuple[int, int], output_dir: pathlib.Path,
           verbose: int | str | None) -> dict:
    """Trains (resuming from the newest checkpoint); returns the history, timings, validation and probe.

    TensorBoard: Keras' epoch scalars, per-class validation AP and PR curves, and the running losses
    every --log_every_steps steps (tensorboard_logging). verbose: None follows --verbose.
    """
    log_dir = output_dir / "tensorboard"
    validation = validation_lib.Validation(run.val_batches, run.task.class_names, config.validation_every,
                                           config.epochs)
    probe = mechanism_probe(run) if config.mechanism else None
    callbacks = [
        loss_guard.NonFiniteLossGuard(),
        validation,
        tensorboard_logging.ValidationSummaries(validation, log_dir / tensorboard_logging.VALIDATION_PER_CLASS),
        *([probe] if probe else []),
        validation_lib.LearningRateLogger(),
        keras.callbacks.TensorBoard(str(log_dir), write_graph=False),
        *([tensorboard_logging.StepLosses(log_dir / tensorboard_logging.TRAIN_STEPS, config.log_every_steps,
                                          run.steps_per_epoch)] if config.log_every_steps else []),
    ]
    if verbose is None:
        verbose = loop.keras_verbosity(config.verbose, run.steps_per_epoch)
    run_checkpoints = checkpoints.RunCheckpoints(output_dir, model, config.flag_values(), config.checkpoint_steps)
    started = time.time()
    history = loop.train(
        model, lambda epoch, skip: distribute.distributed_batches(
            strategy, lambda context: run.train_batches_for(context, epoch, skip)),
        config.epochs, run.steps_per_epoch, callbacks, run_checkpoints, verbose,
        train_function=distribute.worker_train_function(model) if worker[1] > 1 else None)
    train_seconds = time.time() - started
    if validation.last is None:  # resumed after the last epoch's checkpoint: validate the final weights
        validation.validate(config.epochs - 1)
    return {"history": history, "train_seconds": train_seconds, "validation": validation, "probe": probe,
            "steps_run": run_checkpoints.steps_run(run.steps_per_epoch, config.epochs)}


def _evaluate(config: config_lib.TrainConfig, run: prepare.PreparedRun, model: keras.Model, trained: dict,
              output_dir: pathlib.Path) -> dict:
    """Test mAP, PR curves and top-ranked images (PNG and TensorBoard), operating points from validation,
    and the run's results: the fields of a run_results.RunResults but those measured after evaluation
    (precision, wall_seconds, phase_seconds), by name."""
    task, validation, probe = run.task, trained["validation"], trained["probe"]
    top = top_ranked.TopRanked(task.class_names)
    test_labels, test_probs = validation_lib.predict_main(model, run.test_batches,
                                                          top.observe if run.lower_trunk is None else None)
    if run.lower_trunk is not None:  # the batches held maps: show the top-ranked images' pixels
        _observe_pixels_of_top(top, run, config.test_split, test_labels, test_probs)
    test = validation_lib.map_summary(test_labels, test_probs, task.class_names)
    about = f"aux_weight={config.aux_weight}, mAP {test.mAP:.3f}"
    pictures = {"test_pr_curves": plots.pr_curves_png(test_labels, test_probs, task.class_names,
                                                      f"test PR curves ({about})"),
                "test_top_ranked": top.png(f"highest-ranked test images per rare class ({about})")}
    (output_dir / "pr_curves_test.png").write_bytes(pictures["test_pr_curves"])
    (output_dir / "test_top_ranked.png").write_bytes(pictures["test_top_ranked"])
    tensorboard_logging.write_test_summaries(output_dir / "tensorboard" / "test", config.epochs, test.mAP,
                                             test_labels, test_probs, task.class_names, pictures)
    points = validation_lib.operating_points(*validation.last_predictions, task.class_names)
    logging.info("Operating points on validation (score thresholds per target precision):\n%s",
                 validation_lib.format_operating_points(points))
    posthoc = config.logit_adjustment == "posthoc"
    return {
        "test": test,
        "val": validation.last,
        "task": run.summary,
        "history": {key: tuple(float(v) for v in values) for key, values in trained["history"].history.items()},
        "bad_images": {split: sum(b.split == split for b in run.bad_images)
                       for split in (config.train_split, config.val_split, config.test_split)},
        "train_seconds": trained["train_seconds"],
        "train_images_per_second": trained["steps_run"] * config.batch_size / trained["train_seconds"],
        "config": run_results.flag_record(config),
        "operating_points": points,
        "input_recipe": run.input_recipe,
        "mechanism": run_results.MechanismSummary(probe.teacher_background_rank, len(probe.probe_images))
                     if probe else None,
        "eval_logit_offset": tuple(float(v) for v in model.eval_logit_offset.numpy()) if posthoc else None,
    }


def _observe_pixels_of_top(top: top_ranked.TopRanked, run: prepare.PreparedRun, split: str, labels, probs) -> None:
    """Feeds `top` the pixels of each rare class's highest-scored images of `split` (labels int [N], probs
    float32 [N, K + 1] in split order), decoding only those."""
    chosen = np.unique(np.concatenate([np.argsort(-probs[:, k])[:top.per_class] for k in range(1, probs.shape[1])]))
    examples = run.pixel_source.encoded_examples(split).enumerate().filter(
        lambda index, _: tf.reduce_any(tf.equal(index, chosen))).map(lambda _, example: run.pixel_source.decode(example))
    pixels = np.stack([example["image"] for example in examples.as_numpy_iterator()]).astype(np.float32)
    top.observe(pixels, labels[chosen], probs[chosen])


def _write_outputs(config: config_lib.TrainConfig, run: prepare.PreparedRun, model: keras.Model,
                   results: run_results.RunResults, output_dir: pathlib.Path, hparams: dict | None) -> None:
    """HParams, model.keras, the model card, the export if asked, and metrics.json last (the finished marker)."""
    tensorboard_logging.write_run_hparams(output_dir / "tensorboard" / "hparams", hparams or default_hparams(config),
                  results.val.mAP, results.test.mAP)
    network = model.network if run.lower_trunk is None else trunk_split.on_pixels(run.lower_trunk, model.network)
    network.save(output_dir / "model.keras")
    card = model_card.model_card(results)
    (output_dir / export.MODEL_CARD_FILE).write_text(card)
    if config.export_dir:
        exported = export.export_saved_model(network, run.task.class_names, config.export_dir,
                                             results.operating_points, results.eval_logit_offset,
                                             model_card=card, evaluation_resize_mode=results.evaluation_resize_mode)
        logging.info("Exported a SavedModel for TF Serving to %s", exported)
    run_folder.write_results(output_dir, results)


def mechanism_probe(run: prepare.PreparedRun) -> mechanism.MechanismProbe:
    """The per-epoch mechanism measurements of a run (mechanism.MechanismProbe) on its probe sets."""
    teacher_trunk = teacher_lib.teacher_trunk(run.teacher) if teacher_lib.has_trunk(run.teacher) else None
    return mechanism.MechanismProbe(run.probe_batches, run.train_positive_batches, run.val_positive_batches,
                                    teacher_trunk)


def default_hparams(config: config_lib.TrainConfig) -> dict:
    """The method flags of a run, for the HParams dashboard."""
    keys = ("aux_weight", "focal_gamma", "cb_beta", "reweight_from_epoch", "ldam_max_margin", "logit_adjustment",
            "la_tau", "rare_batch_fraction", "background_keep", "learning_rate", "epochs", "seed")
    return {key: getattr(config, key) for key in keys}
