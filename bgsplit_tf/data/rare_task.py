"""Rare-task construction: K rare categories, at most N positives each, the rest background.

Main-task labels: 0 = background, 1..K = the rare categories in `RareTask.categories` order.
In train, at most N positives per rare category are kept; the other images of rare categories
are dropped (not relabelled background, which would be label noise). N is given, or derived from a
target train background fraction. Training background can be undersampled: each background image
is kept with probability `background_keep`, decided by a hash of its id and the seed, so the same
images are kept in every epoch and every run of that seed. Validation and test keep all positives
of the rare categories, and everything else is background.
"""

from __future__ import annotations

import dataclasses
import difflib

import numpy as np
import tensorflow as tf

from bgsplit_tf.data.sources import UNLABELED  # also the main label of an unlabeled image

BACKGROUND = "background"


@dataclasses.dataclass(frozen=True)
class RareTask:
    """A rare-category task drawn from a labelled source.

    Attributes:
      categories: source label ids of the K rare categories; main label k + 1 is categories[k].
      class_names: ("background", name of each rare category), length K + 1.
      train_positive_ids: ids of the kept training positives (bytes).
      background_keep: fraction of training background kept (1.0 = all).
      seed: salts the background-keeping hash.
    """

    categories: tuple[int, ...]
    class_names: tuple[str, ...]
    train_positive_ids: tuple[bytes, ...]
    background_keep: float = 1.0
    seed: int = 0

    @property
    def num_rare(self) -> int:
        return len(self.categories)

    def main_labels(self, source_labels: np.ndarray) -> np.ndarray:
        """Source label ids int [N] -> main labels int64 [N] (0 = background, UNLABELED stays UNLABELED)."""
        mapping = {category: k + 1 for k, category in enumerate(self.categories)}
        return np.array([UNLABELED if label < 0 else mapping.get(int(label), 0) for label in source_labels],
                        dtype=np.int64)

    def background_kept(self, ids: tf.Tensor) -> tf.Tensor:
        """bool, shape of ids (tf.string): whether a training background image survives undersampling."""
        if self.background_keep >= 1.0:
            return tf.ones_like(ids, tf.bool)
        buckets = 1 << 30
        salted = tf.strings.join([ids, tf.constant(f"#bgsplit-seed-{self.seed}")])
        return tf.strings.to_hash_bucket_fast(salted, buckets) < int(self.background_keep * buckets)

    def train_keep_mask(self, source_labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """bool [N]: the kept background examples, the kept positives and every unlabeled example."""
        kept = set(self.train_positive_ids)
        main = self.main_labels(source_labels)
        is_background = main == 0
        if self.background_keep < 1.0:
            is_background &= self.background_kept(tf.constant(ids, tf.string)).numpy()
        return is_background | (main == UNLABELED) | np.array([i in kept for i in ids], dtype=bool)

    def relabel(self, ds: tf.data.Dataset, training: bool) -> tf.data.Dataset:
        """Maps "label" from source ids to main labels (int32); in training, filters to kept examples."""
        to_main = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.categories, tf.int64), tf.range(1, self.num_rare + 1, dtype=tf.int32)
            ),
            default_value=0,
        )
        kept_positive = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(self.train_positive_ids) or [b""], tf.string),
                tf.ones([max(len(self.train_positive_ids), 1)], tf.int32),
            ),
            default_value=0,
        )
        ds = ds.map(lambda ex: {**ex, "label": tf.where(ex["label"] < 0, UNLABELED, to_main.lookup(ex["label"]))})
        if training:
            ds = ds.filter(lambda ex: ((ex["label"] == 0) & self.background_kept(ex["id"]))
                           | (ex["label"] == UNLABELED) | (kept_positive.lookup(ex["id"]) == 1))
        return ds


@dataclasses.dataclass(frozen=True)
class SplitSummary:
    """One split of a rare task: its examples, the labelled ones per main class ({class name:
    images}, background first), the unlabeled ones, and the background fraction of the labelled ones
    (NaN when none is labelled)."""

    num_examples: int
    counts: dict[str, int]
    unlabeled: int
    background_fraction: float


def summarize(task: RareTask, main_labels: np.ndarray) -> SplitSummary:
    """The SplitSummary of a split's main labels (int [N]; UNLABELED for an unlabeled image)."""
    main_labels = np.asarray(main_labels)
    counts = np.bincount(main_labels[main_labels >= 0], minlength=task.num_rare + 1)
    labelled = int(counts.sum())
    return SplitSummary(
        num_examples=int(main_labels.size),
        counts={name: int(c) for name, c in zip(task.class_names, counts)},
        unlabeled=int(np.sum(main_labels == UNLABELED)),
        background_fraction=float(counts[0] / labelled) if labelled else float("nan"),
    )


def resolve_categories(requested: list[str], label_names: list[str]) -> list[int]:
    """Category names or integer ids -> ids. Unknown entries raise a ValueError with suggestions."""
    ids = []
    for item in requested:
        item = item.strip()
        if item.isdigit():
            if int(item) >= len(label_names):
                raise ValueError(f"rare category id {item} is out of range: the source has {len(label_names)} categories")
            ids.append(int(item))
        elif item in label_names:
            ids.append(label_names.index(item))
        else:
            close = difflib.get_close_matches(item, label_names, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"rare category {item!r} is not a category of the source.{hint}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"rare categories {requested} name a category twice")
    return ids


def choose_rare_task(
    label_names: list[str],
    train_labels: np.ndarray,
    train_ids: np.ndarray,
    eval_labels: dict[str, np.ndarray],
    num_rare: int,
    positives_per_class: int,
    seed: int,
    categories: list[str] | None = None,
    background_fraction: float | None = None,
    background_keep: float = 1.0,
    never_rare: tuple[int, ...] = (),
) -> RareTask:
    """Draws a rare task.

    Args:
      label_names: source category names (index = id).
      train_labels, train_ids: the train split's source labels int [N] and ids [N].
      eval_labels: split name -> source labels of that split; every rare category needs at least
        one positive in each, or its AP would be undefined.
      num_rare: K, used when `categories` is not given.
      positives_per_class: N, the most positives kept per category in train; 0 keeps all.
      seed: picks the categories (unless given) and which N positives are kept.
      categories: explicit rare categories, names or ids.
      background_fraction: if set, replaces positives_per_class: N is chosen so that this fraction of
        the kept training images is background, N >= 1 (see `positives_for_fraction`).
      background_keep: fraction of training background kept (undersampling), in (0, 1].
      never_rare: category ids that are background by definition (e.g. an image folder's
        "background" folder): never drawn, and rejected if named.
    """
    if not 0.0 < background_keep <= 1.0:
        raise ValueError(f"--background_keep={background_keep} must be in (0, 1]")
    rng = np.random.default_rng(seed)
    train_counts = np.bincount(train_labels[train_labels >= 0], minlength=len(label_names))
    has_eval_positives = np.ones(len(label_names), bool)
    has_eval_positives[list(never_rare)] = False
    for split, labels in eval_labels.items():
        if np.any(labels == UNLABELED):
            raise ValueError(
                f"{split} holds {int(np.sum(labels == UNLABELED))} unlabeled images (an unlabeled/ folder, or rows "
                "without a label in its manifest); evaluation needs a label on every image. Unlabeled images "
                "belong in the training split only: move them to train/unlabeled/, or label them.")
        has_eval_positives &= np.bincount(labels, minlength=len(label_names)) > 0

    def positives_needed(chosen_or_count) -> int:
        if background_fraction is None:
            return positives_per_class
        if isinstance(chosen_or_count, int):  # any K categories leave at most all images as background
            return positives_for_fraction(background_fraction, len(train_labels) * background_keep, chosen_or_count)
        background = np.sum((train_labels >= 0) & ~np.isin(train_labels, chosen_or_count)) * background_keep
        return positives_for_fraction(background_fraction, background, len(chosen_or_count))

    how_to_fix = ("raise --background_fraction or pick other categories" if background_fraction is not None
                  else "lower --positives_per_class or pick other categories")
    if categories:
        chosen = resolve_categories(categories, label_names)
        for category in chosen:
            if category in never_rare:
                raise ValueError(f"{label_names[category]!r} holds background by definition and cannot be a rare "
                                 "category; name another one in --rare_categories")
        needed = max(positives_needed(chosen), 1)
        for category in chosen:
            if train_counts[category] < needed or not has_eval_positives[category]:
                raise ValueError(
                    f"rare category {label_names[category]!r} has {train_counts[category]} train "
                    f"images (need {needed}) or no positives in {sorted(eval_labels)}; {how_to_fix}."
                )
    else:
        needed = max(positives_needed(num_rare), 1)
        candidates = np.flatnonzero((train_counts >= needed) & has_eval_positives)
        if num_rare < 1 or num_rare > candidates.size:
            raise ValueError(
                f"--num_rare={num_rare} must be between 1 and {candidates.size}, the number of categories "
                f"with at least {needed} train images and positives in {sorted(eval_labels)}; {how_to_fix}."
            )
        chosen = sorted(rng.choice(candidates, size=num_rare, replace=False).tolist())
    positives_per_class = positives_needed(chosen)
    positive_ids = []
    for category in chosen:
        ids = train_ids[train_labels == category]
        if positives_per_class > 0:
            ids = ids[np.sort(rng.choice(ids.size, size=positives_per_class, replace=False))]
        positive_ids.extend(bytes(i) for i in ids)
    return RareTask(
        categories=tuple(int(c) for c in chosen),
        class_names=(BACKGROUND, *(label_names[c] for c in chosen)),
        train_positive_ids=tuple(positive_ids),
        background_keep=float(background_keep),
        seed=int(seed),
    )


def positives_for_fraction(background_fraction: float, num_background: float, num_rare: int) -> int:
    """N, the positives per rare class that make `background_fraction` of the training set background.

    background / (background + K N) = f  =>  N = background (1 - f) / (f K), rounded, at least 1.
    """
    if not 0.0 < background_fraction < 1.0:
        raise ValueError(f"--background_fraction={background_fraction} must be strictly between 0 and 1")
    return max(1, int(round(num_background * (1.0 - background_fraction) / (background_fraction * num_rare))))
