"""Where a command's time goes: wall seconds per phase, summed over the process.

  with phases.timed(phases.TRAINING):
      ...
  phases.totals()          {phase: seconds so far}
  phases.since(earlier)    the seconds each phase added since an earlier totals()

A phase timed inside another counts for the inner one only (the teacher's pass inside preparing a run is
the teacher's pass, not also something else), so the phases of an invocation add up to at most its wall
time; what is left is everything untimed (imports, building models, writing tables). Any floor of the
library may time a phase: this module imports nothing of it.
"""

from __future__ import annotations

import collections
import contextlib
import time

RENDERING = "rendering"  # preparing a TFDS dataset (the embedded benchmark renders its images)
SCREENING = "screening"  # decoding a split once to find the images that do not decode
TEACHER = "teacher pass"  # the teacher's targets (with the screening of the same split), or frozen-trunk maps
TRAINING = "training"  # the epochs, with their per-epoch validation
EVALUATION = "evaluation"  # test predictions, pictures, the model file, card and export
ORDER = (RENDERING, SCREENING, TEACHER, TRAINING, EVALUATION)

_totals: collections.Counter = collections.Counter()
_open: list[list] = []  # [phase, seconds its inner phases took] of each phase being timed, innermost last


@contextlib.contextmanager
def timed(phase: str):
    """Adds the wall time of the block, less that of the phases timed inside it, to `phase`."""
    started = time.perf_counter()
    _open.append([phase, 0.0])
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        _, inner = _open.pop()
        _totals[phase] += elapsed - inner
        if _open:
            _open[-1][1] += elapsed


def totals() -> dict[str, float]:
    """{phase: seconds} timed in this process so far."""
    return dict(_totals)


def since(earlier: dict[str, float]) -> dict[str, float]:
    """{phase: seconds} each phase added since `earlier` (a totals()), in ORDER, the phases that added none
    left out."""
    added = {phase: seconds - earlier.get(phase, 0.0) for phase, seconds in _totals.items()}
    return {phase: added[phase] for phase in sorted(added, key=lambda p: ORDER.index(p) if p in ORDER else len(ORDER))
            if added[phase] > 0}


def summary(seconds: dict[str, float], wall_seconds: float) -> str:
    """"rendering 31 s, teacher pass 12 s, ..., other 20 s (of 300 s)": where a wall time went."""
    parts = [f"{phase} {value:.0f} s" for phase, value in seconds.items()]
    parts.append(f"other {max(0.0, wall_seconds - sum(seconds.values())):.0f} s")
    return f"{', '.join(parts)} (of {wall_seconds:.0f} s)"
