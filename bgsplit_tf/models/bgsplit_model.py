"""The training model: a keras.Model whose train_step applies main loss + lambda * aux loss."""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from bgsplit_tf.models import losses

MainLoss = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]  # (labels, logits, step) -> scalar


class BackgroundSplittingModel(keras.Model):
    """Trains a two-output network with L = L_main + aux_weight * L_aux.

    Data for fit/evaluate: (images, targets) where images are float32 [B, H, W, 3] in [0, 255] and
    targets is a dict with "label" int32 [B] (0 = background, 1..K rare), "teacher_label" int32 [B]
    and "teacher_probs" float32 [B, M], the teacher's predictions on the un-augmented image.

    aux_weight = 0 is the fine-tuning baseline: the aux loss is still computed and reported (it shows
    how far the trunk drifts from the teacher) but sends no gradient. Tracked metrics: loss,
    main_loss, aux_loss.

    main_loss(labels, logits, step) is any main-head loss (default: softmax cross-entropy; see
    losses.MainHeadLoss for the imbalance methods); step is the optimizer's iteration count.
    eval_logit_offset (float [K + 1], default zeros) is added to the main logits before the softmax
    at evaluation: post-hoc logit adjustment uses -tau * log(prior).
    """

    def __init__(
        self,
        network: keras.Model,
        aux_weight: float = 0.1,
        aux_targets: str = "hard",
        temperature: float = 1.0,
        main_loss: MainLoss | None = None,
        eval_logit_offset=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if aux_targets not in losses.AUX_TARGETS:
            raise ValueError(f"aux_targets={aux_targets!r} is not one of {losses.AUX_TARGETS}")
        self.network = network
        self.aux_weight = float(aux_weight)
        self.aux_targets = aux_targets
        self.temperature = float(temperature)
        self.main_loss = main_loss or losses.MainHeadLoss()
        num_main = network.output["main"].shape[-1]
        offset = np.zeros(num_main, np.float32) if eval_logit_offset is None else eval_logit_offset
        self.eval_logit_offset = tf.constant(offset, tf.float32, shape=[num_main])
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.main_loss_tracker = keras.metrics.Mean(name="main_loss")
        self.aux_loss_tracker = keras.metrics.Mean(name="aux_loss")

    def call(self, images, training=False):
        """images float32 [B, H, W, 3] in [0, 255] -> {"main": [B, K + 1], "aux": [B, M]} logits."""
        return self.network(images, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker, self.main_loss_tracker, self.aux_loss_tracker]

    def main_probabilities(self, outputs) -> tf.Tensor:
        """softmax(main logits + eval_logit_offset): float32 [B, K + 1], what evaluation ranks by."""
        return tf.nn.softmax(outputs["main"] + self.eval_logit_offset, axis=-1)

    def compute_losses(self, outputs, targets) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Returns (total, main, aux) float32 scalars for a batch of network outputs."""
        optimizer = getattr(self, "optimizer", None)  # absent before compile()
        step = optimizer.iterations if optimizer is not None else 0
        main = self.main_loss(targets["label"], outputs["main"], step)
        aux = losses.auxiliary_loss(targets, outputs["aux"], self.aux_targets, self.temperature)
        return main + self.aux_weight * aux, main, aux

    def _track(self, total, main, aux):
        self.loss_tracker.update_state(total)
        self.main_loss_tracker.update_state(main)
        self.aux_loss_tracker.update_state(aux)
        return {m.name: m.result() for m in self.metrics}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3 builds a model under tf.distribute by first reducing a distributed batch with
        # strategy.reduce, which fails under MultiWorkerMirroredStrategy (keras-team/keras#20585).
        # Our network is built when constructed and has no compiled losses or metrics, so once the
        # optimizer is built (build_optimizer) there is nothing left to build.
        if self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def build_optimizer(self) -> None:
        """Creates the optimizer's variables now (under the strategy scope the model was built in)."""
        self.optimizer.build(self.trainable_variables)

    def train_step(self, data):
        """One step on (images, targets): L = L_main + aux_weight * L_aux; returns the running loss means."""
        images, targets, _ = keras.utils.unpack_x_y_sample_weight(data)  # (fit, or train_on_batch)
        with tf.GradientTape() as tape:
            outputs = self(images, training=True)
            total, main, aux = self.compute_losses(outputs, targets)
            # Replicas' gradients are summed: each replica's mean over its share of the global batch is
            # divided by the number of replicas. A LossScaleOptimizer (--mixed_precision=float16) then
            # scales the loss up so that float16 gradients do not underflow, and unscales them in apply().
            scaled = self.optimizer.scale_loss(total / tf.distribute.get_strategy().num_replicas_in_sync)
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        return self._track(total, main, aux)

    def test_step(self, data):
        """The losses of one evaluation batch, without updating weights; returns the running loss means."""
        images, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        outputs = self(images, training=False)
        return self._track(*self.compute_losses(outputs, targets))
