"""Small real models and batches shared by the tests (real TF ops, tiny shapes)."""

import numpy as np

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
