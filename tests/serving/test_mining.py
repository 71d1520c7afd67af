"""Mining a pool with an exported model: planted positives rank first; bad files are skipped and listed."""

import csv

import keras
import numpy as np
import pytest
from PIL import Image

from bgsplit_tf.evaluation import top_ranked, validation

from bgsplit_tf.serving import export, mining
from bgsplit_tf.models import bgsplit_model
from tests import helpers

CLASS_NAMES = ("background", "red_thing", "blue_thing")


def _image(kind: str, rng, size=(16, 16)) -> np.ndarray:
    """Gray noise (background), or a red / blue image, with a little noise."""
    colours = {"red_thing": np.array([220, 30, 30]), "blue_thing": np.array([30, 30, 220])}
    base = rng.integers(60, 190, (*size, 3)) if kind == "background" else colours[kind]
    return np.clip(base + rng.integers(-20, 21, (*size, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def red_blue_export(tmp_path_factory):
    """A tiny network really trained to tell red and blue images from gray noise, exported."""
    rng = np.random.default_rng(0)
    kinds = ["background"] * 48 + ["red_thing"] * 8 + ["blue_thing"] * 8
    images = np.stack([_image(k, rng) for k in kinds]).astype("float32")
    labels = np.array([CLASS_NAMES.index(k) for k in kinds], "int32")
    targets = {"label": labels, "teacher_label": np.zeros_like(labels),
               "teacher_probs": np.full((len(kinds), helpers.NUM_CONCEPTS), 1 / helpers.NUM_CONCEPTS, "float32")}
    model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network(num_rare=2), aux_weight=0.0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=True)
    model.fit(images, targets, batch_size=16, epochs=15, verbose=0)
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(model.network(images)["main"]))
    points = validation.operating_points(labels, probs, CLASS_NAMES)
    return export.export_saved_model(model.network, CLASS_NAMES, tmp_path_factory.mktemp("models"), points)


def _write(path, array, fmt):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


@pytest.fixture
def pool(tmp_path):
    """30 images of other sizes in nested folders (3 red JPEGs, 3 blue PNGs), plus 2 broken files."""
    rng = np.random.default_rng(1)
    root = tmp_path / "pool"
    for i in range(24):
        _write(root / f"cam{i % 3}" / f"bg_{i}.jpg", _image("background", rng, (24, 20)), "JPEG")
    for i in range(3):
        _write(root / "cam1" / f"red_{i}.jpg", _image("red_thing", rng, (24, 20)), "JPEG")
        _write(root / "cam2" / f"blue_{i}.png", _image("blue_thing", rng, (30, 30)), "PNG")
    (root / "cam0" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (root / "cam0" / "empty.png").write_bytes(b"")
    return root


def _ranked(output_dir):
    with open(output_dir / "ranked.csv") as f:
        return list(csv.DictReader(f))


def test_mining_a_folder_ranks_the_planted_positives_first(red_blue_export, pool, tmp_path):
    out = tmp_path / "mined"
    summary = mining.mine(red_blue_export.parent, str(pool), out, batch_size=8, top_n=4)
    assert summary["scored"] == 30 and summary["skipped"] == 2
    assert sorted(p.rsplit("/", 1)[-1] for p in (out / "skipped.txt").read_text().split()) == ["broken.jpg", "empty.png"]
    rows = _ranked(out)
    assert len(rows) == 2 * 30
    assert list(rows[0]) == ["item", "class", "score", "rank", "above_p0.5", "above_p0.8", "above_p0.9"]
    for name, stem in (("red_thing", "red_"), ("blue_thing", "blue_")):
        mine = [r for r in rows if r["class"] == name]
        assert [int(r["rank"]) for r in mine] == list(range(1, 31))
        assert all(stem in r["item"] for r in mine[:3]), [r["item"] for r in mine[:4]]
        assert all(float(a["score"]) >= float(b["score"]) for a, b in zip(mine, mine[1:]))
    assert (out / "contact_sheet.png").read_bytes().startswith(b"\x89PNG")


def test_a_manifest_names_the_same_pool(red_blue_export, pool, tmp_path):
    manifest = tmp_path / "pool.csv"
    files = sorted(pool.rglob("*.jpg")) + sorted(pool.rglob("*.png"))
    manifest.write_text("path,label\n" + "".join(f"{f.relative_to(tmp_path)},\n" for f in files))
    summary = mining.mine(red_blue_export, str(manifest), tmp_path / "mined", batch_size=8)
    assert summary["scored"] == 30 and summary["skipped"] == 2


def test_a_tfds_split_is_a_pool_too(red_blue_export, tiny_data_dir, tmp_path):
    summary = mining.mine(red_blue_export, "tfds:bgsplit_shapes/tiny/test", tmp_path / "mined", batch_size=128,
                           data_dir=tiny_data_dir)
    assert summary["scored"] == 512
    assert _ranked(tmp_path / "mined")[0]["item"].startswith("test/")


def test_a_folder_without_a_model_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no SavedModel"):
        mining.resolve_export(tmp_path)


def test_a_tfds_pool_is_resized_as_training_resizes(tiny_data_dir):
    """The pool's pixels are what training's decoding gives (bilinear, rounded), not nearest-neighbour."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from bgsplit_tf.data import image_files

    batches, items = mining.pool_batches("tfds:bgsplit_shapes/tiny/test", (16, 16), 4, tiny_data_dir, "image", "id")
    ids, pixels = next(iter(batches))
    assert len(items) == 512 and ids.numpy()[0].decode() == items[0]
    original = next(iter(tfds.load("bgsplit_shapes/tiny", split="test", data_dir=tiny_data_dir)))["image"]
    np.testing.assert_array_equal(pixels[0], image_files.resize_uint8(original, (16, 16)))
    assert not np.array_equal(pixels[0], tf.image.resize(original, (16, 16), method="nearest").numpy())


def test_kept_top_images_do_not_pin_their_batch():
    top = top_ranked.TopImages(num_classes=1, size=2)
    pixels = np.zeros((64, 8, 8, 3), np.uint8)
    top.add(np.arange(64, dtype=np.float32)[:, None], pixels, [str(i) for i in range(64)])
    for _, _, image in top.best(0):
        assert image.base is None or not np.shares_memory(image, pixels)
