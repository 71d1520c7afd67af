"""bgsplit-pretrain: trains one of the embedded benchmark's teachers and writes it with its model card
(experiments.teacher_pretraining says what the card holds).

  bgsplit-pretrain --granularity=fine --output=bgsplit_tf/models/assets/shapes_v2_fine.keras
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

from bgsplit_tf.cli import program
from bgsplit_tf.data.sources import shapes

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The program's flags, defined when it runs (never at import, where they would clash with another
    program's flags of the same names)."""
    flags.DEFINE_string("data_dir", "", "TFDS data directory (empty: TFDS's default).")
    flags.DEFINE_string("config", "default", "Builder config of bgsplit_shapes (default or tiny).")
    flags.DEFINE_string("version", "2.0.0", "Version of bgsplit_shapes (2.0.0, or 1.0.0 for the first release).")
    flags.DEFINE_enum("granularity", "fine", shapes.GRANULARITIES, "Teacher label space: coarse (16 shapes), medium "
                      "(shape x colour) or fine (each teacher species); 1.0.0 has coarse only.")
    flags.DEFINE_integer("holdout_percent", 10, "Last percent of the pretrain split held out for accuracy.", lower_bound=1, upper_bound=50)
    flags.DEFINE_integer("epochs", 15, "Training epochs.", lower_bound=1)
    flags.DEFINE_integer("batch_size", 128, "Images per step.", lower_bound=1)
    flags.DEFINE_float("learning_rate", 0.1, "Peak SGD learning rate (cosine decay, 1 warm-up epoch).", lower_bound=0.0)
    flags.DEFINE_float("weight_decay", 5e-4, "Weight decay.", lower_bound=0.0)
    flags.DEFINE_integer("seed", 0, "Seed for initialisation, shuffling and augmentation.")
    flags.DEFINE_string("output", "runs/teacher/shapes_teacher.keras", "Where to write the teacher (.keras).")


def main(argv):
    """Trains the teacher and writes it with its card (absl main)."""
    from bgsplit_tf.experiments import teacher_pretraining

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    output = program.output_file(FLAGS.output, suffix=".keras")
    teacher, card = teacher_pretraining.pretrain_teacher(
        FLAGS.data_dir or None, FLAGS.config, FLAGS.version, FLAGS.granularity, FLAGS.holdout_percent, FLAGS.epochs,
        FLAGS.batch_size, FLAGS.learning_rate, FLAGS.weight_decay, FLAGS.seed)
    teacher.save(output)
    card.update(seed=FLAGS.seed, epochs=FLAGS.epochs, command="bgsplit-pretrain " + " ".join(sys.argv[1:]))
    teacher_pretraining.write_model_card(output, card)
    logging.info("Teacher held-out top-1 %.4f; wrote %s and its model card", card["holdout_top1"], output)


def run():
    """Console-script entry point."""
    program.run_program(main, define_flags, __name__)


if __name__ == "__main__":
    run()
