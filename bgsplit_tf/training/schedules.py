"""Learning-rate schedule: linear warm-up, then cosine decay or step decay (the paper's code)."""

from __future__ import annotations

import math

import keras
from keras import ops

from bgsplit_tf.config import SCHEDULES


@keras.saving.register_keras_serializable(package="bgsplit_tf")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate at a step: linear warm-up to `peak` over `warmup_steps`, then either
    cosine decay to 0 at `total_steps` or multiplication by `decay_factor` at each step in
    `decay_boundaries` (the official code: x0.1 at epochs 20/40/60/80)."""

    def __init__(
        self,
        peak: float,
        total_steps: int,
        warmup_steps: int = 0,
        kind: str = "cosine",
        decay_boundaries: tuple[int, ...] = (),
        decay_factor: float = 0.1,
    ):
        if kind not in SCHEDULES:
            raise ValueError(f"schedule {kind!r} is not one of {SCHEDULES}")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.kind = kind
        self.decay_boundaries = tuple(int(b) for b in decay_boundaries)
        self.decay_factor = float(decay_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(self.warmup_steps, 1)
        if self.kind == "cosine":
            span = max(self.total_steps - self.warmup_steps, 1)
            progress = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
            after = self.peak * 0.5 * (1.0 + ops.cos(math.pi * progress))
        else:
            decays = sum(ops.cast(step >= boundary, "float32") for boundary in self.decay_boundaries)
            after = self.peak * ops.power(self.decay_factor, decays)
        return ops.where(step < self.warmup_steps, warm, after)

    def get_config(self):
        """The constructor's arguments, for Keras serialisation."""
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "kind": self.kind,
            "decay_boundaries": self.decay_boundaries,
            "decay_factor": self.decay_factor,
        }
