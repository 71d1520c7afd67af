"""One round of a search: train the top of the network on the cached pool, score the pool, choose what
to show next.

The round's network takes the cached maps (models.trunk_split's lower output) through a copy of the
teacher's upper trunk to a main head (K target categories + background) and an auxiliary head started
as the teacher's classifier: Background Splitting with aux_weight > 0, plain fine-tuning with 0. With
trainable="all" (the slower option) it takes the pool's pixels through a copy of the whole trunk, all
of it trained, and every round runs the whole trunk over the pool to score it.
Training examples: every labelled image (yes: its category; no: background; skip: left out), the
example images given at the start (their maps computed once), and a fresh sample of unlabelled pool
images as background, each with the auxiliary loss; positives are oversampled to positive_fraction of
the examples, since a handful of them would otherwise be seen once an epoch.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import keras
import numpy as np
import tensorflow as tf

from bgsplit_tf.models import bgsplit_model, teacher as teacher_lib, trunk_split
from bgsplit_tf.search import pool_cache as pool_cache_lib

REASONS = ("top", "uncertain", "random")


@dataclasses.dataclass(frozen=True)
class RoundConfig:
    """How a round trains and what it shows."""

    aux_weight: float = 0.1
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 0.03
    pool_sample: int = 4096  # unlabelled pool images drawn as background each round
    positive_fraction: float = 0.1
    show_top: int = 12
    show_uncertain: int = 4
    show_random: int = 4
    trainable: str = "top"  # "top": the last stage and the heads, on cached maps; "all": the whole trunk

    def __post_init__(self):
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable={self.trainable!r} is not one of {TRAINABLE}")


TRAINABLE = ("top", "all")


def inputs_of(cache: pool_cache_lib.PoolCache, config: RoundConfig) -> np.ndarray:
    """What the round network takes for every pool image: the cached maps, or the pixels for "all"."""
    if config.trainable == "all":
        if cache.pixels is None:
            raise ValueError("full fine-tuning rounds need the pool's pixels: build the pool cache with keep_pixels")
        return cache.pixels
    return cache.maps


def round_network(teacher: keras.Model, split_layer: str, num_categories: int, trainable: str = "top") -> keras.Model:
    """maps float32 [B, h, w, c] (trainable "top"), or pixels float32 [B, H, W, 3] in [0, 255] ("all")
    -> {"main": [B, K + 1] logits (0 = background), "aux": [B, M] logits}; the trunk part and the aux head
    start as the teacher's."""
    trunk = teacher_lib.teacher_trunk(teacher)
    upper = trunk if trainable == "all" else trunk_split.split_trunk(trunk, split_layer)[1]
    top = keras.models.clone_model(upper)
    top.set_weights(upper.get_weights())
    for layer in [top, *top.layers]:
        layer.trainable = True
    inputs = keras.Input(upper.input_shape[1:], name="maps")
    features = top(inputs)
    classifier = teacher_lib.teacher_classifier(teacher)
    main = keras.layers.Dense(num_categories + 1, name="main")(features)
    aux = keras.layers.Dense(classifier.units, name="aux")(features)
    network = keras.Model(inputs, {"main": main, "aux": aux}, name="search_network")
    network.get_layer("aux").set_weights(classifier.get_weights())
    return network


def main_labels(cache: pool_cache_lib.PoolCache, labels: dict, categories: list[str]) -> np.ndarray:
    """int32 [N] per pool image: k + 1 if labelled yes for categories[k], 0 if labelled no (and yes for
    nothing), -2 for skip, -1 if unlabelled."""
    out = np.full(len(cache), -1, np.int32)
    index = cache.index()
    for (item, category), label in labels.items():
        i = index.get(item)
        if i is None or category not in categories:
            continue
        if label.label == "yes":
            out[i] = categories.index(category) + 1
        elif label.label == "no" and out[i] <= 0:
            out[i] = 0
        elif label.label == "skip" and out[i] == -1:
            out[i] = -2
    return out


@dataclasses.dataclass(frozen=True)
class Examples:
    """The example images a search starts from: what the round network takes for them (maps float16
    [E, h, w, c] from pool_cache.encoder, or pixels uint8 [E, H, W, 3] for trainable "all"), their
    categories' main labels int32 [E] (1..K) and the teacher's top classes int32 [E]."""

    inputs: np.ndarray
    labels: np.ndarray
    teacher_labels: np.ndarray

    @classmethod
    def none(cls, cache: pool_cache_lib.PoolCache, config: "RoundConfig | None" = None) -> "Examples":
        """No examples from outside the pool (shaped like the round network's inputs)."""
        inputs = inputs_of(cache, config or RoundConfig())
        return cls(np.zeros((0, *inputs.shape[1:]), inputs.dtype), np.zeros(0, np.int32), np.zeros(0, np.int32))


def train_round(network: keras.Model, cache: pool_cache_lib.PoolCache, labelled: np.ndarray, examples: Examples,
                config: RoundConfig, seed: int) -> float:
    """Trains `network` in place for one round; returns the seconds it took. labelled: int32 [N] (main_labels)."""
    started = time.time()
    rng = np.random.default_rng(seed)
    unlabelled = np.flatnonzero(labelled == -1)
    sample = rng.choice(unlabelled, min(config.pool_sample, len(unlabelled)), replace=False)
    negatives = np.flatnonzero(labelled == 0)
    positives = np.flatnonzero(labelled > 0)
    background = np.sort(np.concatenate([sample, negatives]))
    pool_inputs = inputs_of(cache, config)
    maps = np.concatenate([pool_inputs[background], pool_inputs[positives], examples.inputs]).astype(np.float32)
    targets = np.concatenate([np.zeros(len(background), np.int32), labelled[positives], examples.labels])
    teacher = np.concatenate([cache.teacher_labels[background], cache.teacher_labels[positives],
                              examples.teacher_labels]).astype(np.int32)
    is_positive = targets > 0
    repeats = max(1, int(round(config.positive_fraction * len(targets) / max(is_positive.sum(), 1))))
    order = np.concatenate([np.arange(len(targets))] + [np.flatnonzero(is_positive)] * (repeats - 1))
    rng.shuffle(order)
    model = bgsplit_model.BackgroundSplittingModel(network, aux_weight=config.aux_weight)
    model.compile(optimizer=keras.optimizers.SGD(config.learning_rate, momentum=0.9), jit_compile=False)
    data = tf.data.Dataset.from_tensor_slices(
        (maps[order], {"label": targets[order], "teacher_label": teacher[order]}))
    model.fit(data.batch(config.batch_size), epochs=config.epochs, verbose=0, shuffle=False)  # shuffled above
    return time.time() - started


def score_pool(network: keras.Model, cache: pool_cache_lib.PoolCache, config: RoundConfig,
               batch_size: int = 2048) -> np.ndarray:
    """float32 [N, K]: each pool image's main-head probability of each target category."""
    inputs = inputs_of(cache, config)

    @tf.function(reduce_retracing=True)
    def rare_probabilities(maps):
        return tf.nn.softmax(network(tf.cast(maps, tf.float32), training=False)["main"])[:, 1:]

    return np.concatenate([rare_probabilities(inputs[i:i + batch_size]).numpy()
                           for i in range(0, len(cache), batch_size)])


def choose(scores: np.ndarray, reviewable: np.ndarray, categories: list[str], config: RoundConfig,
           seed: int) -> list[dict]:
    """What to show next, per category: the top-scored, the most uncertain (score nearest 0.5) and a few
    drawn at random (so that precision can be estimated without bias), among images not yet labelled
    for it. scores float [N, K]; reviewable bool [N, K]. Returns [{"index", "category", "reason", "score"}]."""
    rng = np.random.default_rng(seed)
    shown = []
    for k, category in enumerate(categories):
        free = np.flatnonzero(reviewable[:, k])
        taken: set[int] = set()

        def take(candidates, count, reason):
            picked = list(itertools.islice((int(i) for i in candidates if int(i) not in taken), count))
            taken.update(picked)
            shown.extend({"index": i, "category": category, "reason": reason, "score": float(scores[i, k])}
                         for i in picked)

        take(free[np.argsort(-scores[free, k], kind="stable")], config.show_top, "top")
        take(free[np.argsort(np.abs(scores[free, k] - 0.5), kind="stable")], config.show_uncertain, "uncertain")
        take(rng.permutation(free), config.show_random, "random")
    return shown
