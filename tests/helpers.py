"""Small real models and batches shared by the tests (real TF ops, tiny shapes), and a run's results."""

import numpy as np

from bgsplit_tf import config as config_lib
from bgsplit_tf.data import rare_task
from bgsplit_tf.evaluation import run_results as run_results_lib
from bgsplit_tf.models import network, teacher, trunks

IMAGE_SIZE = 16
# The categories of the image-folder fixture (conftest.image_root) and their mean colours.
CAMERA_TRAP_COLOURS = {"fox": (200, 90, 30), "owl": (120, 110, 90), "lynx": (180, 160, 120)}
NUM_CONCEPTS = 3


def tiny_teacher(seed: int = 0):
    """An untrained teacher: 16 px input, 2 stages, 3 classes."""
    import keras

    keras.utils.set_random_seed(seed)
    return teacher.build_teacher(trunks.small_resnet(IMAGE_SIZE, widths=(4, 8)), NUM_CONCEPTS)


def tiny_network(num_rare: int = 2, fixed_background_logit=None, seed: int = 0):
    return network.network_from_teacher(tiny_teacher(seed), num_rare, fixed_background_logit)


def tiny_batch(batch_size: int = 8, num_rare: int = 2, seed: int = 0):
    """(images float32 [B, 16, 16, 3] in [0, 255], targets dict) with random labels."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(NUM_CONCEPTS), size=batch_size).astype("float32")
    targets = {
        "label": rng.integers(0, num_rare + 1, batch_size).astype("int32"),
        "teacher_label": probs.argmax(1).astype("int32"),
        "teacher_probs": probs,
    }
    return (rng.random((batch_size, IMAGE_SIZE, IMAGE_SIZE, 3)) * 255).astype("float32"), targets


def run_results(val_mAP: float = 0.5, test_mAP: float = 0.5, rare_categories=("fox", "owl"),
                config: config_lib.TrainConfig | None = None, chosen_precision: str = "off",
                history: dict | None = None, mechanism: run_results_lib.MechanismSummary | None = None,
                wall_seconds: float = 2.0) -> run_results_lib.RunResults:
    """A finished run's results with hand-picked figures, as a fake trainer returns them: every rare
    class at the given mAPs; 6, 8 and 15 positives of each and 1000, 200 and 400 background images in
    train, validation and test; no operating points."""
    def split(positives: int, background: int) -> rare_task.SplitSummary:
        counts = {rare_task.BACKGROUND: background, **{name: positives for name in rare_categories}}
        return rare_task.SplitSummary(sum(counts.values()), counts, 0, background / sum(counts.values()))

    return run_results_lib.RunResults(
        test=run_results_lib.MapSummary(test_mAP, {name: test_mAP for name in rare_categories}),
        val=run_results_lib.MapSummary(val_mAP, {name: val_mAP for name in rare_categories}),
        task=run_results_lib.TaskSummary(tuple(rare_categories), tuple(range(1, len(rare_categories) + 1)),
                                         split(6, 1000), split(8, 200), split(15, 400)),
        history=history or {"loss": (1.0,), "val_mAP": (val_mAP,)}, bad_images={}, train_seconds=1.0,
        train_images_per_second=100.0, config=run_results_lib.flag_record(config or config_lib.TrainConfig()),
        operating_points={}, input_recipe=None, mechanism=mechanism, eval_logit_offset=None,
        precision=run_results_lib.TrunkPrecision(chosen_precision, chosen_precision, f"--mixed_precision={chosen_precision}"),
        wall_seconds=wall_seconds, phase_seconds={})
