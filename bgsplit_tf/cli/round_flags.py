"""The labelling loop's round flags, defined once for both programs that run rounds (bgsplit-search and
bgsplit-bench-search): the teacher, the TFDS data directory of a tfds: pool, and how each round trains
(search.rounds.RoundConfig, whose defaults and choices they take)."""

from __future__ import annotations

from absl import flags

from bgsplit_tf.search import rounds

FLAGS = flags.FLAGS


def define_round_flags() -> None:
    """--teacher, --data_dir, --aux_weight, --round_epochs and --trainable (defined when a program runs)."""
    default = rounds.RoundConfig()
    flags.DEFINE_string("teacher", "", "Teacher and trunk (as bgsplit-train's --teacher; empty: the embedded default).")
    flags.DEFINE_string("data_dir", "", "TFDS data directory for tfds: pools.")
    flags.DEFINE_float("aux_weight", default.aux_weight, "Background Splitting's lambda in each round (0: plain "
                       "fine-tuning).", lower_bound=0.0)
    flags.DEFINE_integer("round_epochs", default.epochs, "Epochs per round over the labelled images and a pool "
                         "sample.", lower_bound=1)
    flags.DEFINE_enum("trainable", default.trainable, list(rounds.TRAINABLE), "What each round trains: top (the "
                      "last stage of the trunk and the heads, on maps of the pool cached once: seconds per round) or "
                      "all (the whole trunk on the pool's pixels, scoring the pool with it every round: slower).")


def round_config_from_flags() -> rounds.RoundConfig:
    """The RoundConfig the parsed round flags describe."""
    return rounds.RoundConfig(aux_weight=FLAGS.aux_weight, epochs=FLAGS.round_epochs, trainable=FLAGS.trainable)
