"""The mechanism Background Splitting claims, measured once per epoch.

The paper says the auxiliary task "regularizes the feature representation ... and reduces overfitting
to the small number of rare category positives". MechanismProbe measures, after every epoch:

  mech_train_positive_prob   mean main-head probability of the true class on the run's own training
                             positives, un-augmented (memorisation: near 1 once they are fitted);
  mech_val_positive_prob     the same on the validation positives (what memorisation buys);
  mech_cka_to_teacher        linear CKA between the student's and the teacher's trunk features on a
                             fixed probe set (1: the same representation up to rotation and scale);
  mech_background_rank       effective rank of the student's trunk features over the probe set's
                             background images (how many directions the background still spreads over);

and keeps the teacher's own background rank (teacher_background_rank). The training aux loss, the
drift from the teacher's classifier, is logged by the model itself (aux_loss), for fine-tuning too.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment of two feature matrices x [N, D1], y [N, D2] (Kornblith et al. 2019).

    ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) after centring each column; in [0, 1], invariant to
    rotations and isotropic scaling of either representation.
    """
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def effective_rank(features: np.ndarray) -> float:
    """exp(entropy of the normalised singular values) of centred features [N, D] (Roy and Vetterli 2007):
    between 1 (all images on one line) and min(N, D) (spread evenly over every direction)."""
    singular = np.linalg.svd(features - features.mean(axis=0), compute_uv=False)
    p = singular / singular.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def _stack(batches: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for batch_images, targets in batches:
        images.append(batch_images.numpy())
        labels.append(targets["label"].numpy())
    if not images:
        return np.zeros((0,), np.float32), np.zeros((0,), np.int64)
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


class MechanismProbe(keras.callbacks.Callback):
    """Adds the mech_* figures (module docstring) to each epoch's logs; place it before TensorBoard.

    probe: un-augmented batches (images float32 [B, H, W, 3], targets with "label") of a fixed probe
    set, e.g. the first 512 validation images; train_positives, val_positives: the same for (at most as
    many of) the run's kept training positives and the validation positives (labels 1..K). teacher_trunk: pixels ->
    features of the teacher, computed once on the probe set; None (a teacher without a trunk, e.g. a
    SavedModel) leaves out mech_cka_to_teacher.
    """

    def __init__(self, probe: tf.data.Dataset, train_positives: tf.data.Dataset, val_positives: tf.data.Dataset,
                 teacher_trunk: keras.Model | None):
        super().__init__()
        self.probe_images, probe_labels = _stack(probe)
        self.probe_background = probe_labels == 0
        self.train_positives = _stack(train_positives)
        self.val_positives = _stack(val_positives)
        self.teacher_features = self.teacher_background_rank = None
        if teacher_trunk is not None:
            self.teacher_features = teacher_trunk.predict(self.probe_images, batch_size=512, verbose=0)
            self.teacher_background_rank = effective_rank(self.teacher_features[self.probe_background])

    def _true_class_probability(self, images: np.ndarray, labels: np.ndarray, batch_size: int = 256) -> float:
        if len(labels) == 0:
            return float("nan")
        probs = np.concatenate([keras.ops.convert_to_numpy(self.model.main_probabilities(
            self.model(images[i:i + batch_size], training=False))) for i in range(0, len(labels), batch_size)])
        return float(probs[np.arange(len(labels)), labels].mean())

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        trunk = self.model.network.get_layer("trunk")
        features = trunk.predict(self.probe_images, batch_size=512, verbose=0).astype(np.float64)
        logs.update(
            mech_train_positive_prob=self._true_class_probability(*self.train_positives),
            mech_val_positive_prob=self._true_class_probability(*self.val_positives),
            mech_background_rank=effective_rank(features[self.probe_background]),
        )
        if self.teacher_features is not None:
            logs["mech_cka_to_teacher"] = linear_cka(features, self.teacher_features.astype(np.float64))
