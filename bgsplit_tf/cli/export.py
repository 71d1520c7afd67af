"""bgsplit-export: a finished bgsplit-train run -> a versioned SavedModel for TF Serving.

  bgsplit-export --run_dir=runs/mine [--export_dir=models/mine] [--version=N]
"""

from __future__ import annotations

import pathlib

from absl import app, flags, logging

from bgsplit_tf.cli.program import run_program

FLAGS = flags.FLAGS


def main(argv):
    """Exports --run_dir to --export_dir (absl main)."""
    from bgsplit_tf.serving import export

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    path = export.export_run(FLAGS.run_dir, FLAGS.export_dir or pathlib.Path(FLAGS.run_dir) / "export", FLAGS.version)
    logging.info("Exported %s", path)
    print(f"SavedModel written to {path}\nServe it: see BUILD.md (docker run tensorflow/serving ...)")


def define_flags() -> None:
    """The program's flags (defined when it runs)."""
    flags.DEFINE_string("run_dir", None, "Output folder of a finished bgsplit-train run (model.keras, metrics.json).")
    flags.DEFINE_string("export_dir", "", "Model base path for TF Serving (default: <run_dir>/export).")
    flags.DEFINE_integer("version", None, "Version folder (default: one more than the highest present).", lower_bound=1)
    flags.mark_flag_as_required("run_dir")


def run():
    """Console-script entry point."""
    run_program(main, define_flags, __name__)


if __name__ == "__main__":
    run()
