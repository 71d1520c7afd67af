"""The trunk's compute precision (--mixed_precision), and what `auto` chooses on this hardware.

bfloat16 halves the bytes every convolution moves and, where the silicon multiplies bfloat16 matrices
natively, can run the multiplications faster; whether a given network gains depends on the network as
much as on the chip (a small or depthwise-heavy network may not). So `auto`:
  - on a TPU, and a GPU of compute capability 8.0 or newer (Ampere), picks bfloat16; an older GPU float32;
  - on a CPU without any bfloat16 instruction (amx_bf16, avx512_bf16), picks float32: bfloat16 is
    emulated there and only slower;
  - on a CPU with them, times this network's own training step in both precisions on this machine
    (training.precision_timing: a few steps each, on a batch of the run's shape) and picks bfloat16 only
    when its step is at least BFLOAT16_SPEEDUP_NEEDED times faster. The timings are kept in
    $XDG_CACHE_HOME/bgsplit_tf/precision.json (~/.cache without it) per CPU model, TensorFlow version and
    network, so they are taken once; the choice, the timings and the reason go to the log, metrics.json
    ("precision") and the model card.
Variables, logits and losses stay float32 in every case. $BGSPLIT_AUTO_PRECISION, where set and not empty,
is what `auto` means whatever the hardware (the test suite sets it to off, so that its figures do not
depend on the machine); an explicit --mixed_precision is never timed.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Callable

import tensorflow as tf

from bgsplit_tf import config as config_lib, json_files
from bgsplit_tf.evaluation.run_results import TrunkPrecision

OFF, BFLOAT16, FLOAT16, AUTO = "off", "bfloat16", "float16", "auto"
AMX_BFLOAT16_CPU_FLAGS = ("amx_tile", "amx_bf16")  # both present: bfloat16 matrix tiles
BFLOAT16_CPU_FLAGS = (*AMX_BFLOAT16_CPU_FLAGS, "avx512_bf16")  # every bfloat16 flag, reported
BFLOAT16_GPU_CAPABILITY = (8, 0)
CPUINFO = pathlib.Path("/proc/cpuinfo")
AUTO_ENV = "BGSPLIT_AUTO_PRECISION"  # pins what auto chooses: off, bfloat16 or float16
BFLOAT16_SPEEDUP_NEEDED = 1.10  # float32 step time / bfloat16 step time at or above which auto picks bfloat16
TIMINGS_FILE = "precision.json"


def trunk_dtype(precision: TrunkPrecision) -> str:
    """The Keras dtype policy name of the trunk: float32, or mixed_bfloat16 / mixed_float16."""
    return "float32" if precision.chosen == OFF else f"mixed_{precision.chosen}"


def cpu_flags(cpuinfo: pathlib.Path = CPUINFO) -> frozenset[str]:
    """The instruction-set flags the kernel reports for this CPU in `cpuinfo` (/proc/cpuinfo's format).
    Empty where that is not a file."""
    if not cpuinfo.is_file():
        return frozenset()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def resolve(setting: str, network: str = "", time_steps: Callable[[], dict] | None = None) -> TrunkPrecision:
    """What --mixed_precision=setting means on this machine: itself, or for AUTO the choice of the
    module docstring ($BGSPLIT_AUTO_PRECISION, else the first accelerator, else the CPU).

    network: what the timings of this network are filed under (network_key); time_steps:
    () -> {"float32": seconds per step, "bfloat16": seconds per step}, called when a CPU with bfloat16
    instructions has no timings of this network yet. Without it such a CPU keeps float32 (said so)."""
    if setting != AUTO:
        return TrunkPrecision(setting, setting, f"--mixed_precision={setting}")
    pinned = os.environ.get(AUTO_ENV)
    if pinned:
        if pinned not in (OFF, BFLOAT16, FLOAT16):
            raise ValueError(f"${AUTO_ENV}={pinned!r}: expected {OFF}, {BFLOAT16} or {FLOAT16} (or unset it to let "
                             "the hardware decide).")
        return TrunkPrecision(pinned, setting, f"${AUTO_ENV}={pinned} pins what auto chooses")
    if tf.config.list_logical_devices("TPU"):
        return TrunkPrecision(BFLOAT16, setting, "a TPU multiplies bfloat16 natively")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        if tuple(capability) >= BFLOAT16_GPU_CAPABILITY:
            return TrunkPrecision(BFLOAT16, setting, f"a GPU of compute capability {capability[0]}.{capability[1]} "
                                                "multiplies bfloat16 natively")
        return TrunkPrecision(OFF, setting, f"a GPU of compute capability {capability[0]}.{capability[1]} (below 8.0) "
                                       "has no native bfloat16")
    return for_cpu(cpu_flags(), network, time_steps)


def for_cpu(flags: frozenset[str], network: str = "", time_steps: Callable[[], dict] | None = None,
            cache: pathlib.Path | None = None) -> TrunkPrecision:
    """`auto`'s choice on a CPU with these instruction-set flags (cpu_flags): float32 without bfloat16
    instructions, else from this network's step timed in both precisions (kept in `cache`, default
    timings_cache())."""
    present = tuple(flag for flag in BFLOAT16_CPU_FLAGS if flag in flags)
    if not present:
        return TrunkPrecision(OFF, AUTO, f"this CPU has none of {', '.join(BFLOAT16_CPU_FLAGS)}, so bfloat16 would be "
                                    "emulated: float32")
    cache = cache or timings_cache()
    key = f"{cpu_model()} | {' '.join(present)} | TensorFlow {tf.__version__} | {network}"
    stored = json.loads(cache.read_text()) if cache.is_file() else {}
    cached = key in stored
    if not cached:
        if time_steps is None:
            return TrunkPrecision(OFF, AUTO, f"this CPU has {', '.join(present)}, but this network's step has not been "
                                        "timed in both precisions here yet: float32", present)
        stored[key] = time_steps()
        json_files.write_whole(cache, stored, sort_keys=True)
    return timed_choice(stored[key], present, cached)


def timed_choice(step_seconds: dict, present: tuple[str, ...], cached: bool) -> TrunkPrecision:
    """bfloat16 when step_seconds ({"float32": s, "bfloat16": s}) shows it BFLOAT16_SPEEDUP_NEEDED times
    faster, else float32, with the timings in the reason."""
    speedup = step_seconds["float32"] / step_seconds["bfloat16"]
    chosen = BFLOAT16 if speedup >= BFLOAT16_SPEEDUP_NEEDED else OFF
    verdict = "bfloat16" if chosen == BFLOAT16 else f"float32 (bfloat16 would need {BFLOAT16_SPEEDUP_NEEDED:.2f}x)"
    reason = (f"this network's training step, timed on this CPU ({', '.join(present)}){' by an earlier run' if cached else ''}: "
              f"float32 {step_seconds['float32']:.3f} s, bfloat16 {step_seconds['bfloat16']:.3f} s per step, "
              f"bfloat16 {speedup:.2f}x as fast: {verdict}")
    return TrunkPrecision(chosen, AUTO, reason, present, dict(step_seconds), cached)


def network_key(config: config_lib.TrainConfig) -> str:
    """What the step timings of a run's network are filed under besides the machine: the flags that
    shape its training step."""
    return (f"teacher={config.teacher or 'embedded'} trunk={config.trunk or 'teacher'} image_size={config.image_size} "
            f"frozen_through={config.frozen_through or '-'} freeze_trunk={config.freeze_trunk} "
            f"batch_size={config.batch_size} num_rare={config.num_rare} jit_compile={config.jit_compile}")


def timings_cache() -> pathlib.Path:
    """Where auto keeps its step timings: $XDG_CACHE_HOME/bgsplit_tf/precision.json (~/.cache without it)."""
    root = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(root) / "bgsplit_tf" / TIMINGS_FILE


def cpu_model(cpuinfo: pathlib.Path = CPUINFO) -> str:
    """The CPU's model name from `cpuinfo` (/proc/cpuinfo's format); "unknown CPU" where it says none."""
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"
