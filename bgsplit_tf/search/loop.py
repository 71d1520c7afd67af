"""The labelling loop: train on what is labelled, score the pool, show the next images, take labels, repeat.

Search ties a state folder (labels, rounds), a pool cache and the round network together. Each round
continues from the previous round's weights (saved in rounds/<r>/, so a killed search resumes there)
and writes the pool's scores and the images it chose to show. Labels come from people (the labelling
page) or from a SimulatedLabeller (benchmarks, tests) through the same SearchState.add.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import keras
import numpy as np

from bgsplit_tf.evaluation import run_results
from bgsplit_tf.models import teacher as teacher_lib, trunk_split
from bgsplit_tf.search import pool_cache as pool_cache_lib, rounds, state as state_lib

WEIGHTS_FILE = "network.weights.h5"


class Search:
    """One search over a cached pool for `categories`, starting from `examples` (rounds.Examples)."""

    def __init__(self, state: state_lib.SearchState, cache: pool_cache_lib.PoolCache, teacher: keras.Model,
                 examples: rounds.Examples, config: rounds.RoundConfig, seed: int = 0):
        self.state, self.cache, self.examples, self.config, self.seed = state, cache, examples, config, seed
        self.categories = list(state.settings["categories"])
        self.network = rounds.round_network(teacher, cache.split_layer, len(self.categories), config.trainable)
        done = state.finished_rounds()
        if done:
            self.network.load_weights(state.round_dir(done - 1) / WEIGHTS_FILE)

    def next_round(self) -> dict:
        """Trains round r on every label so far, scores the pool, and chooses what to show; returns
        {"round", "train_seconds", "shown": [{"item", "category", "reason", "score"}]}."""
        index = self.state.finished_rounds()
        labels = self.state.labels()
        labelled = rounds.main_labels(self.cache, labels, self.categories)
        seconds = rounds.train_round(self.network, self.cache, labelled, self.examples, self.config,
                                     seed=self.seed * 100_003 + index)
        scores = rounds.score_pool(self.network, self.cache, self.config)
        reviewable = np.ones_like(scores, bool)
        item_index = self.cache.index()
        for (item, category), label in labels.items():
            if item not in item_index:
                continue
            if label.who == state_lib.EXAMPLE_LABELLER:  # the user's own example: never shown, for any category
                reviewable[item_index[item], :] = False
            elif category in self.categories:
                reviewable[item_index[item], self.categories.index(category)] = False
        shown = rounds.choose(scores, reviewable, self.categories, self.config, seed=self.seed * 100_003 + index)
        for entry in shown:
            entry["item"] = self.cache.items[entry.pop("index")]
        directory = self.state.round_dir(index)
        self.network.save_weights(directory / WEIGHTS_FILE)
        np.save(directory / "scores.npy", scores.astype(np.float16))
        summary = {"round": index, "train_seconds": seconds, "shown": shown}
        (directory / "shown.json").write_text(json.dumps(summary, indent=1))  # last: marks the round finished
        return summary


def estimated_precision(shown: list[dict], labels: dict) -> dict:
    """Per category, from one round's shown images and the labels given since: the precision of its
    top-scored images, and the rate of positives among the randomly drawn ones (an unbiased estimate of
    how rare the category still is among unlabelled images)."""
    estimates = {}
    for entry in shown:
        label = labels.get((entry["item"], entry["category"]))
        if label is None or label.label == "skip":
            continue
        counts = estimates.setdefault(entry["category"], {}).setdefault(entry["reason"], [0, 0])
        counts[0] += label.label == "yes"
        counts[1] += 1
    return {category: {reason: yes / total for reason, (yes, total) in by_reason.items()}
            for category, by_reason in estimates.items()}


CURRENT_DIR, PUBLISHED_DIR = "current", "published"


def write_current_model(search: Search, teacher: keras.Model, round_index: int) -> pathlib.Path:
    """Saves the search's current model as a run folder bgsplit-export reads (model.keras, pixels
    [B, H, W, 3] -> {"main", "aux"}, the teacher's lower trunk below the round network, and a
    metrics.json naming the categories and the round), published atomically: written whole to
    <state>/published/<round>/, then <state>/current, a symbolic link, is switched to it in one rename,
    so that a reader of current/ sees one round or the next, never a half-written one. The round before
    stays (a reader may still be in it); older ones are removed. Returns the new folder."""
    pixels = keras.Input(teacher.input_shape[1:], name="pixels")
    if search.config.trainable == "all":  # the round network takes pixels already
        outputs = search.network(pixels)
    else:
        lower, _ = trunk_split.split_trunk(teacher_lib.teacher_trunk(teacher), search.cache.split_layer)
        outputs = search.network(lower(pixels))
    network = keras.Model(pixels, outputs, name="search_model")
    published = search.state.root / PUBLISHED_DIR
    folder = published / str(round_index)
    if folder.exists():  # a round re-run after a kill before its publication finished
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    network.save(folder / "model.keras")
    run_results.LabellingRound(tuple(search.categories), round_index).write(folder / run_results.METRICS_FILE)
    current = search.state.root / CURRENT_DIR
    if current.is_dir() and not current.is_symlink():  # a folder written in place by an older version
        shutil.rmtree(current)
    link = search.state.root / f".{CURRENT_DIR}.{round_index}"
    link.unlink(missing_ok=True)
    link.symlink_to(pathlib.Path(PUBLISHED_DIR) / str(round_index), target_is_directory=True)
    os.replace(link, current)
    for old in published.iterdir():
        if old.name.isdigit() and int(old.name) < round_index - 1:
            shutil.rmtree(old)
    return folder
