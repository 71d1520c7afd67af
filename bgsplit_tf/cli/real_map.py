"""bgsplit-real-map: Background Splitting against tuned fine-tuning on real photographs (Fashion-MNIST)
with a real ImageNet teacher (EfficientNet-Lite0), paired by rare task.

  bgsplit-real-map --flagfile=flags/real_map_quick.cfg

Runs (or resumes) the map of bgsplit_tf.experiments.real_map (benchmarks/real_map.md states its
design) and writes to --results_dir: ledger.jsonl (every finished run), results.md and results.csv
(one line per cell: both methods' test mAP, BG - FT with its 95% bootstrap interval over tasks, tasks
ahead, verdict), per_category.csv (the central cell and the linear probe by task), tuning.csv,
real_map.png and mechanism.png (the central cell's per-epoch mechanism, BG vs FT). One invocation
computes the frozen trunk's maps and the teacher's targets once for all its runs.
"""

from __future__ import annotations

import json
import pathlib
import time

from absl import flags

from bgsplit_tf import config as config_lib
from bgsplit_tf.cli import program

FLAGS = flags.FLAGS


def define_flags():
    """The map's own flags (besides every training flag)."""
    flags.DEFINE_string("results_dir", "", "Where the ledger, tables and figures go (empty: --output_dir).")
    flags.DEFINE_bool("report_only", False, "Train nothing: write the tables and figures from the runs the ledger "
                      "holds so far (cells whose tuning has finished, with their finished tasks).")


def per_task_table(rows: list[dict], compared: bool) -> str:
    """Markdown: one line per task (experiments.real_map.per_task_rows), with FT and BG - FT if compared."""
    if compared:
        lines = ["| task | rare | tuned FT test AP | BG test AP | BG - FT |", "|---|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['categories']} | {r['ft_test_mAP']:.3f} | {r['bg_test_mAP']:.3f} | "
                  f"{r['difference']:+.3f} |" for r in rows]
    else:
        lines = ["| task | rare | linear probe test AP |", "|---|---|---|"]
        lines += [f"| {r['task']} | {r['categories']} | {r['bg_test_mAP']:.3f} |" for r in rows]
    return "\n".join(lines) + "\n"


def write_outputs(results_dir: pathlib.Path, summaries: list[dict], real, title: str) -> None:
    """results.md/.csv, per_category.csv, tuning.csv, real_map.png and mechanism.png."""
    from bgsplit_tf.evaluation import plots
    from bgsplit_tf.experiments import comparison, ledger, real_map, regime_map

    results_dir.mkdir(parents=True, exist_ok=True)
    comparison.write_csv(results_dir / "results.csv", summaries)
    comparison.write_csv(results_dir / "tuning.csv", [{**t, "val_mAP": json.dumps(t["val_mAP"])} for t in real.tuning])
    cells = {(cell.axis, cell.value): cell for cell in real_map.cells()}
    central, probe = (cells[("central", "K=1, N=2, lambda chosen")], cells[("linear probe", "frozen trunk, N=2")])
    central_rows, probe_rows = real_map.per_task_rows(real, central), real_map.per_task_rows(real, probe)
    comparison.write_csv(results_dir / "per_category.csv", [{"cell": "central", **r} for r in central_rows]
                         + [{"cell": "linear probe", **r} for r in probe_rows])
    wall = sum(row["wall_seconds"] for row in real.ledger.rows.values())
    (results_dir / "results.md").write_text(
        f"# {title}\n\nChosen on validation: fine-tuning lr {real.ft_learning_rate}; Background Splitting lambda "
        f"{real.bg_lambda}. Training runs in the ledger: {len(real.ledger.rows)}, {wall:.0f} s ({wall / 3600:.2f} h) "
        f"of wall time summed over them.\n\n{regime_map.markdown_table(summaries, unit='tasks')}\n"
        f"## Central cell by category\n\n{per_task_table(central_rows, compared=True)}\n"
        f"## Linear probe (the frozen ImageNet trunk's features alone)\n\n{per_task_table(probe_rows, compared=False)}\n"
        f"## Tuning runs (validation mAP)\n\n{ledger.tuning_table(real.tuning, 'task')}")
    (results_dir / "real_map.png").write_bytes(plots.regime_map_png(summaries, title, paired_by="task"))
    first = summaries[0]
    histories = {method: ledger.histories_of(real.ledger, first[f"{prefix}_setting"])
                 for method, prefix in (("fine-tuning (tuned)", "ft"), ("Background Splitting", "bg"))}
    (results_dir / "mechanism.png").write_bytes(plots.mechanism_png(histories, f"{title}: central cell, per epoch"))


def run_real_map(base: config_lib.TrainConfig) -> None:
    """Runs (or reports) the map the flags describe and prints its table."""
    from bgsplit_tf.experiments import real_map, regime_map
    from bgsplit_tf.training import run as run_lib
    from bgsplit_tf.training import targets_memo

    results_dir = pathlib.Path(FLAGS.results_dir or base.output_dir)
    started = time.time()
    if FLAGS.report_only:
        summaries, real = real_map.report_map(base, results_dir)
        title = f"Real map, quick tier ({base.dataset}), partial: {len(real.ledger.rows)} runs finished"
    else:
        memo = targets_memo.TargetsMemo()
        summaries, real = real_map.run_map(base, results_dir, lambda c: run_lib.run_training(c, memo))
        title = f"Real map, quick tier ({base.dataset})"
    write_outputs(results_dir, summaries, real, title)
    print(f"\n{regime_map.markdown_table(summaries, unit='tasks')}\nWall time of this invocation: "
          f"{time.time() - started:.0f} s; written to {results_dir}")


def run():
    """Console-script entry point: the training flags, the map's own, then run_real_map."""
    program.run_app(run_real_map, __name__, define_flags)


if __name__ == "__main__":
    run()
