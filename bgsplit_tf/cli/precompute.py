"""bgsplit-precompute: runs the teacher once over the training and validation splits into the cache.

Takes the same flags (and flagfiles) as bgsplit-train, and needs --teacher_cache_dir; --runner runs the
pass as an Apache Beam pipeline (beam.options). Prints the cache's size report as JSON
(training.precompute).
"""

from __future__ import annotations

import json

from absl import flags

from bgsplit_tf.beam import options
from bgsplit_tf.cli import program


def run():
    """Console-script entry point: the TrainConfig flags and --runner, then precompute_splits (report printed
    as JSON)."""
    def precompute(config):
        runner = options.choice_from_flags(flags.FLAGS)
        if runner.on_beam:
            options.require_beam()
            from bgsplit_tf.beam import teacher_targets

            report = teacher_targets.precompute_splits(config, runner)
        else:
            from bgsplit_tf.training import precompute as precompute_lib

            report = precompute_lib.precompute_splits(config)
        print(json.dumps(report, indent=2))

    program.run_app(precompute, options.__name__, options.define_flags)


if __name__ == "__main__":
    run()
