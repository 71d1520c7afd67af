"""How certain a teacher is on a dataset's images, per input size: the figures behind an input size choice.

  python benchmarks/teacher_certainty.py --dataset=fashion_mnist --teacher=pretrained:efficientnet_lite0 \
      --sizes=64,96,128,160 --images=2000

Prints, per input size, over the first --images images of --split (stretched to the size): the teacher
pass's images/s, mean softmax entropy (nats), mean top-1 probability, mean hard-label loss
(-log max p, what the auxiliary loss starts from with hard targets), how many distinct classes are
someone's top class, and each category's three most frequent top classes (ImageNet names for an
ImageNet teacher).
"""

from __future__ import annotations

import collections
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bgsplit_tf.data import sources
from bgsplit_tf.models import pretrained

flags.DEFINE_string("dataset", "fashion_mnist", "Source spec (data.sources).")
flags.DEFINE_string("split", "train", "Split to measure on.")
flags.DEFINE_string("teacher", "pretrained:efficientnet_lite0", "Teacher spec (models.pretrained).")
flags.DEFINE_list("sizes", ["64", "96", "128", "160"], "Input sizes (px).")
flags.DEFINE_integer("images", 2000, "Images measured (the split's first ones).", lower_bound=1)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    class_names = pretrained.imagenet_class_names() if pretrained.is_imagenet(FLAGS.teacher) else None
    for size in map(int, FLAGS.sizes):
        source = sources.open_source(FLAGS.dataset, image_size=(size, size))
        teacher = pretrained.load(FLAGS.teacher, image_size=size)
        predict = tf.function(lambda x: tf.nn.softmax(teacher(tf.cast(x, tf.float32), training=False)))
        probabilities, labels = [], []
        started = time.time()
        for batch in source.examples(FLAGS.split).take(FLAGS.images).batch(100):
            probabilities.append(predict(batch["image"]).numpy())
            labels.append(batch["label"].numpy())
        seconds = time.time() - started
        p, y = np.concatenate(probabilities), np.concatenate(labels)
        entropy = -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(axis=1)
        top = p.argmax(axis=1)
        print(f"{size} px: {len(p) / seconds:.0f} images/s; mean entropy {entropy.mean():.3f} nats; mean top-1 "
              f"probability {p.max(axis=1).mean():.3f}; hard-label loss {(-np.log(p.max(axis=1))).mean():.3f}; "
              f"{len(set(top))} distinct top classes", flush=True)
        for label, name in enumerate(source.label_names()):
            common = collections.Counter(top[y == label]).most_common(3)
            print(f"    {name}: " + ", ".join(f"{class_names[k] if class_names else k} ({n})" for k, n in common))


if __name__ == "__main__":
    app.run(main)
