"""Training from image folders: <root>/<split>/<category>/ files, streamed, decoded, resized."""

import numpy as np
import pytest
from PIL import Image

from bgsplit_tf import config as config_lib
from bgsplit_tf.training import prepare, run as run_lib
from bgsplit_tf.data.sources import folders as folder_source, manifests as manifests_source
from tests import helpers

CATEGORIES = helpers.CAMERA_TRAP_COLOURS


def test_listing_labels_ids_and_decoded_examples(image_root):
    source = folder_source.FolderSource(str(image_root), (32, 32))
    assert source.label_names() == ["background", "fox", "lynx", "owl"]
    assert source.never_rare() == (0,)
    labels, ids = source.read_labels("validation")
    assert len(labels) == 3 * 3 + 24 and np.bincount(labels).tolist() == [24, 3, 3, 3]
    examples = list(source.examples("validation").as_numpy_iterator())
    assert {ex["id"] for ex in examples} == set(ids)
    assert all(ex["image"].shape == (32, 32, 3) and ex["image"].dtype == np.uint8 for ex in examples)
    fox = next(ex for ex in examples if ex["id"].startswith(b"validation/fox/"))
    assert np.abs(fox["image"].reshape(-1, 3).mean(0) - CATEGORIES["fox"]).max() < 12


def test_missing_split_names_the_layout(image_root):
    with pytest.raises(ValueError, match="has no split folder 'val'"):
        folder_source.FolderSource(str(image_root)).read_labels("val")


@pytest.mark.e2e  # a full training run
def test_training_on_image_folders_never_draws_the_background_folder(image_root, tmp_path):
    config = config_lib.TrainConfig(dataset=f"folder:{image_root}", num_rare=3, positives_per_class=2, epochs=1,
                                    batch_size=8, warmup_epochs=0, output_dir=str(tmp_path / "run"))
    results = run_lib.run_training(config, verbose=0)
    assert sorted(results.task.rare_categories) == ["fox", "lynx", "owl"]
    assert results.task.train.counts["background"] == 48
    assert 0.0 <= results.test.mAP <= 1.0
    bad = config_lib.TrainConfig(dataset=f"folder:{image_root}", rare_categories=("background",),
                                 output_dir=str(tmp_path / "bad"))
    with pytest.raises(ValueError, match="background by definition"):
        run_lib.run_training(bad, verbose=0)


@pytest.mark.e2e  # a full training run
def test_image_folders_with_a_keras_applications_teacher(image_root, tmp_path):
    config = config_lib.TrainConfig(dataset=f"folder:{image_root}", teacher="applications:mobilenetv3small",
                                    teacher_weights="none", image_size=32, num_rare=2, positives_per_class=2,
                                    epochs=1, batch_size=8, warmup_epochs=0, output_dir=str(tmp_path / "run"),
                                    jit_compile=False)  # XLA compiles MobileNetV3 for ~30 s; the path is the point
    results = run_lib.run_training(config, verbose=0)
    assert len(results.task.rare_categories) == 2
    assert np.isfinite(results.history["aux_loss"][0])


@pytest.mark.e2e  # a full training run
def test_an_unlabeled_folder_is_no_category_and_its_images_stay_in_training(image_root, tmp_path):
    """Unlabeled images are kept in training: they feed the aux loss (tests/models/test_losses.py: they are
    masked out of the main loss)."""
    import shutil

    root = tmp_path / "with_unlabeled"
    shutil.copytree(image_root, root)
    (root / "train" / "unlabeled").mkdir()
    for i in range(10):
        pixels = np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "train" / "unlabeled" / f"{i}.png")
    source = folder_source.FolderSource(str(root), (32, 32))
    assert "unlabeled" not in source.label_names()
    config = config_lib.TrainConfig(dataset=f"folder:{root}", num_rare=2, positives_per_class=2, epochs=1,
                                    batch_size=8, warmup_epochs=0, output_dir=str(tmp_path / "run"))
    results = run_lib.run_training(config, verbose=0)
    assert results.task.train.unlabeled == 10
    # background: 48 images + the 6 of the category not drawn; 2 positives each of the 2 rare ones; 10 unlabeled
    assert results.task.train.num_examples == 48 + 6 + 2 * 2 + 10


@pytest.mark.e2e  # a full training run
def test_training_from_csv_manifests_with_unlabeled_rows(image_root, tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for split in ("train", "validation", "test"):
        rows = ["path,label"]
        for path in sorted((image_root / split).rglob("*.*")):
            category = path.relative_to(image_root / split).parts[0]
            unlabeled = split == "train" and category == "background" and path.stem in {"0", "1", "2"}
            rows.append(f"{path},{'' if unlabeled else category}")  # absolute paths
        (manifests / f"{split}.csv").write_text("\n".join(rows) + "\n")
    source = manifests_source.ManifestSource(str(manifests), (32, 32))
    assert source.label_names() == ["background", "fox", "lynx", "owl"]
    labels, _ = source.read_labels("train")
    assert int(np.sum(labels == -1)) == 3
    assert len(list(source.examples("train").as_numpy_iterator())) == len(labels)
    config = config_lib.TrainConfig(dataset=f"manifest:{manifests}", num_rare=2, positives_per_class=2, epochs=1,
                                    batch_size=8, warmup_epochs=0, output_dir=str(tmp_path / "run"))
    results = run_lib.run_training(config, verbose=0)
    # background: 48 - 3 unlabeled + the 6 images of the category not drawn
    assert results.task.train.unlabeled == 3 and results.task.train.counts["background"] == 51


def test_a_task_without_background_is_rejected_before_training(image_root, tmp_path):
    source = folder_source.FolderSource(str(image_root), (32, 32))
    config = config_lib.TrainConfig(dataset=source.name, num_rare=2, positives_per_class=2, background_keep=1e-9,
                                    output_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="no background images are left.*--background_keep"):
        prepare.draw_task(config, source)


def test_one_parser_names_every_source_for_training_and_for_pools(tmp_path):
    from bgsplit_tf.data import sources

    assert sources.parse("bgsplit_shapes") == sources.Spec("tfds", "bgsplit_shapes")
    assert sources.parse("tfds:bgsplit_shapes/tiny:1.0.0") == sources.Spec("tfds", "bgsplit_shapes/tiny:1.0.0")
    assert sources.parse("bgsplit_shapes:1.0.0") == sources.Spec("tfds", "bgsplit_shapes:1.0.0")
    assert sources.parse("folder:/data/traps") == sources.Spec("folder", "/data/traps")
    assert sources.parse("manifest:/data/lists") == sources.Spec("manifest", "/data/lists")
    assert sources.parse("tfds:bgsplit_shapes/tiny/test", pool=True) == sources.Spec("tfds", "bgsplit_shapes/tiny",
                                                                                     "test")
    (tmp_path / "pool").mkdir()
    (tmp_path / "pool.csv").write_text("path\n")
    assert sources.parse(str(tmp_path / "pool"), pool=True) == sources.Spec("folder", str(tmp_path / "pool"), "pool")
    assert sources.parse(str(tmp_path / "pool.csv"), pool=True).kind == "manifest"
    with pytest.raises(ValueError, match="tfds:NAME/SPLIT"):
        sources.parse(str(tmp_path / "missing"), pool=True)
    with pytest.raises(ValueError, match="names its split"):
        sources.parse("tfds:mnist", pool=True)
