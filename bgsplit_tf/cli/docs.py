"""bgsplit-docs: refills the results pages (docs/*.md) and the README's figures from the committed results.

  bgsplit-docs            # after a harness wrote new results under benchmarks/results/
  bgsplit-docs --check    # exit status 3 if a page differs from its results (CI's test does the same)

Run from the repository's root (or pass --repo). Only the marked spans change
(`<!-- gen:NAME -->...<!-- /gen -->`); the prose around them is the page's own.
"""

from __future__ import annotations

import pathlib

from absl import flags

from bgsplit_tf import faults
from bgsplit_tf.cli import program

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The program's flags (defined when it runs)."""
    flags.DEFINE_string("repo", ".", "The repository's root (holds README.md, docs/ and benchmarks/results/).")
    flags.DEFINE_bool("check", False, "Write nothing; fail if a page differs from what its results give.")


def main(argv) -> None:
    """Refills (or, with --check, compares) every page of reports.pages.PAGES."""
    from bgsplit_tf.reports import pages

    del argv
    repo = pathlib.Path(FLAGS.repo)
    stale = pages.regenerate(repo, write=not FLAGS.check)
    if FLAGS.check and stale:
        raise faults.Fault(f"these pages differ from their results: {', '.join(stale)}; run bgsplit-docs")
    print("\n".join(f"{'stale' if FLAGS.check else 'rewritten'}: {page}" for page in stale) or "every page is current")


def run():
    """Console-script entry point."""
    program.run_program(main, define_flags, __name__)


if __name__ == "__main__":
    run()
