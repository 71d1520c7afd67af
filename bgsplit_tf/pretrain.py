"""bgsplit-pretrain: trains the embedded benchmark's teacher on the coarse concept labels.

The teacher plays the role of an ImageNet model: it learns the 16 shape concepts from the
`pretrain` split (disjoint from the rare-task splits) and never sees a species label. It is
evaluated on a held-out slice of `pretrain` and saved as a .keras file with a model card
(<output>.md and .json: exact command, data version, seed, held-out top-1 accuracy).
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

import keras
from absl import app, flags, logging

from bgsplit_tf import config, schedules
from bgsplit_tf.data import pipeline, shapes, source as source_lib
from bgsplit_tf.models import teacher as teacher_lib

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "", "TFDS data directory (empty: TFDS's default).")
flags.DEFINE_string("config", "default", "Builder config of bgsplit_shapes (default or tiny).")
flags.DEFINE_integer("holdout_percent", 10, "Last percent of the pretrain split held out for accuracy.", lower_bound=1, upper_bound=50)
flags.DEFINE_integer("epochs", 30, "Training epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", 128, "Images per step.", lower_bound=1)
flags.DEFINE_float("learning_rate", 0.1, "Peak SGD learning rate (cosine decay, 1 warm-up epoch).", lower_bound=0.0)
flags.DEFINE_float("weight_decay", 5e-4, "Weight decay.", lower_bound=0.0)
flags.DEFINE_integer("seed", 0, "Seed for initialisation, shuffling and augmentation.")
flags.DEFINE_string("output", "runs/teacher/shapes_teacher.keras", "Where to write the teacher (.keras).")


def concept_batches(source: source_lib.Source, split: str, batch_size: int, seed: int, training: bool):
    """(images float32 [B, 32, 32, 3], concept labels int64 [B]) batches of a pretrain slice."""
    examples = source.examples(split)
    batches = (
        pipeline.training_batches(examples, batch_size, seed)
        if training
        else pipeline.evaluation_batches(examples, 512)
    )
    return batches.map(lambda images, targets: (images, targets["label"]))


def pretrain_teacher(data_dir: str | None, builder_config: str, holdout_percent: int, epochs: int,
                     batch_size: int, learning_rate: float, weight_decay: float, seed: int) -> tuple[keras.Model, dict]:
    """Trains the teacher; returns it and its held-out evaluation."""
    keras.utils.set_random_seed(seed)
    source = source_lib.Source(name=f"{source_lib.EMBEDDED_DATASET}/{builder_config}", data_dir=data_dir, label_key="concept")
    train_split = f"pretrain[:{100 - holdout_percent}%]"
    holdout_split = f"pretrain[{100 - holdout_percent}%:]"
    train = concept_batches(source, train_split, batch_size, seed, training=True)
    holdout = concept_batches(source, holdout_split, batch_size, seed, training=False)
    steps = source.builder().info.splits[train_split].num_examples // batch_size
    keras.utils.set_random_seed(seed)  # again: rendering the dataset on first use consumes global state
    teacher = teacher_lib.build_embedded_teacher(num_classes=len(shapes.CONCEPTS))
    schedule = schedules.WarmupDecay(learning_rate, epochs * steps, warmup_steps=steps)
    teacher.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1")],
        jit_compile=True,
    )
    started = time.time()
    teacher.fit(train, epochs=epochs, validation_data=holdout, verbose=2)
    loss, top1 = teacher.evaluate(holdout, verbose=0)
    version = str(source.builder().info.version)
    return teacher, {
        "holdout_top1": float(top1),
        "holdout_loss": float(loss),
        "train_split": train_split,
        "holdout_split": holdout_split,
        "dataset": f"{source.name}:{version}",
        "train_seconds": time.time() - started,
    }


def write_model_card(output: pathlib.Path, card: dict) -> None:
    """Writes the teacher's card next to it: <output>.json (the figures) and <output>.md (readable)."""
    (output.with_suffix(".json")).write_text(json.dumps(card, indent=2))
    (output.with_suffix(".md")).write_text(
        f"""# Teacher of the embedded benchmark ({output.name})

- What: small residual CNN (widths 16/32/64/128, one block per stage) + linear classifier over the
  {len(shapes.CONCEPTS)} shape concepts of `bgsplit_shapes`. It never saw a species label.
- Data: `{card['dataset']}`, trained on `{card['train_split']}`, evaluated on `{card['holdout_split']}`.
- Held-out top-1 accuracy on concept labels: **{card['holdout_top1']:.4f}** (loss {card['holdout_loss']:.4f}).
- Seed: {card['seed']}; epochs: {card['epochs']}; training time: {card['train_seconds']:.0f} s.
- Re-create it with exactly:

      {card['command']}
"""
    )


def main(argv):
    """Trains the teacher and writes it with its card (absl main)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    teacher, card = pretrain_teacher(FLAGS.data_dir or None, FLAGS.config, FLAGS.holdout_percent, FLAGS.epochs,
                                     FLAGS.batch_size, FLAGS.learning_rate, FLAGS.weight_decay, FLAGS.seed)
    output = pathlib.Path(FLAGS.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    teacher.save(output)
    card.update(seed=FLAGS.seed, epochs=FLAGS.epochs,
                command="bgsplit-pretrain " + " ".join(a for a in sys.argv[1:]))
    write_model_card(output, card)
    logging.info("Teacher held-out top-1 %.4f; wrote %s and its model card", card["holdout_top1"], output)


def run():
    """Console-script entry point."""
    config.show_in_help(__name__)
    app.run(main)


if __name__ == "__main__":
    run()
