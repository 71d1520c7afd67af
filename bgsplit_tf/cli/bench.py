"""bgsplit-bench: how fast one training configuration runs on this machine, and where the time goes
(speed.training_speed describes the cases). Writes the JSON report to --output and prints it."""

from __future__ import annotations

import json

from absl import flags

from bgsplit_tf.speed import training_speed
from bgsplit_tf.cli import program

FLAGS = flags.FLAGS


def bench(config) -> None:
    """Runs the chosen cases and writes the JSON report."""
    output = program.output_file(FLAGS.output)
    result = training_speed.run_benchmark(config, FLAGS.steps, FLAGS.warmup, FLAGS.repeats, FLAGS.jpeg_images,
                                          "".join(FLAGS.cases))
    text = json.dumps(result, indent=2)
    output.write_text(text + "\n")
    print(text)


def define_flags() -> None:
    """The bench's own flags (besides the TrainConfig flags: teacher, batch size...)."""
    flags.DEFINE_integer("steps", 20, "Steps per timed epoch.", lower_bound=1)
    flags.DEFINE_integer("warmup", 1, "Untimed epochs first (compilation, caches).", lower_bound=1)
    flags.DEFINE_integer("repeats", 5, "Timed epochs; the median is reported.", lower_bound=1)
    flags.DEFINE_integer("jpeg_images", 2560, "Training images in the generated JPEG folder of case d.", lower_bound=64)
    flags.DEFINE_string("output", "runs/bench/bench.json", "Where the JSON goes.")
    flags.DEFINE_multi_enum("cases", list(training_speed.CASE_LETTERS), list(training_speed.CASE_LETTERS),
                            "Which timed cases run (repeat the flag: --cases=a --cases=b); the FLOPs always come.")


def run():
    """Console-script entry point: the TrainConfig flags plus the bench's own, then bench."""
    program.run_app(bench, __name__, define_flags)


if __name__ == "__main__":
    run()
