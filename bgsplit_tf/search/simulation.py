"""Simulated labelling, for benchmarks and tests: labels come from a source's ground truth.

positives_found compares ways to spend a labelling budget on the same pool and examples: the loop
(with Background Splitting or with plain fine-tuning), reviewing at random, and nearest neighbours of
the examples in the teacher's feature space. Each reviews the same number of images per round; the
figure of merit is the positives found per 100 images reviewed.
"""

from __future__ import annotations

import dataclasses
import pathlib
import tempfile
import time

import keras
import numpy as np

from bgsplit_tf.search import loop, pool_cache as pool_cache_lib, rounds, state as state_lib

STRATEGIES = ("bgsplit", "finetune", "random", "nearest_neighbours")


@dataclasses.dataclass(frozen=True)
class SimulatedLabeller:
    """Answers yes when an image's true category is the one asked about. truth: item -> category name."""

    truth: dict[str, str]
    who: str = "simulated"

    def label(self, item: str, category: str) -> str:
        """yes or no, from the truth."""
        return "yes" if self.truth.get(item) == category else "no"


def _review_loop(strategy: str, cache: pool_cache_lib.PoolCache, teacher: keras.Model, categories: list[str],
                 example_items: dict[str, list[str]], labeller: SimulatedLabeller, num_rounds: int,
                 config: rounds.RoundConfig, seed: int, state_dir: pathlib.Path) -> tuple[list[int], list[float]]:
    """The loop with a simulated labeller: positives found (cumulative) and seconds per round."""
    aux = config.aux_weight if strategy == "bgsplit" else 0.0
    state = state_lib.open_state(state_dir, {"categories": categories, "strategy": strategy, "seed": seed})
    for category, items in example_items.items():
        for item in items:
            state.add(item, category, "yes", state_lib.EXAMPLE_LABELLER, -1)
    config = dataclasses.replace(config, aux_weight=aux)
    search = loop.Search(state, cache, teacher, rounds.Examples.none(cache, config), config, seed)
    given = sum(len(items) for items in example_items.values())
    found, seconds = [], []
    for _ in range(num_rounds):
        started = time.time()
        summary = search.next_round()
        seconds.append(time.time() - started)
        for entry in summary["shown"]:
            state.add(entry["item"], entry["category"], labeller.label(entry["item"], entry["category"]),
                      labeller.who, summary["round"])
        found.append(sum(label.label == "yes" for label in state.labels().values()) - given)
    return found, seconds


def _ranked_review(order_per_category: list[np.ndarray], cache: pool_cache_lib.PoolCache, categories: list[str],
                   labeller: SimulatedLabeller, per_round: int, num_rounds: int, excluded: set[int]) -> list[int]:
    found, total = [], 0
    orders = [[i for i in order if i not in excluded] for order in order_per_category]
    for r in range(num_rounds):
        for k, category in enumerate(categories):
            for i in orders[k][r * per_round:(r + 1) * per_round]:
                total += labeller.label(cache.items[i], category) == "yes"
        found.append(total)
    return found


def positives_found(strategy: str, cache: pool_cache_lib.PoolCache, teacher: keras.Model,
                    example_items: dict[str, list[str]], labeller: SimulatedLabeller, num_rounds: int,
                    config: rounds.RoundConfig, seed: int = 0) -> dict:
    """Runs one strategy for num_rounds rounds from the same examples (pool images known to be positives,
    per category; not counted as found); returns {"strategy", "seed", "reviewed": [cumulative per round],
    "found": [positives found, cumulative]} and, for the loop strategies, "round_seconds" [per round]."""
    categories = list(example_items)
    per_round = config.show_top + config.show_uncertain + config.show_random
    index = cache.index()
    excluded = {index[item] for items in example_items.values() for item in items}
    timing = {}
    if strategy in ("bgsplit", "finetune"):
        with tempfile.TemporaryDirectory() as state_dir:
            found, timing["round_seconds"] = _review_loop(strategy, cache, teacher, categories, example_items,
                                                          labeller, num_rounds, config, seed, pathlib.Path(state_dir))
    elif strategy == "random":
        rng = np.random.default_rng(seed)
        found = _ranked_review([rng.permutation(len(cache)) for _ in categories], cache, categories, labeller,
                               per_round, num_rounds, excluded)
    elif strategy == "nearest_neighbours":
        pool = cache.teacher_features / np.linalg.norm(cache.teacher_features, axis=1, keepdims=True)
        orders = []
        for category in categories:
            query = pool[[index[item] for item in example_items[category]]].mean(axis=0)
            orders.append(np.argsort(-(pool @ query), kind="stable"))
        found = _ranked_review(orders, cache, categories, labeller, per_round, num_rounds, excluded)
    else:
        raise ValueError(f"strategy {strategy!r} is not one of {STRATEGIES}")
    reviewed = [per_round * len(categories) * (r + 1) for r in range(num_rounds)]
    return {"strategy": strategy, "seed": seed, "reviewed": reviewed, "found": found, **timing}
