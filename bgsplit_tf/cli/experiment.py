"""bgsplit-experiment: the paper's comparison, one command away, on any rare-task source
(experiments.comparison says what it runs and writes).

  bgsplit-experiment --flagfile=flags/demo.cfg
"""

from __future__ import annotations

from absl import flags

from bgsplit_tf import config as config_lib
from bgsplit_tf.cli import program
from bgsplit_tf.experiments import comparison

FLAGS = flags.FLAGS


def define_flags():
    """The experiment's own flags (besides every training flag)."""
    flags.DEFINE_list("methods", ["finetune", "bgsplit"], f"Methods to compare, from: {', '.join(comparison.METHODS)}.")
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; each draws its own rare task, shared by all methods.")
    flags.DEFINE_list("background_fractions", [], "Train background fractions (the grid's x axis), e.g. "
                      "0.98,0.995,0.999; each sets N via --background_fraction. Empty: the base flags' task.")
    flags.DEFINE_bool("tune", True, "Choose each method's grid value on validation mAP (else: the first value; "
                      "a grid flag given on the command line, e.g. --aux_weight=0.1, is used as given). "
                      "Grids: " + "; ".join(f"{n}: {m.grid}" for n, m in {**comparison.BASELINES, "bgsplit": comparison.BGSPLIT}.items()
                                           if m.grid))
    flags.DEFINE_integer("tune_seed", None, "Seed of the tuning runs (default: the first of --seeds).")
    flags.DEFINE_float("tune_fraction", None, "Background fraction of the tuning runs (default: the middle of "
                       "--background_fractions).")
    flags.DEFINE_integer("parallel_runs", 1, "Training runs at once, each in a worker process of its own: on a CPU "
                         "that one run leaves partly idle (small images, small batches), 2 on 2 cores finish the grid "
                         "sooner. Each worker computes the teacher targets once for its runs.", lower_bound=1)
    flags.register_validator("methods", lambda ms: bool(ms) and all(m in comparison.METHODS for m in ms),
                             message=f"--methods must name methods from: {', '.join(comparison.METHODS)}")
    flags.register_validator("seeds", lambda ss: bool(ss) and all(s.lstrip("-").isdigit() for s in ss),
                             message="--seeds must be a comma-separated list of integers, e.g. 0,1,2")
    flags.register_validator("background_fractions", lambda fs: all(_is_fraction(f) for f in fs),
                             message="--background_fractions must be numbers strictly between 0 and 1, e.g. 0.98,0.999")


def _is_fraction(text: str) -> bool:
    try:
        return 0.0 < float(text) < 1.0
    except ValueError:
        return False


def run_grid(base: config_lib.TrainConfig) -> None:
    """Runs the experiment the flags describe and prints its results table."""
    grid = comparison.Grid(
        methods=tuple(FLAGS.methods),
        seeds=tuple(int(s) for s in FLAGS.seeds),
        fractions=tuple(float(f) for f in FLAGS.background_fractions) or (None,),
        tune=FLAGS.tune,
        tune_seed=FLAGS.tune_seed,
        tune_fraction=FLAGS.tune_fraction,
        pinned={key: getattr(base, key) for key in sorted(comparison.grid_keys()) if FLAGS[key].present},
        parallel_runs=FLAGS.parallel_runs,
    )
    rows = comparison.run_experiment(base, grid)
    print(f"\nTest mAP over {len(grid.seeds)} seeds ({base.dataset}, K={base.num_rare}):\n\n{comparison.markdown_table(rows)}\n"
          f"Written to {base.output_dir}/results.md, results.csv and comparison.png (and paired.csv, paired.png where "
          "a method ran with and without the aux loss)")


def run():
    """Console-script entry point: the training flags, the experiment's own, then run_grid (faults end
    with their message and exit status 3, as bgsplit-train's do)."""
    program.run_app(run_grid, __name__, define_flags)


if __name__ == "__main__":
    run()
