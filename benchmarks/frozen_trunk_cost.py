"""What EfficientNet-Lite0 costs on this machine, whole and cut: the figures behind --frozen_through.

  python benchmarks/frozen_trunk_cost.py --sizes=96,128 --cuts=block5c_add,block6d_add

Prints, per input size: images/s of the whole classifier's forward pass; and per cut (the last frozen
layer), images/s of the frozen lower part's forward pass and of a training step (SGD, batch 128) of
the upper part and a 1001-way head on the lower part's maps. --build=keras_cv times keras-cv's
EfficientNetLiteBackbone (1x1 convolutions as Conv2D) instead of ours (1x1 convolutions as Dense
matmuls); the two compute the same function (tests/models/test_efficientnet_lite.py). Random weights
and inputs: speed only. Name the CPU (lscpu) beside any figure you publish.
"""

from __future__ import annotations

import pathlib
import sys
import time

import keras
import tensorflow as tf
from absl import app, flags

from bgsplit_tf.models.pretrained import efficientnet_lite

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from tests.fixtures import keras_cv_reference  # noqa: E402  (keras-cv's build: the test's cross-check too)

flags.DEFINE_list("sizes", ["96", "128"], "Input sizes (px).")
flags.DEFINE_list("cuts", ["block5c_add", "block6d_add"], "Last frozen layers to time the split at.")
flags.DEFINE_enum("build", "ours", ["ours", "keras_cv"], "Whose EfficientNet-Lite0 layers to time.")
flags.DEFINE_integer("repeats", 10, "Timed calls per figure (after one untimed call).")
FLAGS = flags.FLAGS
BATCH = 128


def _maps_model(size: int) -> keras.Model:
    """Normalised pixels [B, S, S, 3] -> the backbone's final maps, with named layers to cut at."""
    if FLAGS.build == "ours":
        trunk = efficientnet_lite.build(efficientnet_lite.MODELS["efficientnet_lite0"], size).get_layer("trunk")
        return keras.Model(trunk.input, trunk.get_layer("top_relu6").output)
    backbone = keras_cv_reference.keras_cv_backbone(size)
    return keras.Model(backbone.input, backbone.output)


def _rate(function, argument, images: int) -> float:
    function(argument)
    started = time.time()
    for _ in range(FLAGS.repeats):
        function(argument)
    return images * FLAGS.repeats / (time.time() - started)


def main(argv):
    del argv
    for size in map(int, FLAGS.sizes):
        model = _maps_model(size)
        pixels = tf.random.uniform((BATCH, size, size, 3), -1.0, 1.0)
        whole = _rate(tf.function(lambda x: model(x, training=False)), pixels, BATCH)
        print(f"{size} px, {FLAGS.build}: whole forward {whole:.0f} images/s", flush=True)
        for cut in FLAGS.cuts:
            lower = keras.Model(model.input, model.get_layer(cut).output)
            upper = keras.Model(model.get_layer(cut).output, model.output)
            maps = lower(pixels, training=False)
            head, optimizer = keras.layers.Dense(1001), keras.optimizers.SGD(0.01)

            @tf.function
            def step(batch_maps):
                with tf.GradientTape() as tape:
                    logits = head(tf.reduce_mean(upper(batch_maps, training=True), axis=[1, 2]))
                    loss = tf.reduce_mean(tf.square(logits))
                variables = upper.trainable_variables + head.trainable_variables
                optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
                return loss

            frozen = _rate(tf.function(lambda x: lower(x, training=False)), pixels, BATCH)
            trained = _rate(step, maps, BATCH)
            print(f"  frozen through {cut} (maps {tuple(maps.shape[1:])}): lower forward {frozen:.0f} images/s, "
                  f"upper training step {trained:.0f} images/s", flush=True)


if __name__ == "__main__":
    app.run(main)
