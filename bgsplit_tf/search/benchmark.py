"""How fast a search round runs, and how many positives each way of spending a labelling budget finds
(bgsplit-bench-search).

  round time   pool cache built once (its wall time reported), then rounds of the loop on that pool:
               train the top of the network on the cached maps, score every pool image, choose what to
               show; seconds per round (median over rounds), images in the pool
  found        per strategy (simulation.STRATEGIES) and seed: positives found after each round, and per
               100 images reviewed so far, from the same examples (N per category, drawn by the seed from
               the pool's images of K categories drawn by the seed); summarize gives mean and std per round
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from bgsplit_tf.data import sources
from bgsplit_tf.models import pretrained
from bgsplit_tf.search import pool_cache, rounds, simulation


def _truth(pool: str, data_dir: str | None, label_key: str) -> dict[str, str]:
    spec = sources.parse(pool, pool=True)
    source = sources.open_source(spec, data_dir=data_dir, label_key=label_key)
    labels, ids = source.read_labels(spec.split)
    names = source.label_names()
    return {i.decode(): names[label] for label, i in zip(labels, ids) if label >= 0}


def draw_examples(truth: dict[str, str], num_categories: int, per_category: int, seed: int,
                  min_positives: int) -> dict[str, list[str]]:
    """K categories with at least min_positives pool images, drawn by the seed, and N example items each."""
    rng = np.random.default_rng(seed)
    by_category: dict[str, list[str]] = {}
    for item, category in sorted(truth.items()):
        by_category.setdefault(category, []).append(item)
    eligible = sorted(c for c, items in by_category.items() if len(items) >= min_positives)
    chosen = rng.choice(eligible, num_categories, replace=False)
    return {str(c): list(rng.choice(by_category[c], per_category, replace=False)) for c in chosen}


def summarize(runs: list[dict]) -> dict:
    """{strategy: {"seeds", "reviewed", "found_per_100_reviewed_mean", "..._std"}}, per round."""
    summary = {}
    for strategy in dict.fromkeys(r["strategy"] for r in runs):
        values = np.array([r["found_per_100_reviewed"] for r in runs if r["strategy"] == strategy])
        summary[strategy] = {"seeds": len(values), "reviewed": runs[0]["reviewed"],
                             "found_per_100_reviewed_mean": values.mean(axis=0).round(2).tolist(),
                             "found_per_100_reviewed_std": values.std(axis=0).round(2).tolist()}
    return summary


def run_benchmark(pool: str, cache_dir: str, data_dir: str | None, label_key: str, strategies: list[str],
                  seeds: list[int], num_rounds: int, num_categories: int, per_category: int,
                  config: rounds.RoundConfig, timing_rounds: int, teacher_spec: str = "") -> dict:
    """The report (module docstring) as a dict."""
    teacher = pretrained.load(teacher_spec)
    started = time.time()
    cache = pool_cache.build_pool_cache(cache_dir, pool, teacher, teacher_spec, data_dir=data_dir,
                                        keep_pixels=config.trainable == "all")
    cache_seconds = time.time() - started
    truth = _truth(pool, data_dir, label_key)
    report = {"pool": pool, "pool_images": len(cache), "cache_seconds": cache_seconds, "config": vars(config),
              "rounds": num_rounds, "categories": num_categories, "examples_per_category": per_category}
    labeller = simulation.SimulatedLabeller(truth)
    timed = simulation.positives_found("bgsplit", cache, teacher,
                                       draw_examples(truth, num_categories, per_category, seeds[0], per_category + 1),
                                       labeller, timing_rounds, config, seeds[0])
    seconds = timed["round_seconds"]
    report["round_seconds"] = {"median": statistics.median(seconds), "all": seconds}
    runs = []
    for seed in seeds:
        seed_examples = draw_examples(truth, num_categories, per_category, seed, per_category + 1)
        for strategy in strategies:
            result = simulation.positives_found(strategy, cache, teacher, seed_examples, labeller, num_rounds, config,
                                               seed)
            result["found_per_100_reviewed"] = [100 * f / r for f, r in zip(result["found"], result["reviewed"])]
            runs.append(result)
    report["runs"] = runs
    report["summary"] = summarize(runs)
    return report
