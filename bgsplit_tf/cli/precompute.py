"""bgsplit-precompute: runs the teacher once over the training and validation splits into the cache.

Takes the same flags (and flagfiles) as bgsplit-train, and needs --teacher_cache_dir; prints the cache's
size report as JSON (training.precompute).
"""

from __future__ import annotations

import json

from bgsplit_tf.cli import program


def run():
    """Console-script entry point: the TrainConfig flags, then precompute_splits (report printed as JSON)."""
    def precompute(config):
        from bgsplit_tf.training import precompute as precompute_lib

        print(json.dumps(precompute_lib.precompute_splits(config), indent=2))

    program.run_app(precompute)


if __name__ == "__main__":
    run()
