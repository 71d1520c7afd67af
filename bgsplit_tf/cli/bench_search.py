"""bgsplit-bench-search: round time of the labelling loop on a pool, and positives found per 100 images
reviewed by each strategy (search.benchmark); writes the JSON report and a plot of positives found against
images reviewed.

  bgsplit-bench-search --pool=tfds:bgsplit_shapes/train+test+validation+pretrain --rounds=5 --seeds=0,1,2
"""

from __future__ import annotations

import json

from absl import app, flags

from bgsplit_tf.cli import program, round_flags

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The benchmark's flags (defined when it runs)."""
    from bgsplit_tf.search import simulation

    flags.DEFINE_string("pool", "tfds:bgsplit_shapes/train", "The pool (a data.sources pool spec with labels: the "
                        "simulated labeller answers from them).")
    round_flags.define_round_flags()
    flags.DEFINE_string("label_key", "species", "Feature of a tfds: pool holding the ground truth.")
    flags.DEFINE_string("cache_dir", "runs/bench_search/cache", "Where the pool cache goes (reused if it matches).")
    flags.DEFINE_list("strategies", list(simulation.STRATEGIES), "Strategies to compare.")
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds: each draws its categories and examples.")
    flags.DEFINE_integer("rounds", 5, "Rounds per search.", lower_bound=1)
    flags.DEFINE_integer("timing_rounds", 3, "Rounds timed (one search, the first seed's examples).", lower_bound=1)
    flags.DEFINE_integer("categories", 2, "Target categories per search.", lower_bound=1)
    flags.DEFINE_integer("examples", 3, "Example images per category.", lower_bound=1)
    flags.DEFINE_string("output", "runs/bench_search/report.json", "Where the JSON goes (the plot beside it).")


def main(argv):
    """Runs the benchmark, writes the report and the plot (absl main)."""
    from bgsplit_tf.search import benchmark
    from bgsplit_tf.evaluation import plots

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    output = program.output_file(FLAGS.output, suffix=".json")
    config = round_flags.round_config_from_flags()
    report = benchmark.run_benchmark(FLAGS.pool, FLAGS.cache_dir, FLAGS.data_dir or None, FLAGS.label_key,
                                  FLAGS.strategies, [int(s) for s in FLAGS.seeds], FLAGS.rounds, FLAGS.categories,
                                  FLAGS.examples, config, FLAGS.timing_rounds, FLAGS.teacher)
    output.write_text(json.dumps(report, indent=2) + "\n")
    output.with_suffix(".png").write_bytes(plots.found_against_reviewed_png(report["runs"], report["pool"]))
    print(json.dumps({key: report[key] for key in ("pool_images", "cache_seconds", "round_seconds", "summary")},
                     indent=2))


def run():
    """Console-script entry point."""
    program.run_program(main, define_flags, __name__, round_flags.__name__)


if __name__ == "__main__":
    run()
