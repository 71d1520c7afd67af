"""A run's output folder: is it the same run, is it finished, and its final writes.

One rule says whether two flag sets describe the same run (same_run_differences): the checkpoints'
resume check, the refusal of a finished run and the experiment runners' resume all use it.
"""

from __future__ import annotations

import pathlib
import shutil

from absl import logging

from bgsplit_tf import config as config_lib, faults
from bgsplit_tf.data import bad_images
from bgsplit_tf.evaluation import run_results
from bgsplit_tf.training import checkpoints, precision

FLAGS_FILE = "flags.txt"
# Flags that say where things are, how often to save, or what to do with an existing folder, not what
# is trained: a run may resume, or count as the same, with them changed.
NOT_COMPARED = ("output_dir", "overwrite", "export_dir", "data_dir", "teacher_cache_dir", "checkpoint_steps",
                "verbose", "log_every_steps")
# Flags whose value means something different from machine to machine: a run folder records what they
# resolved to where the run trained (training.run resolves them once, before the folder is opened), and
# a flag set is compared by what it resolves to where the check runs. A run trained at auto = bfloat16
# is then another run than auto on a float32 machine, and one trained at "off" is the same run as
# "auto" where auto keeps float32.
# (A CPU where auto times the step resolves auto as the timings of this network kept on this machine say.)
RESOLVED = {"mixed_precision": lambda value, config: precision.resolve(value, precision.network_key(config)).chosen}
# What a flag missing from a stored set meant when that set was written, where that is not today's
# default: versions before --mixed_precision trained in float32, which today's default (auto) may not be.
MISSING_MEANT = {"mixed_precision": precision.OFF}


def same_run_differences(stored: dict[str, str], config: config_lib.TrainConfig) -> dict[str, tuple[str, str]]:
    """The one rule for "is this the same run?": {flag: (stored value, current value)} of the flags
    that differ, as the strings config.flag_values gives (a RESOLVED flag's current value followed by
    what it resolves to here, "auto (off here)"). NOT_COMPARED flags are ignored; a flag the stored set
    lacks (one added to bgsplit_tf since it was written) counts at what it meant then (MISSING_MEANT)
    or else its default value; a stored flag this version no longer has is ignored; stored values in
    an earlier version's form are read as that version meant them (config.canonical_flag_values);
    RESOLVED flags count as equal when they resolve alike on this machine."""
    stored = config_lib.canonical_flag_values(stored)
    current = config.flag_values()
    defaults = {**config_lib.TrainConfig.default_flag_values(), **MISSING_MEANT}

    differences = {}
    for name, new in current.items():
        old = stored.get(name, defaults[name])
        if name in NOT_COMPARED or old == new:
            continue
        resolve = RESOLVED.get(name)
        if resolve is None:
            differences[name] = (old, new)
        elif resolve(old, config) != (meant := resolve(new, config)):
            differences[name] = (old, new if meant == new else f"{new} ({meant} here)")
    return differences


def describe_differences(differences: dict[str, tuple[str, str]]) -> str:
    """"--name=<old> then, <new> now; ..." for an error message."""
    return "; ".join(f"--{name}={old or '(unset)'} then, {new or '(unset)'} now"
                     for name, (old, new) in sorted(differences.items()))


def stored_flags(run_dir: pathlib.Path) -> dict[str, str]:
    """The flags a run folder's flags.txt holds, as config.flag_values strings ({} without one)."""
    path = pathlib.Path(run_dir) / FLAGS_FILE
    return config_lib.parse_flag_lines(path.read_text().splitlines()) if path.exists() else {}


def finished_results(config: config_lib.TrainConfig) -> run_results.RunResults | None:
    """The results of a finished run of this config in its --output_dir, else None (with --overwrite
    always None: the run is to be trained afresh). ValueError if the folder holds a finished run of
    other flags, or a metrics.json that is not a finished run's."""
    run_dir = pathlib.Path(config.output_dir)
    if config.overwrite or not (run_dir / run_results.METRICS_FILE).exists():
        return None
    results = run_results.RunResults.read(run_dir / run_results.METRICS_FILE)
    differences = same_run_differences(_as_trained(stored_flags(run_dir), results), config)
    if differences:
        raise ValueError(f"{run_dir} holds a finished run with other flags ({describe_differences(differences)}); "
                         "use another --output_dir, pass --overwrite, or delete that folder to re-run it.")
    return results


def _as_trained(stored: dict[str, str], results: run_results.RunResults) -> dict[str, str]:
    """A finished run's stored flags with --mixed_precision at what it trained in: folders written
    before run folders recorded auto's choice say "auto", and metrics.json ("precision") says what it
    chose there."""
    if stored.get("mixed_precision") == precision.AUTO:
        return {**stored, "mixed_precision": results.precision.chosen}
    return stored


def open_run_folder(output_dir: pathlib.Path, config: config_lib.TrainConfig) -> None:
    """Makes output_dir ready for this config's run, before any work is done: a finished run is refused
    (refuse_finished_run), a checkpoint written under other flags is refused naming them (so that a
    refused resume leaves flags.txt and everything else as they were), then flags.txt is written.
    config: the run's flags with RESOLVED ones at what they resolved to (what the run trains with)."""
    refuse_finished_run(output_dir, config.overwrite)
    saved = checkpoints.newest_saved_flags(output_dir / checkpoints.DIRECTORY)
    differences = same_run_differences(saved, config) if saved is not None else {}
    if differences:
        raise faults.TrainingFault(
            f"{output_dir / checkpoints.DIRECTORY} holds a checkpoint of a run with other flags "
            f"({describe_differences(differences)}). Run the same command to resume it, or pass --overwrite to "
            "start afresh.")
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / FLAGS_FILE).write_text("\n".join(config.to_flag_lines()) + "\n")


def write_results(output_dir: pathlib.Path, results: run_results.RunResults) -> None:
    """Writes metrics.json, the finished marker, whole or not at all (RunResults.write), so that a crash
    leaves either no marker (the rerun resumes) or a complete one; then removes the checkpoints,
    which served only to resume."""
    results.write(output_dir / run_results.METRICS_FILE)
    shutil.rmtree(output_dir / checkpoints.DIRECTORY, ignore_errors=True)


def refuse_finished_run(output_dir: pathlib.Path, overwrite: bool) -> None:
    """A finished run (metrics.json present) is never trained over silently: TrainingFault, unless
    overwrite, which clears its checkpoints and TensorBoard logs so that the new run starts afresh and
    its curves do not mix with the old ones. Without overwrite, an unfinished run's checkpoints stay
    and training resumes from them."""
    metrics_path = output_dir / run_results.METRICS_FILE
    if overwrite:
        shutil.rmtree(output_dir / checkpoints.DIRECTORY, ignore_errors=True)
        shutil.rmtree(output_dir / "tensorboard", ignore_errors=True)
        metrics_path.unlink(missing_ok=True)
    if metrics_path.exists():
        finished = run_results.RunResults.read(metrics_path)
        raise faults.TrainingFault(
            f"{output_dir} holds a finished run (test mAP {finished.test.mAP:.4f}, val mAP "
            f"{finished.val.mAP:.4f}); it was left untouched. Pass --overwrite to train it afresh, or "
            "choose another --output_dir.")


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
