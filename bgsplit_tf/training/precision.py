"""The trunk's compute precision (--mixed_precision), and what `auto` chooses on this hardware.

bfloat16 halves the bytes every convolution moves and, where the silicon multiplies bfloat16 matrices
natively, runs the multiplications faster: CPUs with AMX tiles (amx_tile and amx_bf16), GPUs of compute
capability 8.0 or newer (Ampere), and TPUs. `auto` picks bfloat16 there and float32 elsewhere. A CPU
with AVX-512 BF16 (avx512_bf16) but no AMX has bfloat16 dot-product instructions, yet on it the trunk
runs barely faster in bfloat16 (bgsplit-bench, case h), so `auto` keeps float32 there too. Variables,
logits and losses stay float32 in every case. $BGSPLIT_AUTO_PRECISION, where set and not empty, is what `auto`
means whatever the hardware (the test suite sets it to off, so that its figures do not depend on the machine).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import tensorflow as tf

OFF, BFLOAT16, FLOAT16, AUTO = "off", "bfloat16", "float16", "auto"
AMX_BFLOAT16_CPU_FLAGS = ("amx_tile", "amx_bf16")  # both present: bfloat16 matrix tiles
BFLOAT16_CPU_FLAGS = (*AMX_BFLOAT16_CPU_FLAGS, "avx512_bf16")  # every bfloat16 flag, reported
BFLOAT16_GPU_CAPABILITY = (8, 0)
CPUINFO = pathlib.Path("/proc/cpuinfo")
AUTO_ENV = "BGSPLIT_AUTO_PRECISION"  # pins what auto chooses: off, bfloat16 or float16


@dataclasses.dataclass(frozen=True)
class Precision:
    """The chosen precision (OFF, BFLOAT16 or FLOAT16), the flag's setting, and why, in words; the CPU
    flags that decided it, if any."""

    chosen: str
    setting: str
    reason: str
    cpu_flags: tuple[str, ...] = ()

    @property
    def trunk_dtype(self) -> str:
        """The Keras dtype policy name of the trunk: float32, or mixed_bfloat16 / mixed_float16."""
        return "float32" if self.chosen == OFF else f"mixed_{self.chosen}"


def cpu_flags(cpuinfo: pathlib.Path = CPUINFO) -> frozenset[str]:
    """The instruction-set flags the kernel reports for this CPU in `cpuinfo` (/proc/cpuinfo's format).
    Empty where that is not a file."""
    if not cpuinfo.is_file():
        return frozenset()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def resolve(setting: str) -> Precision:
    """What --mixed_precision=setting means on this machine: itself, or for AUTO the choice of the
    module docstring ($BGSPLIT_AUTO_PRECISION, else the first accelerator, else the CPU's flags)."""
    if setting != AUTO:
        return Precision(setting, setting, f"--mixed_precision={setting}")
    pinned = os.environ.get(AUTO_ENV)
    if pinned:
        if pinned not in (OFF, BFLOAT16, FLOAT16):
            raise ValueError(f"${AUTO_ENV}={pinned!r}: expected {OFF}, {BFLOAT16} or {FLOAT16} (or unset it to let "
                             "the hardware decide).")
        return Precision(pinned, setting, f"${AUTO_ENV}={pinned} pins what auto chooses")
    if tf.config.list_logical_devices("TPU"):
        return Precision(BFLOAT16, setting, "a TPU multiplies bfloat16 natively")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        if tuple(capability) >= BFLOAT16_GPU_CAPABILITY:
            return Precision(BFLOAT16, setting, f"a GPU of compute capability {capability[0]}.{capability[1]} "
                                                "multiplies bfloat16 natively")
        return Precision(OFF, setting, f"a GPU of compute capability {capability[0]}.{capability[1]} (below 8.0) "
                                       "has no native bfloat16")
    return for_cpu(cpu_flags())


def for_cpu(flags: frozenset[str]) -> Precision:
    """`auto`'s choice on a CPU with these instruction-set flags (cpu_flags): bfloat16 with AMX tiles."""
    present = tuple(flag for flag in BFLOAT16_CPU_FLAGS if flag in flags)
    if set(AMX_BFLOAT16_CPU_FLAGS) <= set(present):
        return Precision(BFLOAT16, AUTO, f"this CPU multiplies bfloat16 matrices natively ({', '.join(present)})",
                         present)
    if present:
        return Precision(OFF, AUTO, f"this CPU has {', '.join(present)} but no AMX tiles, where bfloat16 gains "
                                    "too little: float32", present)
    return Precision(OFF, AUTO, f"this CPU has none of {', '.join(BFLOAT16_CPU_FLAGS)}: float32")
