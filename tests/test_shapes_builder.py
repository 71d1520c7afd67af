"""The embedded TFDS builder: registered, deterministic, two label spaces, stable unique ids."""

import numpy as np
import tensorflow_datasets as tfds

from bgsplit_tf.data import shapes


def _by_id(data_dir, split):
    ds = tfds.load("bgsplit_shapes/tiny", split=split, data_dir=data_dir)
    return {ex["id"].decode(): ex for ex in tfds.as_numpy(ds)}


def test_builder_is_deterministic_across_builds(tiny_data_dir, tmp_path):
    tfds.builder("bgsplit_shapes/tiny", data_dir=str(tmp_path)).download_and_prepare()
    first, second = _by_id(tiny_data_dir, "validation"), _by_id(str(tmp_path), "validation")
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key]["image"], second[key]["image"])
        assert first[key]["species"] == second[key]["species"]


def test_label_spaces_and_ids(tiny_data_dir):
    builder = tfds.builder("bgsplit_shapes/tiny", data_dir=tiny_data_dir)
    features = builder.info.features
    assert features["species"].num_classes == 256 and features["concept"].num_classes == 16
    all_ids = set()
    for split in ("pretrain", "train", "validation", "test"):
        examples = _by_id(tiny_data_dir, split)
        assert all(key.startswith(f"{split}/") for key in examples)
        for ex in examples.values():
            assert ex["image"].shape == (32, 32, 3) and ex["image"].dtype == np.uint8
            assert ex["concept"] == shapes.CONCEPT_OF_SPECIES[ex["species"]]
        all_ids |= examples.keys()
    assert len(all_ids) == sum(builder.info.splits[s].num_examples for s in builder.info.splits)


def test_species_names_encode_concept_colour_pattern():
    assert len(shapes.SPECIES_NAMES) == len(set(shapes.SPECIES_NAMES)) == 256
    assert shapes.SPECIES_NAMES[0] == "red_solid_disk"
    assert shapes.CONCEPTS[shapes.CONCEPT_OF_SPECIES[255]] == "half_disk"


def test_render_depends_only_on_the_seed():
    a = shapes.render(5, np.random.default_rng([1, 2, 3]))
    b = shapes.render(5, np.random.default_rng([1, 2, 3]))
    c = shapes.render(5, np.random.default_rng([1, 2, 4]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_every_concept_draws_an_object():
    for index in range(0, 256, 16):
        rng = np.random.default_rng(index)
        rows, cols = np.mgrid[0:32, 0:32] / 8.0 - 2.0
        inside = shapes.shape_distance(shapes.SPECIES[index].concept, cols, rows) < 0
        assert 20 < inside.sum() < 32 * 32 / 2, shapes.SPECIES[index].concept
        assert shapes.render(index, rng).std() > 5
