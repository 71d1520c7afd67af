"""--frozen_through: the trunk below a layer stays the teacher's, its maps are computed once, and only the
layers above train; what is saved and served takes pixels again and scores as the trained model does."""

import keras
import numpy as np
import pytest

from bgsplit_tf import config as config_lib
from bgsplit_tf.models import pretrained, teacher as teacher_lib, trunk_split
from bgsplit_tf.training import prepare, run as run_lib
from bgsplit_tf.training import targets_memo
from tests import helpers

LAYER = "stage3_block1_out"  # the embedded teacher's trunk: the end of its third stage


def test_split_teacher_computes_the_teachers_logits_from_its_maps():
    teacher = pretrained.load()
    lower, upper_teacher = trunk_split.split_teacher(teacher, LAYER)
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(upper_teacher(lower(pixels)), teacher(pixels), atol=1e-4)
    assert teacher_lib.has_trunk(upper_teacher) and not lower.trainable and not upper_teacher.trainable


def test_a_cut_at_an_unknown_layer_names_the_trunks_layers():
    with pytest.raises(ValueError, match="has no layer 'block9z_add'"):
        trunk_split.split_trunk(helpers.tiny_teacher().get_layer("trunk"), "block9z_add")


@pytest.mark.e2e  # a full training run
def test_a_frozen_through_run_trains_the_top_on_maps_and_saves_a_pixel_model(tiny_data_dir, tmp_path):
    config = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, num_rare=2,
                                    positives_per_class=2, epochs=2, batch_size=32, warmup_epochs=0,
                                    frozen_through=LAYER, output_dir=str(tmp_path / "run"))
    memo = targets_memo.TargetsMemo()
    prepared = prepare.prepare_run(config, memo)
    images, _ = next(iter(prepared.train_batches))
    assert images.shape[1:] == prepared.lower_trunk.output_shape[1:] == (8, 8, 64)  # maps, not pixels
    assert prepared.input_recipe.augmentation == "none"

    results = run_lib.run_training(config, memo, verbose=0)
    assert 0.0 <= results.test.mAP <= 1.0
    saved = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert saved.input_shape == (None, 32, 32, 3)
    teacher = pretrained.load()
    lower = trunk_split.split_trunk(teacher_lib.teacher_trunk(teacher), LAYER)[0]
    pixels = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    # The frozen part is the teacher's: the saved model's first part still computes the teacher's maps.
    saved_lower = saved.get_layer("lower_trunk")
    np.testing.assert_allclose(saved_lower(pixels), lower(pixels), atol=1e-5)
    assert (tmp_path / "run" / "test_top_ranked.png").stat().st_size > 0


def test_maps_are_computed_for_the_training_images_a_task_keeps_and_grow_with_later_tasks(tiny_data_dir):
    """With --background_keep, most training background is never read: its maps are not computed; the
    next seed's task adds only the maps it lacks, and the training targets follow the coverage."""
    memo = targets_memo.TargetsMemo()
    configs = [config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, num_rare=2,
                                      positives_per_class=2, background_keep=0.3, batch_size=16, seed=seed,
                                      frozen_through=LAYER) for seed in (0, 1)]
    first = prepare.prepare_run(configs[0], memo)
    _, kept_first = prepare.draw_task(configs[0], first.source)[::2]
    split_maps = first.source.maps["train"]
    total = len(split_maps.covered)
    np.testing.assert_array_equal(split_maps.covered, kept_first)
    assert 0 < split_maps.covered.sum() < total / 2 and first.source.maps["validation"].covered.all()
    # Every covered map is the frozen lower trunk's output on that image's pixels.
    pixels = np.stack([e["image"] for e in first.pixel_source.examples("train").as_numpy_iterator()])
    np.testing.assert_allclose(split_maps.maps[kept_first], first.lower_trunk(pixels[kept_first]), atol=2e-2)
    train_ids = {i.decode() for i in first.source.encoded_examples("train").map(lambda e: e["id"]).as_numpy_iterator()}
    assert len(train_ids) == kept_first.sum()

    second = prepare.prepare_run(configs[1], memo)
    _, kept_second = prepare.draw_task(configs[1], second.source)[::2]
    assert second.source.maps["train"] is split_maps  # one store per process: grown, not recomputed
    np.testing.assert_array_equal(split_maps.covered, kept_first | kept_second)
    # A whole epoch joins a teacher target to every kept image (a missing one fails the pipeline).
    shapes = {tuple(images.shape[1:]) for images, _ in second.train_batches}
    assert shapes == {(8, 8, 64)} and second.steps_per_epoch > 0


def test_frozen_through_refuses_another_trunk():
    with pytest.raises(ValueError, match="--trunk=.*has no effect without an empty --frozen_through"):
        config_lib.TrainConfig(trunk="applications:resnet50", frozen_through=LAYER)


def test_freeze_batch_norm_keeps_the_teachers_function_in_training_mode(tiny_data_dir):
    """Batch statistics of other data would move what the trunk computes at step 0; frozen batch norm
    normalises with the teacher's moving statistics, so training mode computes the teacher's outputs."""
    from bgsplit_tf.training import build

    teacher = pretrained.load()
    pixels = np.random.default_rng(2).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    for freeze in (False, True):
        config = config_lib.TrainConfig(freeze_batch_norm=freeze, epochs=1)
        model = build.build_model(config, teacher, [100, 2, 2], steps_per_epoch=10)
        trained_mode = model.network(pixels, training=True)["aux"]
        assert np.allclose(trained_mode, teacher(pixels), atol=1e-3) == freeze
    trainable = {w.path.split("/")[-2] for w in model.network.get_layer("trunk").trainable_weights}
    assert trainable and not any(name.endswith("_bn") for name in trainable)  # convolutions train, norms do not
