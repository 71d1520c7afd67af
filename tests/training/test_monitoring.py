"""Watching a run: the console verbosity --verbose picks, and what a real tiny run leaves in TensorBoard
(read back from its event files)."""

import io

import pytest

from bgsplit_tf import config as config_lib
from bgsplit_tf.training import loop
from tests.tensorboard_events import image_shape, read_run

STEPS_PER_EPOCH = 24  # 768 kept training images of bgsplit_shapes/tiny, batches of 32


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("setting, terminal, steps, expected", [
    ("bar", False, 10, 1), ("epoch", True, 5000, 2), ("off", True, 5000, 0),
    ("auto", True, config_lib.PROGRESS_BAR_MIN_STEPS, 1),  # a long epoch on a terminal: the bar
    ("auto", True, config_lib.PROGRESS_BAR_MIN_STEPS - 1, 2),  # a short epoch: a line per epoch
    ("auto", False, 5000, 2),  # a log file: a line per epoch
])
def test_verbose_maps_onto_keras_verbosity(monkeypatch, setting, terminal, steps, expected):
    monkeypatch.setattr("sys.stdout", _Terminal() if terminal else io.StringIO())
    assert loop.keras_verbosity(setting, steps) == expected


@pytest.mark.e2e  # a full training run
def test_a_tiny_run_fills_tensorboard_and_follows_the_verbose_flag(tiny_data_dir, tmp_path, capsys):
    from bgsplit_tf.training import run as run_lib

    out = tmp_path / "run"
    config = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, num_rare=2,
                                    positives_per_class=2, epochs=2, batch_size=32, warmup_epochs=0,
                                    mechanism=False, log_every_steps=5, verbose="epoch", output_dir=str(out))
    results = run_lib.run_training(config)  # verbose from the config: one line per epoch
    printed = capsys.readouterr().out
    training = printed[printed.index("Epoch 1/"):]  # (before it: the decode pass's progress bar, per image)
    assert f"{STEPS_PER_EPOCH}/{STEPS_PER_EPOCH} - " in training and "━" not in training  # no progress bar
    rare = results.task.rare_categories
    assert len(rare) == 2
    # Where the run's time went: its phases, each timed, adding up to at most its wall time.
    phase_seconds = results.phase_seconds
    assert {"training", "evaluation"} <= set(phase_seconds) and all(s > 0 for s in phase_seconds.values())
    assert sum(phase_seconds.values()) <= results.wall_seconds
    assert phase_seconds["training"] >= results.train_seconds
    board = out / "tensorboard"

    per_class = read_run(board / "validation_per_class")
    for name in rare:
        assert per_class[f"val_AP/{name}"].steps == [0, 1]  # every epoch, at Keras' epoch steps
        assert float(per_class[f"val_AP/{name}"].values[-1]) == pytest.approx(results.val.ap[name])
        assert per_class[f"PR/{name}/pr_curves"].plugin == "pr_curves"
        assert per_class[f"PR/{name}/pr_curves"].steps == [0, 1]
    assert read_run(board / "validation")["epoch_mAP"].steps == [0, 1]  # Keras' val_mAP, beside them

    steps = read_run(board / "train_steps")
    for name in ("batch_loss", "batch_main_loss", "batch_aux_loss"):
        assert steps[name].steps == list(range(5, 2 * STEPS_PER_EPOCH + 1, 5))  # global steps, across epochs

    test = read_run(board / "test")
    for name in rare:
        assert test[f"PR/{name}/pr_curves"].plugin == "pr_curves"
        assert test[f"PR/{name}/pr_curves"].steps == [config.epochs]
    assert float(test["test_mAP"].values[0]) == pytest.approx(results.test.mAP)
    top_ranked = (out / "test_top_ranked.png").read_bytes()
    assert top_ranked.startswith(b"\x89PNG")
    assert test["test_top_ranked"].plugin == "images" and test["test_pr_curves"].plugin == "images"
    from PIL import Image

    assert image_shape(test["test_top_ranked"])[:2] == Image.open(out / "test_top_ranked.png").size[::-1]
    gallery = read_run(board / "train")["train_gallery"]
    assert gallery.plugin == "images" and gallery.steps == [0]
    assert image_shape(gallery)[:2] == Image.open(out / "train_gallery.png").size[::-1]
