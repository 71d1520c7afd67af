"""bgsplit-predict: mine a large unlabeled pool for the rare classes with an exported model.

  bgsplit-predict --model=models/bgsplit --images=<folder | manifest.csv | tfds:NAME/SPLIT> --output_dir=mined

Writes ranked.csv, contact_sheet.png, skipped.txt and summary.json (serving.mining says what each holds).
--runner mines the pool as an Apache Beam pipeline (beam.mining) with the same outputs.
"""

from __future__ import annotations

from absl import app, flags

from bgsplit_tf.beam import options
from bgsplit_tf.cli.program import run_program

FLAGS = flags.FLAGS


def main(argv):
    """Mines --images with --model and writes the outputs (absl main)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    runner = options.choice_from_flags(FLAGS)
    pool = dict(batch_size=FLAGS.batch_size, top_n=FLAGS.top_n, data_dir=FLAGS.data_dir or None,
                image_key=FLAGS.image_key, id_key=FLAGS.id_key)
    if runner.on_beam:
        options.require_beam()
        from bgsplit_tf.beam import mining

        summary = mining.mine(FLAGS.model, FLAGS.images, FLAGS.output_dir, runner, **pool)
    else:
        from bgsplit_tf.serving import mining

        summary = mining.mine(FLAGS.model, FLAGS.images, FLAGS.output_dir, **pool)
    print(f"Scored {summary['scored']} images ({summary['skipped']} skipped) at {summary['images_per_second']:.0f} "
          f"images/s; wrote {FLAGS.output_dir}/ranked.csv and contact_sheet.png")


def define_flags() -> None:
    """The program's flags (defined when it runs)."""
    flags.DEFINE_string("model", None, "Export folder (TF Serving base path or one version folder).")
    flags.DEFINE_string("images", None, "The pool: a folder (searched recursively) or folder:ROOT, a CSV manifest "
                        "(path first) or manifest:FILE.csv, or tfds:NAME/SPLIT.")
    flags.DEFINE_string("output_dir", "runs/mined", "Where ranked.csv, contact_sheet.png, skipped.txt go.")
    flags.DEFINE_integer("batch_size", 64, "Images per model call.", lower_bound=1)
    flags.DEFINE_integer("top_n", 16, "Images per rare class on the contact sheet.", lower_bound=1)
    flags.DEFINE_string("data_dir", "", "TFDS data directory for tfds: pools.")
    flags.DEFINE_string("image_key", "image", "Image feature of tfds: pools.")
    flags.DEFINE_string("id_key", "id", "Id feature of tfds: pools (what ranked.csv lists).")
    options.define_flags()
    flags.mark_flags_as_required(["model", "images"])


def run():
    """Console-script entry point."""
    run_program(main, define_flags, __name__)


if __name__ == "__main__":
    run()
