"""The loop on the tiny embedded benchmark with the shipped teacher: a real pool cache, real rounds,
a simulated labeller; resumable; and the strategies the benchmark compares."""


import dataclasses

import numpy as np
import pytest

from bgsplit_tf.data import fingerprints, sources
from bgsplit_tf.models import pretrained, trunk_split
from bgsplit_tf.search import loop, pool_cache, rounds, simulation, state as state_lib

POOL = "tfds:bgsplit_shapes/tiny/train"
CONFIG = rounds.RoundConfig(epochs=1, pool_sample=256, show_top=4, show_uncertain=2, show_random=2)


@pytest.fixture(scope="module")
def pool(tiny_data_dir, tmp_path_factory):
    teacher = pretrained.load()
    cache = pool_cache.build_pool_cache(tmp_path_factory.mktemp("cache"), POOL, teacher, data_dir=tiny_data_dir)
    source = sources.open_source(sources.parse(POOL, pool=True), data_dir=tiny_data_dir)
    labels, ids = source.read_labels("train")
    names = source.label_names()
    truth = {i.decode(): names[label] for label, i in zip(labels, ids)}
    return teacher, cache, truth


def test_the_cache_holds_the_lower_trunk_of_every_pool_image_and_is_reused(pool, tiny_data_dir, tmp_path):
    teacher, cache, truth = pool
    assert len(cache) == 768 == len(truth) and cache.maps.shape[1:] == (8, 8, 64) and cache.maps.dtype == np.float16
    lower, upper = trunk_split.split_trunk(teacher.get_layer("trunk"))
    assert lower.layers[-1].name == cache.split_layer == "stage3_block1_out"
    built = pool_cache.build_pool_cache(tmp_path, POOL, teacher, data_dir=tiny_data_dir)
    np.testing.assert_array_equal(built.teacher_labels, cache.teacher_labels)
    np.testing.assert_array_equal(pool_cache.build_pool_cache(tmp_path, POOL, teacher).maps, built.maps)  # reused
    with pytest.raises(fingerprints.FingerprintMismatch, match="another pool, teacher, split or kind of round.*rm -r"):
        pool_cache.build_pool_cache(tmp_path, POOL, pretrained.load("embedded:shapes_v2_medium"),
                                    data_dir=tiny_data_dir)


def test_rounds_show_unlabelled_images_with_their_reasons_and_a_killed_search_resumes(pool, tmp_path):
    teacher, cache, truth = pool
    categories = sorted(set(truth.values()))[:2]
    state = state_lib.open_state(tmp_path, {"categories": categories})
    first = {c: next(item for item, name in truth.items() if name == c) for c in categories}
    for category, item in first.items():
        state.add(item, category, "yes", "example", -1)
    search = loop.Search(state, cache, teacher, rounds.Examples.none(cache), CONFIG)
    summary = search.next_round()
    assert summary["round"] == 0 and len(summary["shown"]) == 2 * 8
    assert {e["reason"] for e in summary["shown"]} == set(rounds.REASONS)
    assert not {e["item"] for e in summary["shown"] if e["category"] == categories[0]} & {first[categories[0]]}
    labeller = simulation.SimulatedLabeller(truth)
    for entry in summary["shown"]:
        state.add(entry["item"], entry["category"], labeller.label(entry["item"], entry["category"]), "sim", 0)
    resumed = loop.Search(state, cache, teacher, rounds.Examples.none(cache), CONFIG)  # as after a kill
    np.testing.assert_array_equal(resumed.network.get_weights()[-1], search.network.get_weights()[-1])
    second = resumed.next_round()
    assert second["round"] == 1
    labelled = {(item, category) for item, category in state.labels()}
    assert not any((e["item"], e["category"]) in labelled for e in second["shown"])  # never shown twice
    precision = loop.estimated_precision(summary["shown"], state.labels())
    assert set(precision) <= set(categories) and all(0 <= v <= 1 for p in precision.values() for v in p.values())


@pytest.mark.parametrize("strategy", simulation.STRATEGIES)
def test_every_strategy_reviews_the_same_budget(pool, strategy):
    teacher, cache, truth = pool
    categories = sorted(set(truth.values()))[:2]
    examples = {c: [next(item for item, name in truth.items() if name == c)] for c in categories}
    result = simulation.positives_found(strategy, cache, teacher, examples, simulation.SimulatedLabeller(truth), 2,
                                        CONFIG)
    assert result["reviewed"] == [16, 32]
    assert 0 <= result["found"][0] <= result["found"][1] <= 2  # tiny holds 2 images per species, 1 given


def test_full_fine_tuning_rounds_train_the_whole_trunk_on_the_pools_pixels(tiny_data_dir, tmp_path):
    teacher = pretrained.load()
    with pytest.raises(fingerprints.FingerprintMismatch, match="another pool, teacher, split or kind of round"):
        pool_cache.build_pool_cache(tmp_path / "cache", POOL, teacher, data_dir=tiny_data_dir)
        pool_cache.build_pool_cache(tmp_path / "cache", POOL, teacher, data_dir=tiny_data_dir, keep_pixels=True)
    cache = pool_cache.build_pool_cache(tmp_path / "full", POOL, teacher, data_dir=tiny_data_dir, keep_pixels=True)
    assert cache.pixels.shape == (768, 32, 32, 3) and cache.pixels.dtype == np.uint8
    config = dataclasses.replace(CONFIG, trainable="all")
    state = state_lib.open_state(tmp_path / "state", {"categories": ["a"]})
    state.add(cache.items[0], "a", "yes", "example", -1)
    search = loop.Search(state, cache, teacher, rounds.Examples.none(cache, config), config)
    stem = teacher.get_layer("trunk").get_layer("stem_conv").get_weights()[0]
    summary = search.next_round()
    assert len(summary["shown"]) == 8
    trained_stem = search.network.get_layer("trunk").get_layer("stem_conv").get_weights()[0]
    assert not np.allclose(trained_stem, stem)  # the whole trunk trains
    with pytest.raises(ValueError, match="not one of"):
        rounds.RoundConfig(trainable="heads")


def test_the_current_model_is_published_whole_and_switched_in_one_rename(pool, tmp_path):
    from bgsplit_tf.serving import export

    teacher, cache, truth = pool
    state = state_lib.open_state(tmp_path / "state", {"categories": sorted(set(truth.values()))[:1]})
    search = loop.Search(state, cache, teacher, rounds.Examples.none(cache), CONFIG)
    (state.root / "current").mkdir()  # a folder an older version wrote in place
    (state.root / "current" / "model.keras").write_text("old")
    for round_index in range(3):
        loop.write_current_model(search, teacher, round_index)
    current = state.root / "current"
    assert current.is_symlink() and current.resolve() == (state.root / "published" / "2").resolve()
    assert sorted(p.name for p in (state.root / "published").iterdir()) == ["1", "2"]  # the one before stays
    assert not [p for p in state.root.iterdir() if p.name.startswith(".current")]  # no link left half-made
    exported = export.export_run(current, tmp_path / "export")
    assert (exported / "saved_model.pb").exists()
