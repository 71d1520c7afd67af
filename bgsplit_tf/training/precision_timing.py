"""This network's own training step timed in float32 and in bfloat16 on this machine: what
--mixed_precision=auto decides from on a CPU with bfloat16 instructions (training.precision).

Both models are built as the run builds its model (training.build, from the run's teacher and trunk, the
frozen part left out under --frozen_through) and trained on one batch of the run's shape (random pixels
or maps, uniform teacher targets): WARMUP_STEPS untimed (tracing, compilation), then TIMED_STEPS each,
the two precisions alternating so that a change in the machine's load falls on both; the median step of
each is kept.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import numpy as np

from bgsplit_tf import config as config_lib
from bgsplit_tf.evaluation import run_results
from bgsplit_tf.models import trunk_split
from bgsplit_tf.training import build, precision as precision_lib
from bgsplit_tf.training import run_inputs

WARMUP_STEPS = 2
TIMED_STEPS = 5
CLASS_COUNTS_PER_RARE = 10  # stand-in class counts of the timed model (the imbalance losses need some)
BACKGROUND_COUNT = 1000


def step_seconds(config: config_lib.TrainConfig, steps: int = TIMED_STEPS) -> dict[str, float]:
    """{"float32": median seconds per step, "bfloat16": ...} of the config's training step on this machine."""
    teacher = run_inputs.teacher_of(config)
    trunk_donor = run_inputs.trunk_donor_of(config, teacher)
    if config.frozen_through:  # the step trains the upper part on the frozen part's maps
        _, teacher = trunk_split.split_teacher(teacher, config.frozen_through)
        trunk_donor = teacher
    counts = [BACKGROUND_COUNT] + [CLASS_COUNTS_PER_RARE] * config.num_rare
    trials = {"float32": precision_lib.OFF, "bfloat16": precision_lib.BFLOAT16}
    models = {name: build.build_model(config, teacher, counts, 100, trunk_donor,
                                      run_results.TrunkPrecision(chosen, chosen, "timed"))
              for name, chosen in trials.items()}
    rng = np.random.default_rng(0)
    shape = (config.batch_size, *teacher.input_shape[1:])
    images = rng.uniform(0, 255, shape).astype(np.float32)
    num_classes = int(teacher.output_shape[-1])
    targets = {"label": rng.integers(0, config.num_rare + 1, config.batch_size).astype(np.int32),
               "teacher_label": rng.integers(0, num_classes, config.batch_size).astype(np.int32),
               "teacher_probs": np.full((config.batch_size, num_classes), 1 / num_classes, np.float32)}
    seconds = {name: [] for name in models}
    for step in range(WARMUP_STEPS + steps):
        for name, model in models.items():
            started = time.perf_counter()
            model.train_on_batch(images, targets)
            if step >= WARMUP_STEPS:
                seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(times) for name, times in seconds.items()}


def resolve(config: config_lib.TrainConfig) -> run_results.TrunkPrecision:
    """--mixed_precision resolved for this run (precision.resolve), timing its step when auto needs it.
    Workers of --strategy=multi_worker do not time (each would decide alone, and they must agree): they
    use timings kept on their machine, else float32."""
    timed = None if config.strategy == "multi_worker" else (
        lambda: step_seconds(dataclasses.replace(config, mixed_precision=precision_lib.OFF)))
    return precision_lib.resolve(config.mixed_precision, precision_lib.network_key(config), timed)
