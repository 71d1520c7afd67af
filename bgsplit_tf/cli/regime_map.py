"""bgsplit-regime-map: where Background Splitting beats tuned fine-tuning, on the embedded benchmark.

  bgsplit-regime-map --flagfile=flags/regime_map_quick.cfg

Runs (or resumes) the map of bgsplit_tf.experiments.regime_map at a tier (quick: about two hours of 2 CPU cores
and more; full: a bigger machine) and writes to --results_dir: ledger.jsonl (every finished run),
results.csv and results.md (one line per cell: both methods' test mAP, BG - FT with its 95%
bootstrap interval, seeds ahead, verdict), tuning.csv, regime_map.png and mechanism.png (the central
cell's per-epoch mechanism, BG vs FT). Training flags (--data_dir, ...) apply to every run.
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
    from bgsplit_tf.experiments import regime_map

    flags.DEFINE_enum("tier", "quick", list(regime_map.TIERS), "Size of the map (see bgsplit_tf.experiments.regime_map.TIERS).")
    flags.DEFINE_string("results_dir", "", "Where the ledger, tables and figures go (empty: --output_dir).")
    flags.DEFINE_bool("report_only", False, "Train nothing: write the tables and figures from the runs the ledger "
                      "holds so far (cells whose tuning has finished, with their finished seeds).")
    flags.DEFINE_float("time_budget_hours", None, "After this long, no more extra seeds for unresolved cells.",
                       lower_bound=0.0)


def write_outputs(results_dir: pathlib.Path, summaries: list[dict], regime, title: str) -> None:
    """results.csv/.md, tuning.csv, regime_map.png and mechanism.png from the map's summaries and ledger."""
    from bgsplit_tf.evaluation import plots
    from bgsplit_tf.experiments import comparison, ledger, regime_map

    results_dir.mkdir(parents=True, exist_ok=True)
    comparison.write_csv(results_dir / "results.csv", summaries)
    comparison.write_csv(results_dir / "tuning.csv", [{**t, "val_mAP": json.dumps(t["val_mAP"])}
                                                       for t in regime.tuning])
    ft_lr, ft_length = regime.ft_choice[("fine", 5, 2)]
    (results_dir / "results.md").write_text(
        f"# {title}\n\nChosen on validation: fine-tuning lr {ft_lr}, {ft_length} schedule; Background Splitting "
        f"lambda {regime.bg_lambda}.\n\n{regime_map.markdown_table(summaries)}\n## Tuning runs (validation mAP)\n\n"
        f"{ledger.tuning_table(regime.tuning, 'seed')}")
    (results_dir / "regime_map.png").write_bytes(plots.regime_map_png(summaries, title))
    central = summaries[0]
    histories = {method: ledger.histories_of(regime.ledger, central[f"{prefix}_setting"])
                 for method, prefix in (("fine-tuning (tuned)", "ft"), ("Background Splitting", "bg"))}
    (results_dir / "mechanism.png").write_bytes(plots.mechanism_png(histories, f"{title}: central cell, per epoch"))


def run_regime_map(base: config_lib.TrainConfig) -> None:
    """Runs the map the flags describe and prints its table."""
    from bgsplit_tf.experiments import regime_map
    from bgsplit_tf.training import run as run_lib
    from bgsplit_tf.training import targets_memo

    tier = regime_map.TIERS[FLAGS.tier]
    results_dir = pathlib.Path(FLAGS.results_dir or base.output_dir)
    budget = FLAGS.time_budget_hours * 3600 if FLAGS.time_budget_hours is not None else None
    started = time.time()
    memo = targets_memo.TargetsMemo()
    if FLAGS.report_only:
        summaries, regime = regime_map.report_map(base, tier, results_dir)
        title = f"Regime map, {tier.name} tier ({base.dataset}), partial: {len(regime.ledger.rows)} runs finished"
    else:
        summaries, regime = regime_map.run_map(base, tier, results_dir, lambda c: run_lib.run_training(c, memo),
                                               budget)
        title = f"Regime map, {tier.name} tier ({base.dataset})"
    write_outputs(results_dir, summaries, regime, title)
    print(f"\n{regime_map.markdown_table(summaries)}\nWall time of this invocation: {time.time() - started:.0f} s; "
          f"written to {results_dir}")


def run():
    """Console-script entry point: the training flags, the map's own, then run_regime_map."""
    program.run_app(run_regime_map, __name__, define_flags)


if __name__ == "__main__":
    run()
