"""Fashion-MNIST as a source: the IDX files (Debian's dataset-fashion-mnist, or files a test writes) and
TFDS's fashion_mnist give the same examples with the same ids; the validation split is carved from train
by id; decoding gives RGB at the model's input size."""

import gzip
import os
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from bgsplit_tf.data import sources
from bgsplit_tf.data.sources import fashion_mnist


def write_idx(directory: pathlib.Path, part: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Writes images uint8 [N, 28, 28] and labels [N] as the gzipped IDX files of `part` (train | test)."""
    images_file, labels_file = fashion_mnist.FILES[part]
    header = b"\0\0\x08\x03" + b"".join(int(n).to_bytes(4, "big") for n in images.shape)
    (directory / images_file).write_bytes(gzip.compress(header + images.astype(np.uint8).tobytes()))
    (directory / labels_file).write_bytes(gzip.compress(b"\0\0\x08\x01" + len(labels).to_bytes(4, "big")
                                                        + labels.astype(np.uint8).tobytes()))


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    train[7] = train[3]  # an exact duplicate (same pixels, same label)
    train_labels = np.arange(60) % 10
    train_labels[7] = train_labels[3]
    write_idx(tmp_path, "train", train, train_labels)
    write_idx(tmp_path, "test", rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), np.arange(20) % 10)
    return tmp_path


def test_idx_files_give_stable_content_ids_and_a_validation_split_from_train(idx_dir):
    source = sources.open_source(f"fashion_mnist:{idx_dir}")
    train_labels, train_ids = source.read_labels("train")
    val_labels, val_ids = source.read_labels("validation")
    test_labels, test_ids = source.read_labels("test")
    assert len(train_ids) + len(val_ids) == 60 and len(test_ids) == 20
    assert not set(train_ids) & set(val_ids)
    assert all(int(i[:8], 16) % fashion_mnist.VALIDATION_MODULUS == 0 for i in val_ids)
    assert list(train_ids) == sorted(train_ids) and list(test_ids) == sorted(test_ids)
    everything = [*train_ids, *val_ids]
    assert len(set(everything)) == 60 and sum(i.endswith(b"-1") for i in everything) == 1  # the duplicate
    expected_labels = np.arange(60) % 10
    expected_labels[7] = expected_labels[3]
    assert sorted(np.concatenate([train_labels, val_labels])) == sorted(expected_labels)
    assert source.label_names()[9] == "Ankle boot"
    with pytest.raises(ValueError, match="no split 'pretrain'"):
        source.read_labels("pretrain")


def test_decoding_gives_rgb_at_the_input_size(idx_dir):
    source = sources.open_source(f"fashion_mnist:{idx_dir}", image_size=(64, 64))
    encoded = next(iter(source.encoded_examples("test")))
    decoded = source.decode(encoded)
    assert encoded["image"].shape == (28, 28, 1)
    assert decoded["image"].shape == (64, 64, 3) and decoded["image"].dtype == "uint8"
    channels = decoded["image"].numpy().astype(int)
    assert (channels[..., 0] == channels[..., 2]).all()  # grey repeated
    assert source.image_shape() == (64, 64, 3)
    crop = source.decode_random_crop(encoded, np.array([1, 2], np.int64))["image"]
    assert crop.shape == (64, 64, 3)


def test_tfds_gives_the_same_examples_and_ids_as_the_idx_files(tmp_path):
    """TFDS's fashion_mnist (mocked: no download) read as a source, and the same examples written as IDX
    files: one set of ids, each naming the same pixels."""
    with tfds.testing.mock_data(num_examples=40):
        tfds_source = sources.open_source("fashion_mnist:tfds")
        by_id = {}
        for split in ("train", "validation", "test"):
            for example in tfds_source.encoded_examples(split).as_numpy_iterator():
                by_id[split, example["id"]] = (example["image"], example["label"])
        parts = {part: next(tfds.builder("fashion_mnist").as_dataset(split=part).batch(100).as_numpy_iterator())
                 for part in ("train", "test")}
    for part, batch in parts.items():
        write_idx(tmp_path, part, batch["image"][..., 0], batch["label"])
    idx_source = sources.open_source(f"fashion_mnist:{tmp_path}")
    for split in ("train", "validation", "test"):
        for example in idx_source.encoded_examples(split).as_numpy_iterator():
            image, label = by_id.pop((split, example["id"]))
            np.testing.assert_array_equal(image, example["image"])
            assert label == example["label"]
    assert not by_id


def test_damaged_or_missing_files_say_what_to_do(tmp_path, idx_dir):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        sources.open_source(f"fashion_mnist:{tmp_path / 'nowhere'}").read_labels("test")
    images_file = idx_dir / fashion_mnist.FILES["test"][0]
    images_file.write_bytes(gzip.compress(gzip.decompress(images_file.read_bytes())[:-100]))
    with pytest.raises(ValueError, match="truncated"):
        fashion_mnist.FashionMnistSource(str(idx_dir)).read_labels("test")


def test_a_pool_names_its_split():
    assert sources.parse("fashion_mnist/test", pool=True) == sources.Spec("fashion_mnist", "", "test")
    with pytest.raises(ValueError, match="names its split"):
        sources.parse("fashion_mnist", pool=True)


def test_the_debian_files_hold_the_whole_dataset():
    if not pathlib.Path(fashion_mnist.DEBIAN_DIR).exists():
        if os.environ.get("BGSPLIT_REQUIRE_FASHION_MNIST"):
            pytest.fail(f"{fashion_mnist.DEBIAN_DIR} is missing (apt-get install dataset-fashion-mnist)")
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    source = sources.open_source("fashion_mnist")
    counts = {split: len(source.read_labels(split)[1]) for split in fashion_mnist.SPLITS}
    assert counts["train"] + counts["validation"] == 60_000 and counts["test"] == 10_000
    assert 9_500 < counts["validation"] < 10_500
    assert len({i for split in fashion_mnist.SPLITS for i in source.read_labels(split)[1]}) == 70_000
    assert np.bincount(source.read_labels("test")[0]).tolist() == [1000] * 10
