"""bgsplit-bench-decode: how fast our image decoding (EXIF orientation, size check) runs against a bare
tf.io.decode_image (speed.decode_speed); prints the JSON report."""

from __future__ import annotations

import json

from absl import app, flags

from bgsplit_tf.speed.decode_speed import benchmark
from bgsplit_tf.cli.program import run_program

FLAGS = flags.FLAGS


def main(argv):
    """Prints the benchmark's JSON report (absl main)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    print(json.dumps(benchmark(FLAGS.images, FLAGS.height, FLAGS.width, FLAGS.orientations, FLAGS.rounds,
                               FLAGS.passes), indent=2))


def define_flags() -> None:
    """The program's flags (defined when it runs)."""
    flags.DEFINE_integer("images", 400, "Distinct JPEGs generated.", lower_bound=1)
    flags.DEFINE_integer("height", 375, "Their height (iNaturalist-2017 images are about 500 x 375).", lower_bound=8)
    flags.DEFINE_integer("width", 500, "Their width.", lower_bound=8)
    flags.DEFINE_enum("orientations", "mixed", ["mixed", "upright"], "EXIF orientations: 1..8 in turn, or all 1.")
    flags.DEFINE_integer("rounds", 5, "Interleaved rounds; the fastest of each way is kept.", lower_bound=1)
    flags.DEFINE_integer("passes", 5, "Passes over the images per round.", lower_bound=1)


def run():
    """Console-script entry point."""
    run_program(main, define_flags, __name__)


if __name__ == "__main__":
    run()
