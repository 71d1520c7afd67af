"""Pre-training the embedded benchmark's teachers (`bgsplit-pretrain`).

The teacher plays the role of an ImageNet model. It learns from the `pretrain` split only, never from
a rare-task split, at one of three label granularities (shapes.World.teacher_labels):

  fine    each teacher species its own class (384 classes on bgsplit_shapes 2.0.0): the paper's setting,
          a large fine-grained label space related to the rare categories without containing them;
  medium  shape x colour (128 classes);
  coarse  the 16 shapes (the only teacher of bgsplit_shapes 1.0.0).

It is evaluated on a held-out slice of `pretrain` and saved as a .keras file with a model card
(<output>.md and .json): the exact command, data version, seed, held-out top-1 accuracy, and how
certain it is on the rare-task training split (mean entropy of its softmax, mean hard-label loss
-log max p, and top-1 confidence), which says how much gradient the auxiliary loss carries at step 0.
"""

from __future__ import annotations

import json
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from bgsplit_tf.training import schedules
from bgsplit_tf.data import pipeline
from bgsplit_tf.data.sources import shapes, tfds_source
from bgsplit_tf.models import teacher as teacher_lib

def teacher_label_table(version: str, granularity: str) -> tuple[tf.lookup.StaticHashTable, tuple[str, ...]]:
    """Species id -> teacher class (int64) of a benchmark version at a granularity, and the class names."""
    world = shapes.WORLDS[int(version.split(".")[0])]
    if not world.checkerboard and granularity != "coarse":
        raise ValueError(f"bgsplit_shapes {version} has one teacher label space: --granularity=coarse")
    classes, names = world.teacher_labels(granularity)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.range(len(classes), dtype=tf.int64), tf.constant(classes)), -1)
    return table, names


def teacher_batches(source: tfds_source.TfdsSource, split: str, table: tf.lookup.StaticHashTable, batch_size: int,
                    seed: int, training: bool) -> tf.data.Dataset:
    """(images float32 [B, 32, 32, 3], teacher classes int64 [B]) batches of a pretrain slice."""
    examples = source.examples(split).map(lambda ex: {**ex, "label": table.lookup(ex["label"])})
    batches = (
        pipeline.training_batches(examples, batch_size, seed)
        if training
        else pipeline.evaluation_batches(examples, 512)
    )
    return batches.map(lambda images, targets: (images, targets["label"]))


def target_certainty(teacher: keras.Model, source: tfds_source.TfdsSource, split: str) -> dict:
    """How certain the teacher is on a rare-task split's images (never part of its training data).

    Returns mean entropy of its softmax (nats, and as a fraction of log M), mean hard-label loss
    (-log of its top probability: the auxiliary loss of a student that equals the teacher, with
    hard targets) and mean top-1 probability.
    """
    entropy, hard_loss, top1, count = 0.0, 0.0, 0.0, 0
    for images, _ in pipeline.evaluation_batches(source.examples(split), 1024):
        probs = tf.nn.softmax(teacher(images, training=False)).numpy().astype(np.float64)
        entropy += float(-(probs * np.log(np.clip(probs, 1e-12, 1))).sum())
        hard_loss += float(-np.log(probs.max(axis=1)).sum())
        top1 += float(probs.max(axis=1).sum())
        count += len(probs)
    num_classes = int(teacher.output_shape[-1])
    return {"split": split, "images": count, "mean_entropy": entropy / count,
            "mean_entropy_fraction_of_max": entropy / count / np.log(num_classes),
            "mean_hard_label_loss": hard_loss / count, "mean_top1_probability": top1 / count}


def pretrain_teacher(data_dir: str | None, builder_config: str, version: str, granularity: str, holdout_percent: int,
                     epochs: int, batch_size: int, learning_rate: float, weight_decay: float,
                     seed: int) -> tuple[keras.Model, dict]:
    """Trains the teacher; returns it and its card figures (held-out accuracy, certainty on train)."""
    keras.utils.set_random_seed(seed)
    source = tfds_source.TfdsSource(name=f"{tfds_source.EMBEDDED_DATASET}/{builder_config}:{version}", data_dir=data_dir)
    table, class_names = teacher_label_table(version, granularity)
    train_split = f"pretrain[:{100 - holdout_percent}%]"
    holdout_split = f"pretrain[{100 - holdout_percent}%:]"
    train = teacher_batches(source, train_split, table, batch_size, seed, training=True)
    holdout = teacher_batches(source, holdout_split, table, batch_size, seed, training=False)
    steps = source.builder().info.splits[train_split].num_examples // batch_size
    keras.utils.set_random_seed(seed)  # again: rendering the dataset on first use consumes global state
    teacher = teacher_lib.build_embedded_teacher(num_classes=len(class_names))
    schedule = schedules.WarmupDecay(learning_rate, epochs * steps, warmup_steps=steps)
    teacher.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1")],
    )
    started = time.time()
    teacher.fit(train, epochs=epochs, validation_data=holdout, verbose=2)
    loss, top1 = teacher.evaluate(holdout, verbose=0)
    return teacher, {
        "granularity": granularity,
        "num_classes": len(class_names),
        "holdout_top1": float(top1),
        "holdout_loss": float(loss),
        "train_split": train_split,
        "holdout_split": holdout_split,
        "dataset": source.name,
        "train_seconds": time.time() - started,
        "on_rare_task_train_split": target_certainty(teacher, source, "train"),
    }


def write_model_card(output: pathlib.Path, card: dict) -> None:
    """Writes the teacher's card next to it: <output>.json (the figures) and <output>.md (readable)."""
    (output.with_suffix(".json")).write_text(json.dumps(card, indent=2))
    certainty = card["on_rare_task_train_split"]
    (output.with_suffix(".md")).write_text(
        f"""# Teacher of the embedded benchmark ({output.name})

- What: small residual CNN (widths 16/32/64/128, one block per stage) + linear classifier over
  {card['num_classes']} classes ({card['granularity']} labels of `bgsplit_shapes`'s teacher species). It never
  saw a rare-task image or label.
- Data: `{card['dataset']}`, trained on `{card['train_split']}`, evaluated on `{card['holdout_split']}`.
- Held-out top-1 accuracy on its own labels: **{card['holdout_top1']:.4f}** (loss {card['holdout_loss']:.4f}).
- On the rare-task training split (`{certainty['split']}`, {certainty['images']:,} images it never saw):
  mean entropy **{certainty['mean_entropy']:.3f} nats** ({certainty['mean_entropy_fraction_of_max']:.1%} of the
  maximum, log {card['num_classes']}); mean hard-label loss (-log max p, the auxiliary loss of a student equal to
  the teacher) **{certainty['mean_hard_label_loss']:.3f}**; mean top-1 probability {certainty['mean_top1_probability']:.3f}.
- Seed: {card['seed']}; epochs: {card['epochs']}; training time: {card['train_seconds']:.0f} s.
- Re-create it with exactly:

      {card['command']}
"""
    )
