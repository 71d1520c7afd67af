"""Any TFDS dataset by name, driven offline by tfds.testing.mock_data with i_naturalist2017's real
feature spec (variable-size images, 5,089 categories, string ids)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from bgsplit_tf import config as config_lib
from bgsplit_tf.training import run as run_lib
from bgsplit_tf.data.sources import tfds_source as source_lib


CATEGORIES = (7, 1, 2, 3)  # most examples are category 7 (background); 1, 2, 3 are rarer


def _inaturalist_like(self, split, decoders=None, read_config=None, **kwargs):
    """Examples in i_naturalist2017's feature spec (image of any size, label, id, supercategory), with
    labels from a few categories so that a rare task can be drawn; the same examples on every call."""
    assert set(self.info.features.keys()) == {"id", "image", "label", "supercategory"}
    rng = np.random.default_rng(len(split))
    n = 96
    labels = rng.choice(CATEGORIES, size=n, p=[0.7, 0.1, 0.1, 0.1])

    def generate():
        pixels_rng = np.random.default_rng(len(split) + 100)  # a fresh generator per pass: identical passes
        for i in range(n):
            height, width = pixels_rng.integers(20, 60, 2)
            yield {"id": f"{split}/{i:04d}", "image": pixels_rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
                   "label": labels[i], "supercategory": 0}

    spec = {"id": tf.TensorSpec([], tf.string), "image": tf.TensorSpec([None, None, 3], tf.uint8),
            "label": tf.TensorSpec([], tf.int64), "supercategory": tf.TensorSpec([], tf.int64)}
    return tf.data.Dataset.from_generator(generate, output_signature=spec).apply(tf.data.experimental.assert_cardinality(n))


def test_inaturalist_spec_reads_labels_and_resizes_variable_images():
    with tfds.testing.mock_data(as_dataset_fn=_inaturalist_like):
        source = source_lib.TfdsSource(name="i_naturalist2017", label_key="label", image_size=(32, 32))
        assert len(source.label_names()) == 5089
        assert source.image_shape() == (None, None, 3)
        labels, ids = source.read_labels("train")
        assert labels.shape == (96,) and set(labels) <= set(CATEGORIES)
        examples = list(source.examples("train").as_numpy_iterator())
        assert [ex["id"] for ex in examples] == list(ids)
        resumed = list(source.examples("train", skip=90).as_numpy_iterator())  # where a cache shard resumes
        assert [ex["id"] for ex in resumed] == list(ids[90:])
        assert all(ex["image"].shape == (32, 32, 3) and ex["image"].dtype == np.uint8 for ex in examples)


@pytest.mark.e2e  # a full training run
def test_training_on_a_mocked_inaturalist_2017(tmp_path):
    with tfds.testing.mock_data(as_dataset_fn=_inaturalist_like):
        config = config_lib.TrainConfig(
            dataset="i_naturalist2017", label_key="label", train_split="train", val_split="validation",
            test_split="test", teacher="applications:mobilenetv3small", teacher_weights="none", image_size=32,
            rare_categories=("1", "2"), positives_per_class=3, epochs=1, batch_size=16, warmup_epochs=0,
            jit_compile=False, output_dir=str(tmp_path / "run"))
        results = run_lib.run_training(config, verbose=0)
    assert results.task.category_ids == (1, 2)
    assert results.task.train.counts[results.task.rare_categories[0]] == 3
    assert 0.0 <= results.val.mAP <= 1.0


def test_split_arithmetic_is_a_split_and_a_missing_part_is_named(tiny_source):
    tiny_source.check_split("train+test[:10%]")
    with pytest.raises(ValueError, match="no split 'tset'"):
        tiny_source.check_split("train+tset")
