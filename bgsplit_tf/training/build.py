"""The compiled model of a run: the two-output network from the teacher (or --trunk), the main-head
loss of the configured imbalance method, SGD with warm-up and decay, XLA where it pays."""

from __future__ import annotations

import keras
import tensorflow as tf

from bgsplit_tf import config as config_lib
from bgsplit_tf.evaluation import run_results
from bgsplit_tf.models import bgsplit_model, losses, network as network_lib, teacher as teacher_lib
from bgsplit_tf.training import distribute, precision as precision_lib, schedules


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
                trunk_donor: keras.Model | None = None, precision: run_results.TrunkPrecision | None = None):
    """The compiled BackgroundSplittingModel for a config (SGD, warm-up + decay schedule, XLA). Call it
    under the run's strategy.scope() to build it for tf.distribute.

    class_counts: kept training images per main class [K + 1], for the imbalance methods.
    trunk_donor: the model whose trunk the student copies (default: the teacher, whose classifier
    then also starts the aux head; otherwise the aux head starts fresh over the teacher's classes).
    precision: the trunk's compute precision (default: --mixed_precision resolved, precision.resolve).
    """
    trunk_donor = teacher if trunk_donor is None else trunk_donor
    precision = precision or precision_lib.resolve(config.mixed_precision)
    network = network_lib.network_from_teacher(
        trunk_donor, len(class_counts) - 1, config.fixed_background_logit,
        cosine_scale=config.logit_scale if config.cosine_head else None,
        fresh_aux_classes=None if trunk_donor is teacher else int(teacher.output_shape[-1]),
        trunk_dtype=precision_lib.trunk_dtype(precision),
        synchronized_batch_norm=distribute.is_distributed(tf.distribute.get_strategy()),
    )
    if config.freeze_trunk:
        network.get_layer(teacher_lib.TRUNK_LAYER).trainable = False
    elif config.freeze_batch_norm:
        network_lib.freeze_batch_norm(network.get_layer(teacher_lib.TRUNK_LAYER))
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
    if precision.chosen == precision_lib.FLOAT16:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, jit_compile=use_xla(config))
    model.build_optimizer()
    return model


def use_xla(config: config_lib.TrainConfig) -> bool:
    """--jit_compile if given, else whether an accelerator (GPU or TPU) is present."""
    if config.jit_compile is not None:
        return config.jit_compile
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
