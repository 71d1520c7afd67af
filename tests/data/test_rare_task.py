"""Rare-task construction: counts, background fraction, relabelling, and errors that name the fix."""

import numpy as np
import pytest

from bgsplit_tf.data import rare_task

NAMES = [f"species_{i}" for i in range(10)]


def _labels(per_class, seed=0):
    labels = np.repeat(np.arange(10), per_class)
    return np.random.default_rng(seed).permutation(labels)


def _task(num_rare=3, positives=2, seed=0, categories=None):
    train = _labels(20)
    ids = np.array([f"train/{i}".encode() for i in range(train.size)], dtype=object)
    evals = {"validation": _labels(5, 1), "test": _labels(5, 2)}
    task = rare_task.choose_rare_task(NAMES, train, ids, evals, num_rare, positives, seed, categories)
    return task, train, ids, evals


def test_counts_and_background_fraction():
    task, train, ids, evals = _task(num_rare=3, positives=2)
    keep = task.train_keep_mask(train, ids)
    summary = rare_task.summarize(task, task.main_labels(train[keep]))
    assert summary.counts["background"] == 7 * 20  # the 3 rare categories' other images are dropped
    assert [summary.counts[n] for n in task.class_names[1:]] == [2, 2, 2]
    assert summary.background_fraction == pytest.approx(140 / 146)
    test_summary = rare_task.summarize(task, task.main_labels(evals["test"]))
    assert [test_summary.counts[n] for n in task.class_names[1:]] == [5, 5, 5]  # all positives kept


def test_seed_picks_categories_and_positives_deterministically():
    first, second, other = _task(seed=3)[0], _task(seed=3)[0], _task(seed=4)[0]
    assert first == second
    assert (first.categories, first.train_positive_ids) != (other.categories, other.train_positive_ids)


def test_positives_zero_keeps_all():
    task, train, ids, _ = _task(num_rare=2, positives=0)
    assert len(task.train_positive_ids) == 40


def test_explicit_categories_by_name_and_id_keep_order():
    task = _task(categories=["species_7", "2"])[0]
    assert task.categories == (7, 2)
    assert task.class_names == ("background", "species_7", "species_2")
    assert list(task.main_labels(np.array([7, 2, 5]))) == [1, 2, 0]


def test_unknown_category_suggests_close_names():
    with pytest.raises(ValueError, match="Did you mean species_1"):
        _task(categories=["specie_1"])


def test_more_positives_than_exist_is_rejected():
    with pytest.raises(ValueError, match="positives_per_class"):
        _task(categories=["species_1"], positives=50)
    with pytest.raises(ValueError, match="--num_rare"):
        _task(num_rare=3, positives=50)


def test_tf_relabel_agrees_with_numpy(tiny_source):
    labels, ids = tiny_source.read_labels("train")
    task = rare_task.choose_rare_task(tiny_source.label_names(), labels, ids,
                                      {"test": tiny_source.read_labels("test")[0]}, 3, 2, seed=1)
    kept = list(task.relabel(tiny_source.examples("train"), training=True).map(lambda ex: (ex["id"], ex["label"])).as_numpy_iterator())
    mask = task.train_keep_mask(labels, ids)
    expected = dict(zip(ids[mask], task.main_labels(labels[mask])))
    assert dict(kept) == expected
    assert sorted(k for k, v in kept if v > 0) == sorted(task.train_positive_ids)


def test_background_fraction_sets_positives_per_class():
    train = _labels(100)  # 10 categories x 100 images
    ids = np.array([f"train/{i}".encode() for i in range(train.size)], dtype=object)
    evals = {"validation": _labels(5, 1)}
    task = rare_task.choose_rare_task(NAMES, train, ids, evals, num_rare=2, positives_per_class=0, seed=0,
                                      background_fraction=0.98)
    # 800 background images; 800 * 0.02 / 0.98 / 2 = 8.2 -> 8 positives per class.
    summary = rare_task.summarize(task, task.main_labels(train[task.train_keep_mask(train, ids)]))
    assert [summary.counts[n] for n in task.class_names[1:]] == [8, 8]
    assert summary.background_fraction == pytest.approx(800 / 816)
    assert rare_task.positives_for_fraction(0.9999, 800, 2) == 1  # never fewer than one


def test_background_fraction_beyond_the_positives_says_how_to_fix():
    train = _labels(20)
    ids = np.array([f"train/{i}".encode() for i in range(train.size)], dtype=object)
    with pytest.raises(ValueError, match="raise --background_fraction"):
        rare_task.choose_rare_task(NAMES, train, ids, {"validation": _labels(5, 1)}, num_rare=2,
                                   positives_per_class=0, seed=0, background_fraction=0.5)


def test_background_undersampling_keeps_the_same_images_in_numpy_and_tf():
    import tensorflow as tf

    train = _labels(100)
    ids = np.array([f"train/{i}".encode() for i in range(train.size)], dtype=object)
    task = rare_task.choose_rare_task(NAMES, train, ids, {"validation": _labels(5, 1)}, num_rare=2,
                                      positives_per_class=3, seed=4, background_keep=0.25)
    keep = task.train_keep_mask(train, ids)
    main = task.main_labels(train)
    assert keep[main > 0].sum() == 6  # positives are never undersampled
    assert keep[main == 0].mean() == pytest.approx(0.25, abs=0.05)  # 800 background images
    ds = tf.data.Dataset.from_tensor_slices({"image": np.zeros((train.size, 1), "uint8"), "label": train, "id": ids.astype(bytes)})
    kept_ids = {ex["id"] for ex in task.relabel(ds, training=True).as_numpy_iterator()}
    assert kept_ids == set(ids[keep])
    other_seed = rare_task.choose_rare_task(NAMES, train, ids, {"validation": _labels(5, 1)}, num_rare=2,
                                            positives_per_class=3, seed=5, background_keep=0.25)
    assert not np.array_equal(other_seed.train_keep_mask(train, ids) & (main == 0), keep & (main == 0))


def _evals_without(category):
    labels = _labels(5, 1)
    return {"validation": labels[labels != category], "test": _labels(5, 2)}


@pytest.mark.parametrize("case, arguments, message", [
    ("unknown name", dict(categories=["specie_1"]), r"'specie_1' is not a category of the source.*species_1"),
    ("id out of range", dict(categories=["12"]), r"id 12 is out of range: the source has 10 categories"),
    ("named twice", dict(categories=["species_1", "1"]), r"name a category twice"),
    ("no eval positives", dict(categories=["species_4"], evals=_evals_without(4)),
     r"'species_4' has 20 train images \(need 2\) or no positives in \['test', 'validation'\]"),
    ("more positives than exist", dict(categories=["species_1"], positives=50),
     r"'species_1' has 20 train images \(need 50\).*lower --positives_per_class"),
    ("more categories than qualify", dict(num_rare=11), r"--num_rare=11 must be between 1 and 10"),
    ("background by definition", dict(categories=["species_0"], never_rare=(0,)),
     r"'species_0' holds background by definition.*--rare_categories"),
])
def test_a_bad_rare_task_is_rejected_naming_the_category_or_flag(case, arguments, message):
    train = _labels(20)
    ids = np.array([f"train/{i}".encode() for i in range(train.size)], dtype=object)
    evals = arguments.pop("evals", {"validation": _labels(5, 1), "test": _labels(5, 2)})
    options = {"num_rare": 3, "positives_per_class": arguments.pop("positives", 2), "seed": 0, **arguments}
    with pytest.raises(ValueError, match=message):
        rare_task.choose_rare_task(NAMES, train, ids, evals, **options)


def test_unlabeled_images_in_an_evaluation_split_are_refused_with_a_message():
    train = np.array([0, 1, 1, 2, 2, 3])
    with pytest.raises(ValueError, match=r"validation holds 1 unlabeled images.*train/unlabeled/"):
        rare_task.choose_rare_task(["a", "b", "c", "d"], train, np.array([b"%d" % i for i in range(6)]),
                         eval_labels={"validation": np.array([1, 2, -1])}, num_rare=1, positives_per_class=1,
                                   seed=0)
