"""The embedded TFDS builder: registered, deterministic, versioned, its label spaces and stable ids."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from bgsplit_tf.data.sources import shapes


def _by_id(data_dir, split, name="bgsplit_shapes/tiny"):
    ds = tfds.load(name, split=split, data_dir=data_dir)
    return {ex["id"].decode(): ex for ex in tfds.as_numpy(ds)}


def test_builder_is_deterministic_across_builds(tiny_data_dir, tmp_path):
    tfds.builder("bgsplit_shapes/tiny", data_dir=str(tmp_path)).download_and_prepare()
    first, second = _by_id(tiny_data_dir, "validation"), _by_id(str(tmp_path), "validation")
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key]["image"], second[key]["image"])
        assert first[key]["species"] == second[key]["species"]


def test_version_2_keeps_teacher_species_out_of_the_rare_task_splits(tiny_data_dir):
    builder = tfds.builder("bgsplit_shapes/tiny", data_dir=tiny_data_dir)
    assert str(builder.info.version) == "2.0.0"
    features = builder.info.features
    assert features["species"].num_classes == 768 and features["concept"].num_classes == 16
    assert features["colour"].num_classes == 8 and features["pattern"].num_classes == 6
    world = shapes.WORLD_V2
    all_ids = set()
    for split in ("pretrain", "train", "validation", "test"):
        examples = _by_id(tiny_data_dir, split)
        assert all(key.startswith(f"{split}/") for key in examples)
        for ex in examples.values():
            assert ex["image"].shape == (32, 32, 3) and ex["image"].dtype == np.uint8
            assert (ex["concept"], ex["colour"], ex["pattern"]) == tuple(world.attributes[ex["species"]])
            assert world.is_teacher_species[ex["species"]] == (split == "pretrain")
        all_ids |= examples.keys()
    assert len(all_ids) == sum(builder.info.splits[s].num_examples for s in builder.info.splits)


def test_version_1_stays_loadable_and_unchanged(tmp_path):
    builder = tfds.builder("bgsplit_shapes/tiny:1.0.0", data_dir=str(tmp_path))
    builder.download_and_prepare()
    assert builder.info.features["species"].num_classes == 256 and "colour" not in builder.info.features
    examples = _by_id(str(tmp_path), "train", "bgsplit_shapes/tiny:1.0.0")
    first = examples["train/000000"]
    # Version 1's example 0 of train, rendered from its seed as the first release did.
    species = shapes.balanced_species(768, np.random.default_rng([100, 2]))[0]
    assert first["species"] == species
    np.testing.assert_array_equal(first["image"], shapes.render(int(species), np.random.default_rng([100, 2, 0])))


def test_every_target_species_neighbour_is_a_teacher_species():
    world = shapes.WORLD_V2
    sizes = np.array([len(shapes.CONCEPTS), len(world.colours), len(world.patterns)])
    index = {tuple(a): i for i, a in enumerate(world.attributes)}
    targets = np.flatnonzero(~world.is_teacher_species)
    assert len(targets) == 384 == world.is_teacher_species.sum()
    for species in targets:
        for attribute in range(3):
            for step in (-1, 1):
                neighbour = world.attributes[species].copy()
                neighbour[attribute] += step
                if 0 <= neighbour[attribute] < sizes[attribute]:
                    assert world.is_teacher_species[index[tuple(neighbour)]]


@pytest.mark.parametrize("granularity, classes", [("coarse", 16), ("medium", 128), ("fine", 384)])
def test_teacher_label_spaces(granularity, classes):
    labels, names = shapes.WORLD_V2.teacher_labels(granularity)
    assert len(names) == classes
    teacher = shapes.WORLD_V2.is_teacher_species
    assert set(labels[teacher]) == set(range(classes))
    if granularity == "fine":
        assert (labels[~teacher] == -1).all()


def test_species_names_encode_colour_pattern_concept():
    assert len(shapes.SPECIES_NAMES) == len(set(shapes.SPECIES_NAMES)) == 256
    assert shapes.SPECIES_NAMES[0] == "red_solid_disk"
    assert shapes.CONCEPTS[shapes.CONCEPT_OF_SPECIES[255]] == "half_disk"
    assert shapes.WORLD_V2.species_names[-1] == "magenta_rings_half_disk"


def test_render_depends_only_on_the_seed():
    a = shapes.render(5, np.random.default_rng([1, 2, 3]), world=shapes.WORLD_V2)
    b = shapes.render(5, np.random.default_rng([1, 2, 3]), world=shapes.WORLD_V2)
    c = shapes.render(5, np.random.default_rng([1, 2, 4]), world=shapes.WORLD_V2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_every_concept_and_pattern_draws_an_object():
    for index in range(0, 256, 16):
        rows, cols = np.mgrid[0:32, 0:32] / 8.0 - 2.0
        inside = shapes.shape_distance(shapes.SPECIES[index].concept, cols, rows) < 0
        assert 20 < inside.sum() < 32 * 32 / 2, shapes.SPECIES[index].concept
        assert shapes.render(index, np.random.default_rng(index)).std() > 5
    for pattern in shapes.WORLD_V2.patterns[1:]:
        rows, cols = np.mgrid[0:32, 0:32] / 16.0 - 1.0
        assert 0.2 < shapes.pattern_mask(pattern, cols, rows).mean() < 0.8, pattern
