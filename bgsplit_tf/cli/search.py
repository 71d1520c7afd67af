"""bgsplit-search: find a rare category in a pool of unlabelled images, from a few examples, by labelling
the images each round shows in a page on 127.0.0.1 (bgsplit_tf.search).

  bgsplit-search --pool=/data/season1 --examples=lynx=/photos/l1.jpg,/photos/l2.jpg,/photos/l3.jpg \
    --state_dir=searches/lynx
  then open the URL it prints (http://127.0.0.1:8765/?token=...: a new token each run); Ctrl-C stops, and
  the same command resumes (one search per state folder at a time)

After each round <state_dir>/current/ holds the model: bgsplit-export --run_dir=<state_dir>/current exports it.
"""

from __future__ import annotations

import time

from absl import app, flags, logging

from bgsplit_tf.cli import round_flags
from bgsplit_tf.cli.program import run_program

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The program's flags (defined when it runs)."""
    flags.DEFINE_string("pool", None, "The pool: a folder, folder:ROOT, a CSV manifest, or tfds:NAME/SPLIT.")
    flags.DEFINE_multi_string("examples", None, "category=path[,path...]: a target category and its example "
                              "images (repeat the flag for more categories).")
    flags.DEFINE_string("state_dir", None, "The search's folder: labels, rounds, the pool cache, the current model.")
    round_flags.define_round_flags()
    flags.DEFINE_integer("port", 8765, "Port of the page on 127.0.0.1 (0: any free port).", lower_bound=0)
    flags.DEFINE_string("who", "web", "Name recorded with each label given in the page.")
    flags.mark_flags_as_required(["pool", "examples", "state_dir"])


def main(argv):
    """Opens (or resumes) the search and serves its page until interrupted (absl main)."""
    from bgsplit_tf.search import opening, server

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    session = opening.open_session(FLAGS.state_dir, FLAGS.pool, opening.parse_examples(FLAGS.examples), FLAGS.teacher,
                                 round_flags.round_config_from_flags(), FLAGS.data_dir or None, FLAGS.who)
    page = server.serve(session, FLAGS.port)
    print(f"Label at {page.guard.url}\n(this run's address: its token lets your browser in and no other page; "
          "Ctrl-C stops; the same command resumes)", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        logging.info("Stopped; labels and rounds are in %s", FLAGS.state_dir)
        page.shutdown()


def run():
    """Console-script entry point."""
    run_program(main, define_flags, __name__, round_flags.__name__)


if __name__ == "__main__":
    run()
