"""bgsplit-train: trains one Background Splitting (or fine-tuning, --aux_weight=0) model.

  source -> rare task -> teacher targets -> tf.data -> two-output model -> val/test mAP

Writes to --output_dir: flags.txt (re-run with --flagfile), metrics.json, tensorboard/, model.keras,
pr_curves_test.png and train_gallery.png (the kept positives of each rare class, and some background),
bad_images.tsv when images were left out, and checkpoints/ while training (removed once the run has
finished: rerunning an interrupted run's command resumes from them).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from tensorboard.plugins.hparams import api as hparams_api

from bgsplit_tf import config as config_lib
from bgsplit_tf import checkpoints, distribute, evaluation, export, faults, losses, mechanism, plots, schedules
from bgsplit_tf import training_loop
from bgsplit_tf.data import bad_images, folder_source, pipeline, rare_task, source as source_lib, teacher_cache
from bgsplit_tf.data import teacher_targets
from bgsplit_tf.models import applications, bgsplit_model, network as network_lib, pretrained, teacher as teacher_lib

EVAL_BATCH_SIZE = 512
# --cache_decoded=auto keeps decoded train + val images in memory below this size (iNaturalist at 224 px,
# ~88 GB decoded, is streamed and decoded every epoch instead).
CACHE_BUDGET_BYTES = 4 * 2**30
# Scalars each run writes next to its HParams, read by the HParams dashboard.
HPARAMS_VAL_TAG, HPARAMS_TEST_TAG = "hparams/val_mAP", "hparams/test_mAP"


def screened_source_of(config: config_lib.TrainConfig, image_size: tuple[int, int],
                       splits: tuple[str, ...]) -> tuple[object, list[bad_images.BadImage]]:
    """source_of, without the images of `splits` that do not decode (--bad_images), and those images."""
    return bad_images.screen(source_of(config, image_size), splits, config.bad_images)


def source_of(config: config_lib.TrainConfig, image_size: tuple[int, int]):
    """The configured source: image folders ("folder:<root>") or CSV manifests ("manifest:<dir>"), resized
    to image_size, or a TFDS dataset."""
    if config.dataset.startswith((folder_source.PREFIX, folder_source.MANIFEST_PREFIX)):
        return folder_source.FolderSource(config.dataset, tuple(image_size), config.background_folder)
    return source_lib.Source(
        name=config.dataset,
        data_dir=config.data_dir or None,
        image_key=config.image_key,
        label_key=config.label_key,
        id_key=config.id_key,
        image_size=tuple(image_size),
    )


def draw_task(config: config_lib.TrainConfig,
              source: source_lib.Source) -> tuple[rare_task.RareTask, dict, np.ndarray]:
    """The rare task of this config, per-split summaries (counts, background fraction), and which
    training examples it keeps (bool [N], in split order)."""
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
        background_fraction=config.background_fraction,
        background_keep=config.background_keep,
        never_rare=source.never_rare(),
    )
    keep = task.train_keep_mask(train_labels, train_ids)
    summaries = {
        "train": rare_task.summarize(task, task.main_labels(train_labels[keep])),
        "validation": rare_task.summarize(task, task.main_labels(labels[config.val_split][0])),
        "test": rare_task.summarize(task, task.main_labels(labels[config.test_split][0])),
    }
    if summaries["train"]["counts"][rare_task.BACKGROUND] == 0:
        raise ValueError(
            f"no background images are left in --train_split={config.train_split} (--background_keep="
            f"{config.background_keep} kept none of them, or every category is rare); raise --background_keep "
            "or name fewer --rare_categories")
    return task, summaries, keep


def load_configured_teacher(config: config_lib.TrainConfig) -> keras.Model:
    """The frozen teacher --teacher names (see models.pretrained): pixels [B, H, W, 3] -> [B, M]."""
    return pretrained.load_pretrained(config.teacher, image_size=config.image_size, weights=config.teacher_weights,
                                      endpoint=config.teacher_endpoint, output_key=config.teacher_output_key)


def load_trunk_source(config: config_lib.TrainConfig, teacher: keras.Model) -> keras.Model:
    """The model whose "trunk" the student copies: the teacher itself (default), or --trunk."""
    if not config.trunk:
        teacher_lib.teacher_trunk(teacher)  # fails early, naming --trunk, for a teacher without a trunk
        return teacher
    start = pretrained.load_pretrained(config.trunk, image_size=config.image_size, weights=config.trunk_weights)
    teacher_lib.teacher_trunk(start)
    if tuple(start.input_shape[1:3]) != tuple(teacher.input_shape[1:3]):
        raise ValueError(f"--trunk={config.trunk} takes {start.input_shape[1:3]} images but the teacher takes "
                         f"{teacher.input_shape[1:3]}; set --image_size so that both agree")
    return start


def check_image_size(source: source_lib.Source, teacher: keras.Model, teacher_path: str) -> None:
    """Rejects a teacher whose fixed input size differs from the source's fixed image size."""
    image_shape = source.image_shape()
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
    positives = relabelled.filter(lambda ex: ex["label"] > 0)  # at most K * N images: one pass
    by_class = {k: [] for k in range(1, task.num_rare + 1)}
    for example in positives.as_numpy_iterator():
        if len(by_class[example["label"]]) < per_row:
            by_class[example["label"]].append(example["image"])
    rows = [(name, np.stack(by_class[k])) for k, name in enumerate(task.class_names[1:], start=1)]
    background = relabelled.filter(lambda ex: ex["label"] == 0).take(per_row)
    rows.append(("background", np.stack([ex["image"] for ex in background.as_numpy_iterator()])))
    return plots.gallery_png(rows, f"{config.dataset}: training positives per rare class, and background")


class TargetsMemo:
    """Teacher targets per (source, split, teacher settings), obtained once per process and reused by runs:
    read from (and, where missing, computed into) --teacher_cache_dir, or computed in memory without one."""

    def __init__(self, worker: tuple[int, int] = (0, 1)):
        self._targets: dict[tuple, teacher_targets.TeacherTargets] = {}
        self.worker = worker  # (index, count): multi-worker training shares the cache's precompute

    def get(self, source, split: str, config: config_lib.TrainConfig, teacher: keras.Model):
        """The TeacherTargets of source[split] under the config's teacher: memoised, read from (or
        written to) the cache."""
        key = (source, split, config.teacher, config.teacher_weights, config.teacher_endpoint,
               config.teacher_output_key, config.teacher_output, config.teacher_top_k, config.teacher_cache_dir)
        if key not in self._targets:
            started = time.time()
            if config.teacher_cache_dir:
                self._targets[key] = teacher_cache.cached_targets(
                    config.teacher_cache_dir, split, cache_fingerprint(source, split, config, teacher), teacher,
                    lambda skip: source.examples(split, skip=skip), shard_size=config.teacher_cache_shard_size,
                    worker=self.worker)
            else:
                self._targets[key] = teacher_targets.compute_teacher_targets(
                    teacher, source.examples(split), top_k=config.teacher_top_k, teacher_output=config.teacher_output)
            logging.info("Teacher targets for %s[%s]: %d images in %.1f s", source.name, split,
                         len(self._targets[key].ids), time.time() - started)
        return self._targets[key]


def cache_fingerprint(source, split: str, config: config_lib.TrainConfig, teacher: keras.Model) -> dict:
    """What the cached targets of (source, split) under this config's teacher depend on."""
    teacher_identity = config.teacher or f"{teacher_lib.EMBEDDED_PREFIX}{teacher_lib.DEFAULT_EMBEDDED}"
    if config.teacher.startswith(applications.PREFIX):
        teacher_identity += f" weights={config.teacher_weights}"
    if config.teacher_endpoint or config.teacher_output_key:
        teacher_identity += f" endpoint={config.teacher_endpoint} output_key={config.teacher_output_key}"
    return teacher_cache.fingerprint(
        dataset=source.name, dataset_version=source.version(split), split=split, ids=source.read_labels(split)[1],
        teacher=teacher_identity, teacher_model=teacher, teacher_output=config.teacher_output,
        image_size=tuple(teacher.input_shape[1:3]), top_k=config.teacher_top_k)


def main_head_loss(config: config_lib.TrainConfig, class_counts: list[int], steps_per_epoch: int):
    """The configured main-head loss; class_counts: kept training images per main class [K + 1]."""
    return losses.MainHeadLoss(
        class_counts,
        focal_gamma=config.focal_gamma,
        cb_beta=config.cb_beta,
        reweight_from_step=config.reweight_from_epoch * steps_per_epoch,
        ldam_max_margin=config.ldam_max_margin,
        logit_scale=config.logit_scale if config.cosine_head else 1.0,
        la_tau=config.la_tau if config.logit_adjustment == "loss" else 0.0,
    )


def build_model(config: config_lib.TrainConfig, teacher: keras.Model, class_counts: list[int], steps_per_epoch: int,
                trunk_source: keras.Model | None = None):
    """The compiled BackgroundSplittingModel for a config (SGD, warm-up + decay schedule, XLA). Call it
    under the run's strategy.scope() to build it for tf.distribute.

    class_counts: kept training images per main class [K + 1], for the imbalance methods.
    trunk_source: the model whose trunk the student copies (default: the teacher, whose classifier
    then also starts the aux head; otherwise the aux head starts fresh over the teacher's classes).
    """
    trunk_source = teacher if trunk_source is None else trunk_source
    network = network_lib.network_from_teacher(
        trunk_source, len(class_counts) - 1, config.fixed_background_logit,
        cosine_scale=config.logit_scale if config.cosine_head else None,
        fresh_aux_classes=None if trunk_source is teacher else int(teacher.output_shape[-1]),
        trunk_dtype="float32" if config.mixed_precision == "off" else f"mixed_{config.mixed_precision}",
        synchronized_batch_norm=distribute.is_distributed(tf.distribute.get_strategy()),
    )
    if config.freeze_trunk:
        network.get_layer(teacher_lib.TRUNK_LAYER).trainable = False
    posthoc = config.logit_adjustment == "posthoc"
    model = bgsplit_model.BackgroundSplittingModel(
        network, aux_weight=config.aux_weight, aux_targets=config.aux_targets, temperature=config.temperature,
        main_loss=main_head_loss(config, class_counts, steps_per_epoch),
        eval_logit_offset=-config.la_tau * losses.log_prior(class_counts) if posthoc else None,
    )
    schedule = schedules.WarmupDecay(
        peak=config.learning_rate,
        total_steps=config.epochs * steps_per_epoch,
        warmup_steps=int(round(config.warmup_epochs * steps_per_epoch)),
        kind=config.lr_schedule,
        decay_boundaries=tuple(e * steps_per_epoch for e in config.lr_decay_epochs),
    )
    optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay or None)
    if config.mixed_precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, jit_compile=use_xla(config))
    model.build_optimizer()
    return model


def use_xla(config: config_lib.TrainConfig) -> bool:
    """--jit_compile if given, else whether an accelerator (GPU or TPU) is present."""
    if config.jit_compile is not None:
        return config.jit_compile
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def write_hparams(log_dir: pathlib.Path, hparams: dict, val_map: float, test_map: float) -> None:
    """Records a run for TensorBoard's HParams dashboard: its hyperparameters and final val/test mAP."""
    with tf.summary.create_file_writer(str(log_dir)).as_default():
        hparams_api.hparams(hparams)
        tf.summary.scalar(HPARAMS_VAL_TAG, val_map, step=0)
        tf.summary.scalar(HPARAMS_TEST_TAG, test_map, step=0)


@dataclasses.dataclass
class PreparedRun:
    """What a training run needs besides its model: the rare task and its tf.data batches.

    train_batches_for(input_context, epoch=0, skip=0): (images float32 [B, H, W, 3], targets) with
    augmentation and sampling, epoch `epoch` from its batch `skip` on (pipeline.training_epochs); an
    input_context of None gives global batches of the whole split, one epoch, an InputContext
    (tf.distribute) that pipeline's shard in per-replica batches, repeated. val_batches and
    test_batches: un-augmented, the last batch partial. steps_per_epoch: of the global batch.
    class_counts: kept training images per main class [K + 1]. bad_images: the images left out
    because they do not decode (--bad_images=skip).
    """

    teacher: keras.Model
    trunk_source: keras.Model
    source: object
    task: rare_task.RareTask
    summaries: dict
    train_batches_for: Callable[..., tf.data.Dataset]
    val_batches: tf.data.Dataset
    test_batches: tf.data.Dataset
    probe_batches: tf.data.Dataset
    train_positive_batches: tf.data.Dataset
    val_positive_batches: tf.data.Dataset
    steps_per_epoch: int
    class_counts: list[int]
    bad_images: list[bad_images.BadImage]

    @property
    def train_batches(self) -> tf.data.Dataset:
        """One device's training batches, one epoch."""
        return self.train_batches_for(None)


def cache_decoded(config: config_lib.TrainConfig, num_images: int, image_shape: tuple) -> bool:
    """Whether the decoded training and validation images are kept in memory after the first epoch:
    --cache_decoded=yes|no, or auto: yes while they take less than CACHE_BUDGET_BYTES."""
    if config.cache_decoded != "auto":
        return config.cache_decoded == "yes"
    return num_images * int(np.prod(image_shape)) < CACHE_BUDGET_BYTES


def prepare_run(config: config_lib.TrainConfig, memo: TargetsMemo) -> PreparedRun:
    """Loads teacher and source, draws the rare task, joins the teacher targets and builds the batches."""
    teacher = load_configured_teacher(config)
    trunk_source = load_trunk_source(config, teacher)
    source, bad = screened_source_of(config, teacher.input_shape[1:3],
                                     (config.train_split, config.val_split, config.test_split))
    check_image_size(source, teacher, config.teacher or str(teacher_lib.EMBEDDED_TEACHER))
    task, summaries, kept = draw_task(config, source)
    logging.info("Rare task: %s; train background fraction %.4f (%s)", task.class_names[1:],
                 summaries["train"]["background_fraction"], summaries["train"]["counts"])

    def examples(split: str, training: bool, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """The split's examples, images still encoded (the pipeline decodes), with their targets."""
        ds = task.relabel(source.encoded_examples(split, shard=shard), training=training)
        return memo.get(source, split, config, teacher).join(ds)

    num_train = summaries["train"]["num_examples"]
    steps_per_epoch = num_train // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"--batch_size={config.batch_size} exceeds the {num_train} training images")
    cache = cache_decoded(config, num_train + summaries["validation"]["num_examples"],
                          (*teacher.input_shape[1:3], 3))

    def unaugmented(split: str, training: bool, keep=lambda examples: examples) -> tf.data.Dataset:
        """Un-augmented batches of the split's (relabelled) examples that `keep` leaves, decoded after it."""
        kept = keep(task.relabel(source.encoded_examples(split), training=training))
        return pipeline.evaluation_batches(kept, EVAL_BATCH_SIZE, cache=False, decode=source.decode)

    def positives(examples: tf.data.Dataset) -> tf.data.Dataset:
        return examples.filter(lambda ex: ex["label"] > 0)

    epochs_of_shard = {}  # (shard, per-replica batch size) -> its training_epochs, whose cache every epoch shares

    def train_batches_for(context: tf.distribute.InputContext | None, epoch: int = 0,
                          skip: int = 0) -> tf.data.Dataset:
        shard = (context.input_pipeline_id, context.num_input_pipelines) if context else (0, 1)
        batch_size = context.get_per_replica_batch_size(config.batch_size) if context else config.batch_size
        if (shard, batch_size) not in epochs_of_shard:
            epochs_of_shard[shard, batch_size] = pipeline.training_epochs(
                examples(config.train_split, True, shard), batch_size, config.seed, augmentation=config.augment,
                cache=cache, num_examples=int(kept[shard[0]::shard[1]].sum()),
                rare_batch_fraction=config.rare_batch_fraction, num_classes=task.num_rare + 1,
                decode=source.decode)
        if not context:  # one device: an epoch is one pass
            return epochs_of_shard[shard, batch_size](epoch, skip)
        # Distributed, each pipeline repeats (workers' shards may differ by a batch) and the training loop
        # counts steps_per_epoch; a step takes one batch per replica the pipeline feeds.
        replicas_fed = context.num_replicas_in_sync // context.num_input_pipelines
        return epochs_of_shard[shard, batch_size](epoch).repeat().skip(skip * replicas_fed)

    return PreparedRun(
        teacher=teacher, trunk_source=trunk_source, source=source, task=task, summaries=summaries,
        train_batches_for=train_batches_for,
        val_batches=pipeline.evaluation_batches(examples(config.val_split, False), EVAL_BATCH_SIZE, cache=cache,
                                                num_examples=summaries["validation"]["num_examples"],
                                                decode=source.decode),
        test_batches=pipeline.evaluation_batches(task.relabel(source.encoded_examples(config.test_split), False),
                                                 EVAL_BATCH_SIZE, cache=False,
                                                 num_examples=summaries["test"]["num_examples"],
                                                 decode=source.decode),
        probe_batches=unaugmented(config.val_split, False, lambda ex: ex.take(config.mechanism_probe_size)),
        train_positive_batches=unaugmented(config.train_split, True, positives),
        val_positive_batches=unaugmented(config.val_split, False, positives),
        steps_per_epoch=steps_per_epoch,
        class_counts=list(summaries["train"]["counts"].values()),
        bad_images=bad,
    )


def refuse_finished_run(output_dir: pathlib.Path, overwrite: bool) -> None:
    """A finished run (metrics.json present) is never trained over silently: TrainingFault, unless
    overwrite, which clears its checkpoints and TensorBoard logs so that the new run starts afresh and
    its curves do not mix with the old ones. Without overwrite, an unfinished run's checkpoints stay
    and training resumes from them."""
    metrics_path = output_dir / "metrics.json"
    if overwrite:
        shutil.rmtree(output_dir / checkpoints.DIRECTORY, ignore_errors=True)
        shutil.rmtree(output_dir / "tensorboard", ignore_errors=True)
        metrics_path.unlink(missing_ok=True)
    if metrics_path.exists():
        finished = json.loads(metrics_path.read_text())
        raise faults.TrainingFault(
            f"{output_dir} holds a finished run (test mAP {finished['test']['mAP']:.4f}, val mAP "
            f"{finished['val']['mAP']:.4f}); it was left untouched. Pass --overwrite to train it afresh, or "
            "choose another --output_dir.")


def run_training(config: config_lib.TrainConfig, memo: TargetsMemo | None = None, verbose: int | str = 2,
                 hparams: dict | None = None) -> dict:
    """Trains and evaluates one model; returns (and writes) the metrics dict.

    hparams: what the HParams dashboard shows for this run (default: the config's method flags).
    """
    wall_started = time.time()
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = distribute.make_strategy(config.strategy, config.tpu)
    worker = distribute.worker_of(strategy)
    output_dir = pathlib.Path(config.output_dir)
    if worker[0] > 0:  # the chief (worker 0) writes the run's outputs; the others keep theirs apart
        output_dir = output_dir / "workers" / str(worker[0])
    refuse_finished_run(output_dir, config.overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "flags.txt").write_text("\n".join(config.to_flag_lines()) + "\n")
    keras.utils.set_random_seed(config.seed)  # tf.data derives its op seeds from this global seed
    memo = memo or TargetsMemo(worker)
    run = prepare_run(config, memo)
    task, summaries = run.task, run.summaries
    report_bad_images(run.bad_images, output_dir)
    # Seed again right before the model draws its initial weights: preparing the data (e.g. TFDS
    # rendering the dataset on first use) consumes global random state.
    keras.utils.set_random_seed(config.seed)
    (output_dir / "train_gallery.png").write_bytes(
        task_gallery(task, run.source.examples(config.train_split), config))
    with strategy.scope():
        model = build_model(config, run.teacher, run.class_counts, run.steps_per_epoch, run.trunk_source)
    val_batches, test_batches = run.val_batches, run.test_batches
    validation = evaluation.Validation(val_batches, task.class_names, config.validation_every, config.epochs)
    probe = mechanism_probe(config, run) if config.mechanism else None
    callbacks = [
        faults.NonFiniteLossGuard(),
        validation,
        *([probe] if probe else []),
        evaluation.LearningRateLogger(),
        keras.callbacks.TensorBoard(str(output_dir / "tensorboard"), write_graph=False),
    ]
    run_checkpoints = checkpoints.RunCheckpoints(output_dir, model, vars(config), config.checkpoint_steps)
    started = time.time()
    history = training_loop.train(
        model, lambda epoch, skip: distribute.distributed_batches(
            strategy, lambda context: run.train_batches_for(context, epoch, skip)),
        config.epochs, run.steps_per_epoch, callbacks, run_checkpoints, verbose,
        train_function=distribute.worker_train_function(model) if worker[1] > 1 else None)
    train_seconds = time.time() - started
    if validation.last is None:  # resumed after the last epoch's checkpoint: validate the final weights
        validation.validate(config.epochs - 1)

    test_labels, test_probs = evaluation.predict_main(model, test_batches)
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
        "bad_images": {split: sum(b.split == split for b in run.bad_images)
                       for split in (config.train_split, config.val_split, config.test_split)},
        "train_seconds": train_seconds,
        "wall_seconds": time.time() - wall_started,
        "train_images_per_second": run_checkpoints.steps_run(run.steps_per_epoch, config.epochs) * config.batch_size
        / train_seconds,
        "config": {key: (list(v) if isinstance(v, tuple) else v) for key, v in vars(config).items()},
    }
    if probe:
        results["mechanism"] = {"teacher_background_rank": probe.teacher_background_rank,
                                "probe_images": len(probe.probe_images)}
    points = evaluation.operating_points(*validation.last_predictions, task.class_names)
    results["operating_points"] = points
    logging.info("Operating points on validation (score thresholds per target precision):\n%s",
                 evaluation.format_operating_points(points))
    if config.logit_adjustment == "posthoc":
        results["eval_logit_offset"] = [float(v) for v in model.eval_logit_offset.numpy()]
    write_hparams(output_dir / "tensorboard" / "hparams", hparams or default_hparams(config),
                  validation.last["mAP"], test["mAP"])
    model.network.save(output_dir / "model.keras")
    if config.export_dir:
        exported = export.export_saved_model(model.network, task.class_names, config.export_dir, points,
                                             results.get("eval_logit_offset"))
        logging.info("Exported a SavedModel for TF Serving to %s", exported)
    # metrics.json marks the run finished, so it is written last (written to a temporary name, then
    # renamed: a crash leaves either no marker, and the rerun resumes, or a complete one). The
    # checkpoints served only to resume; model.keras is the trained model.
    temporary = output_dir / "metrics.json.partial"
    temporary.write_text(json.dumps(results, indent=2))
    temporary.replace(output_dir / "metrics.json")
    shutil.rmtree(run_checkpoints.directory, ignore_errors=True)
    logging.info("Test mAP %.4f (val mAP %.4f) in %.0f s; wrote %s", test["mAP"], validation.last["mAP"],
                 train_seconds, output_dir)
    return results


def mechanism_probe(config: config_lib.TrainConfig, run: PreparedRun) -> mechanism.MechanismProbe:
    """The per-epoch mechanism measurements of a run (mechanism.MechanismProbe) on its probe sets."""
    teacher_trunk = teacher_lib.teacher_trunk(run.teacher) if teacher_lib.has_trunk(run.teacher) else None
    return mechanism.MechanismProbe(run.probe_batches, run.train_positive_batches, run.val_positive_batches,
                                    teacher_trunk)


def report_bad_images(bad: list[bad_images.BadImage], output_dir: pathlib.Path) -> None:
    """Lists the images left out (--bad_images=skip) in output_dir/bad_images.tsv, with a warning."""
    path = output_dir / bad_images.REPORT_FILE
    if not bad:
        path.unlink(missing_ok=True)
        return
    bad_images.write_report(bad, output_dir)
    shown = "; ".join(f"[{b.split}] {b.id}: {b.reason}" for b in bad[:3])
    logging.warning("Left out %d images that do not decode (%s%s); all are listed in %s", len(bad), shown,
                    "; ..." if len(bad) > 3 else "", path)


def default_hparams(config: config_lib.TrainConfig) -> dict:
    """The method flags of a run, for the HParams dashboard."""
    keys = ("aux_weight", "focal_gamma", "cb_beta", "reweight_from_epoch", "ldam_max_margin", "logit_adjustment",
            "la_tau", "rare_batch_fraction", "background_keep", "learning_rate", "epochs", "seed")
    return {key: getattr(config, key) for key in keys}


def run():
    """Console-script entry point: the TrainConfig flags, then run_training."""
    config_lib.run_app(run_training)


if __name__ == "__main__":
    run()
