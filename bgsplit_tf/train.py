"""bgsplit-train: trains one Background Splitting (or fine-tuning, --aux_weight=0) model.

  source -> rare task -> teacher targets -> tf.data -> two-output model -> val/test mAP

Writes to --output_dir: flags.txt (re-run with --flagfile), metrics.json, tensorboard/, model.keras,
pr_curves_test.png and train_gallery.png (the kept positives of each rare class, and some background).
"""

from __future__ import annotations

import json
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from bgsplit_tf import config as config_lib
from bgsplit_tf import evaluation, plots, schedules
from bgsplit_tf.data import pipeline, rare_task, source as source_lib, teacher_targets
from bgsplit_tf.models import bgsplit_model, network as network_lib, teacher as teacher_lib

EVAL_BATCH_SIZE = 512


def source_of(config: config_lib.TrainConfig) -> source_lib.Source:
    return source_lib.Source(
        name=config.dataset,
        data_dir=config.data_dir or None,
        image_key=config.image_key,
        label_key=config.label_key,
        id_key=config.id_key,
    )


def draw_task(config: config_lib.TrainConfig, source: source_lib.Source) -> tuple[rare_task.RareTask, dict]:
    """The rare task of this config, and per-split summaries (counts, background fraction)."""
    labels = {split: source.read_labels(split) for split in (config.train_split, config.val_split, config.test_split)}
    train_labels, train_ids = labels[config.train_split]
    task = rare_task.choose_rare_task(
        source.label_names(),
        train_labels,
        train_ids,
        eval_labels={split: labels[split][0] for split in (config.val_split, config.test_split)},
        num_rare=config.num_rare,
        positives_per_class=config.positives_per_class,
        seed=config.seed,
        categories=list(config.rare_categories) or None,
    )
    keep = task.train_keep_mask(train_labels, train_ids)
    summaries = {
        "train": rare_task.summarize(task, task.main_labels(train_labels[keep])),
        "validation": rare_task.summarize(task, task.main_labels(labels[config.val_split][0])),
        "test": rare_task.summarize(task, task.main_labels(labels[config.test_split][0])),
    }
    return task, summaries


def check_image_size(source: source_lib.Source, teacher: keras.Model, teacher_path: str) -> None:
    """Rejects a teacher whose fixed input size differs from the source's fixed image size."""
    image_shape = source.builder().info.features[source.image_key].shape
    teacher_shape = teacher.input_shape[1:3]
    if None not in image_shape[:2] and None not in teacher_shape and tuple(image_shape[:2]) != tuple(teacher_shape):
        raise ValueError(
            f"teacher {teacher_path} takes {teacher_shape[0]}x{teacher_shape[1]} images but {source.name} has "
            f"{image_shape[0]}x{image_shape[1]}; pass a --teacher trained at that size."
        )


def task_gallery(task: rare_task.RareTask, train_examples: tf.data.Dataset, config: config_lib.TrainConfig,
                 per_row: int = 10) -> bytes:
    """PNG of what the model learns from: each rare class's kept training positives, then background."""
    relabelled = task.relabel(train_examples, training=True)
    rows = []
    for k, name in enumerate(task.class_names[1:], start=1):
        positives = relabelled.filter(lambda ex, k=k: ex["label"] == k).take(per_row)
        rows.append((name, np.stack([ex["image"] for ex in positives.as_numpy_iterator()])))
    background = relabelled.filter(lambda ex: ex["label"] == 0).take(per_row)
    rows.append(("background", np.stack([ex["image"] for ex in background.as_numpy_iterator()])))
    return plots.gallery_png(rows, f"{config.dataset}: training positives per rare class, and background")


class TargetsMemo:
    """Teacher targets per (source, split, teacher), computed once per process and reused by runs."""

    def __init__(self):
        self._targets: dict[tuple, teacher_targets.TeacherTargets] = {}

    def get(self, source: source_lib.Source, split: str, teacher_path: str, teacher: keras.Model):
        key = (source, split, teacher_path)
        if key not in self._targets:
            started = time.time()
            self._targets[key] = teacher_targets.compute_teacher_targets(teacher, source.examples(split))
            logging.info("Teacher targets for %s[%s]: %d images in %.1f s", source.name, split,
                         len(self._targets[key].ids), time.time() - started)
        return self._targets[key]


def build_model(config: config_lib.TrainConfig, teacher: keras.Model, num_rare: int, steps_per_epoch: int):
    """The compiled BackgroundSplittingModel for a config (SGD, warm-up + decay schedule, XLA)."""
    network = network_lib.network_from_teacher(teacher, num_rare, config.fixed_background_logit)
    model = bgsplit_model.BackgroundSplittingModel(
        network, aux_weight=config.aux_weight, aux_targets=config.aux_targets, temperature=config.temperature
    )
    schedule = schedules.WarmupDecay(
        peak=config.learning_rate,
        total_steps=config.epochs * steps_per_epoch,
        warmup_steps=int(round(config.warmup_epochs * steps_per_epoch)),
        kind=config.lr_schedule,
        decay_boundaries=tuple(e * steps_per_epoch for e in config.lr_decay_epochs),
    )
    optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay or None)
    model.compile(optimizer=optimizer, jit_compile=config.jit_compile)
    return model


def run_training(config: config_lib.TrainConfig, memo: TargetsMemo | None = None, verbose: int | str = 2) -> dict:
    """Trains and evaluates one model; returns (and writes) the metrics dict."""
    output_dir = pathlib.Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "flags.txt").write_text("\n".join(config.to_flag_lines()) + "\n")
    keras.utils.set_random_seed(config.seed)  # tf.data derives its op seeds from this global seed
    memo = memo or TargetsMemo()

    source = source_of(config)
    teacher = teacher_lib.load_teacher(config.teacher or None)
    teacher_path = config.teacher or str(teacher_lib.EMBEDDED_TEACHER)
    check_image_size(source, teacher, teacher_path)
    task, summaries = draw_task(config, source)
    logging.info("Rare task: %s; train background fraction %.4f (%s)", task.class_names[1:],
                 summaries["train"]["background_fraction"], summaries["train"]["counts"])

    def examples(split: str, training: bool) -> tf.data.Dataset:
        ds = task.relabel(source.examples(split), training=training)
        return memo.get(source, split, teacher_path, teacher).join(ds)

    num_train = summaries["train"]["num_examples"]
    steps_per_epoch = num_train // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"--batch_size={config.batch_size} exceeds the {num_train} training images")
    train_batches = pipeline.training_batches(
        examples(config.train_split, True), config.batch_size, config.seed, augmentation=config.augment,
        num_examples=num_train,
    )
    val_batches = pipeline.evaluation_batches(examples(config.val_split, False), EVAL_BATCH_SIZE,
                                              num_examples=summaries["validation"]["num_examples"])
    test_batches = pipeline.evaluation_batches(task.relabel(source.examples(config.test_split), False),
                                               EVAL_BATCH_SIZE, num_examples=summaries["test"]["num_examples"])

    # Seed again right before the model draws its initial weights: preparing the data (e.g. TFDS
    # rendering the dataset on first use) consumes global random state.
    keras.utils.set_random_seed(config.seed)
    (output_dir / "train_gallery.png").write_bytes(task_gallery(task, source.examples(config.train_split), config))
    model = build_model(config, teacher, task.num_rare, steps_per_epoch)
    validation = evaluation.Validation(val_batches, task.class_names)
    callbacks = [
        validation,
        evaluation.LearningRateLogger(),
        keras.callbacks.TensorBoard(str(output_dir / "tensorboard"), write_graph=False),
    ]
    started = time.time()
    history = model.fit(train_batches, epochs=config.epochs, callbacks=callbacks, verbose=verbose)
    train_seconds = time.time() - started

    test_labels, test_probs = evaluation.predict_main(model.network, test_batches)
    test = evaluation.map_summary(test_labels, test_probs, task.class_names)
    pr_png = plots.pr_curves_png(test_labels, test_probs, task.class_names,
                                 f"test PR curves (aux_weight={config.aux_weight}, mAP {test['mAP']:.3f})")
    (output_dir / "pr_curves_test.png").write_bytes(pr_png)
    with tf.summary.create_file_writer(str(output_dir / "tensorboard" / "test")).as_default():
        tf.summary.scalar("test_mAP", test["mAP"], step=config.epochs)
        tf.summary.image("test_pr_curves", tf.io.decode_png(pr_png)[None], step=config.epochs)
    results = {
        "test": test,
        "val": validation.last,
        "task": {"rare_categories": list(task.class_names[1:]), "category_ids": list(task.categories), **summaries},
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "train_seconds": train_seconds,
        "train_images_per_second": config.epochs * steps_per_epoch * config.batch_size / train_seconds,
        "config": {key: (list(v) if isinstance(v, tuple) else v) for key, v in vars(config).items()},
    }
    (output_dir / "metrics.json").write_text(json.dumps(results, indent=2))
    model.network.save(output_dir / "model.keras")
    logging.info("Test mAP %.4f (val mAP %.4f) in %.0f s; wrote %s", test["mAP"], validation.last["mAP"],
                 train_seconds, output_dir)
    return results


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    run_training(config_lib.config_from_flags())


def run():
    """Console-script entry point: defines the TrainConfig flags, then runs main."""
    config_lib.define_flags()
    config_lib.show_in_help(config_lib.__name__)
    app.run(main)


if __name__ == "__main__":
    run()
