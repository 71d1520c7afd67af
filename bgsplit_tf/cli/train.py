"""bgsplit-train: trains one Background Splitting (or fine-tuning, --aux_weight=0) model.

  source -> rare task -> teacher targets -> tf.data -> two-output model -> val/test mAP -> outputs

training.run says what it writes to --output_dir; `bgsplit-train --helpfull` lists every flag.
"""

from __future__ import annotations

from bgsplit_tf.cli import program


def run():
    """Console-script entry point: the TrainConfig flags, then training.run.run_training."""
    def train(config):
        from bgsplit_tf.training import run as run_lib

        run_lib.run_training(config)

    program.run_app(train)


if __name__ == "__main__":
    run()
