"""bgsplit-bench: how fast one training configuration runs on this machine, and where the time goes
(bench.training_speed describes the cases). Writes the JSON report to --output and prints it."""

from __future__ import annotations

import json
import pathlib

from absl import app, flags

from bgsplit_tf import config as config_lib
from bgsplit_tf.bench import training_speed

FLAGS = flags.FLAGS


def main(argv):
    """Runs the chosen cases and writes the JSON report (absl main)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = config_lib.config_from_flags()
    result = training_speed.run_benchmark(config, FLAGS.steps, FLAGS.warmup, FLAGS.repeats, FLAGS.jpeg_images, "".join(FLAGS.cases))
    text = json.dumps(result, indent=2)
    pathlib.Path(FLAGS.output).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(FLAGS.output).write_text(text + "\n")
    print(text)


def run():
    """Console-script entry point: the TrainConfig flags (teacher, batch size...) plus the bench's own."""
    config_lib.define_flags()
    flags.DEFINE_integer("steps", 20, "Steps per timed epoch.", lower_bound=1)
    flags.DEFINE_integer("warmup", 1, "Untimed epochs first (compilation, caches).", lower_bound=1)
    flags.DEFINE_integer("repeats", 5, "Timed epochs; the median is reported.", lower_bound=1)
    flags.DEFINE_integer("jpeg_images", 2560, "Training images in the generated JPEG folder of case d.", lower_bound=64)
    flags.DEFINE_string("output", "runs/bench/bench.json", "Where the JSON goes.")
    flags.DEFINE_multi_enum("cases", list(training_speed.CASE_LETTERS), list(training_speed.CASE_LETTERS),
                            "Which timed cases run (repeat the flag: --cases=a --cases=b); the FLOPs always come.")
    config_lib.show_in_help(config_lib.__name__, __name__)
    app.run(main)


if __name__ == "__main__":
    run()
