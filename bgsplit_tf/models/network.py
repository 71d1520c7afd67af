"""The two-output Background Splitting network: one shared trunk, a main head and an auxiliary head."""

from __future__ import annotations

import keras
from keras import layers, ops

from bgsplit_tf.models import teacher as teacher_lib


@keras.saving.register_keras_serializable(package="bgsplit_tf")
class FixedBackgroundLogit(layers.Layer):
    """Prepends a constant background logit to the K rare-class logits.

    The paper's "fixed background logit": the main head learns only the K rare logits and
    background is the constant `value`. Input float32 [B, K] -> output float32 [B, K + 1].
    """

    def __init__(self, value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.value = float(value)

    def call(self, rare_logits):
        """rare_logits float32 [B, K] -> [B, K + 1] with the constant background logit first."""
        background = ops.full_like(rare_logits[:, :1], self.value)
        return ops.concatenate([background, rare_logits], axis=-1)

    def get_config(self):
        return {**super().get_config(), "value": self.value}


@keras.saving.register_keras_serializable(package="bgsplit_tf")
class CosineDense(layers.Layer):
    """A normalised linear classifier: scale * cos(features, w_c) per class, no bias.

    The classifier LDAM trains (Cao et al. 2019): features and each class's weight vector are
    L2-normalised, so logits lie in [-scale, scale]. Input float32 [B, D] -> float32 [B, units].
    """

    def __init__(self, units: int, scale: float = 30.0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.scale = float(scale)

    def build(self, input_shape):
        """Creates the kernel float32 [D, units], one weight vector per class."""
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")

    def call(self, features):
        """features float32 [B, D] -> scale * cosine similarity to each class's weights, [B, units]."""
        cosine = ops.matmul(ops.normalize(features, axis=-1), ops.normalize(self.kernel, axis=0))
        return self.scale * cosine

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale}


def build_network(
    trunk: keras.Model,
    num_rare: int,
    num_aux: int,
    fixed_background_logit: float | None = None,
    cosine_scale: float | None = None,
) -> keras.Model:
    """Builds the functional two-output model on a shared trunk.

    Args:
      trunk: image -> features model (see bgsplit_tf.models.trunks).
      num_rare: K, the number of rare classes.
      num_aux: M, the size of the teacher's label space.
      fixed_background_logit: if set, the background logit is this constant instead of learned.
      cosine_scale: if set, the main head is a normalised classifier (CosineDense) with this scale,
        as LDAM uses; otherwise a Dense layer.

    Returns:
      keras.Model named "bgsplit_network": float32 pixels [B, H, W, 3] in [0, 255] ->
      {"main": float32 [B, K + 1] logits (index 0 = background), "aux": float32 [B, M] logits}.
    """
    inputs = keras.Input(trunk.input_shape[1:], name="pixels")
    features = trunk(inputs)

    # The heads compute in float32 whatever the trunk's precision: logits and losses stay float32.
    def classifier(units, name):
        if cosine_scale is None:
            return layers.Dense(units, name=name, dtype="float32")
        return CosineDense(units, cosine_scale, name=name, dtype="float32")

    if fixed_background_logit is None:
        main = classifier(num_rare + 1, "main")(features)
    else:
        rare = classifier(num_rare, "main_rare")(features)
        main = FixedBackgroundLogit(fixed_background_logit, name="main", dtype="float32")(rare)
    aux = layers.Dense(num_aux, name="aux", dtype="float32")(features)
    return keras.Model(inputs, {"main": main, "aux": aux}, name="bgsplit_network")


def freeze_batch_norm(trunk: keras.Model) -> None:
    """Every BatchNormalization layer of `trunk` (nested models included) untrainable: Keras then runs it
    in inference mode, normalising with its moving statistics, and keeps its scale and offset."""
    for layer in trunk.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
        elif isinstance(layer, keras.Model):
            freeze_batch_norm(layer)


def _cloner(policy: str, synchronized_batch_norm: bool):
    """A clone_function re-creating each layer under the dtype policy `policy`, with batch
    normalisation synchronised across replicas if asked."""
    def clone(layer):
        config = layer.get_config()
        if "dtype" in config:
            config["dtype"] = policy
        if synchronized_batch_norm and isinstance(layer, layers.BatchNormalization):
            config["synchronized"] = True
        return layer.__class__.from_config(config)
    return clone


def network_from_teacher(
    teacher: keras.Model, num_rare: int, fixed_background_logit: float | None = None,
    cosine_scale: float | None = None, fresh_aux_classes: int | None = None, trunk_dtype: str = "float32",
    synchronized_batch_norm: bool = False,
) -> keras.Model:
    """A network whose trunk starts as a copy of `teacher`'s trunk. The teacher is not modified.

    By default the aux head starts as the teacher's classifier (as the official code does), so at
    step 0 the aux head reproduces the teacher exactly. fresh_aux_classes=M instead gives a freshly
    initialised aux head of M classes: for a student whose trunk comes from another model than the
    teacher it mimics (e.g. a SavedModel teacher, which has no trunk to copy).
    trunk_dtype: the trunk's Keras dtype policy: "float32", or "mixed_bfloat16" / "mixed_float16"
    (compute in 16 bits, variables in float32); the heads always compute in float32.
    synchronized_batch_norm: batch statistics over the global batch under tf.distribute (replicas
    then compute what one device computes).
    """
    source_trunk = teacher_lib.teacher_trunk(teacher)
    trunk = keras.models.clone_model(source_trunk, clone_function=_cloner(trunk_dtype, synchronized_batch_norm),
                                     recursive=True)
    trunk.set_weights(source_trunk.get_weights())
    # A clone copies each layer's `trainable` flag, and a frozen teacher's layers are frozen; setting
    # it on the functional trunk alone does not reach them.
    for layer in [trunk, *trunk.layers]:
        layer.trainable = True
    if fresh_aux_classes is not None:
        return build_network(trunk, num_rare, fresh_aux_classes, fixed_background_logit, cosine_scale)
    classifier = teacher_lib.teacher_classifier(teacher)
    network = build_network(trunk, num_rare, classifier.units, fixed_background_logit, cosine_scale)
    network.get_layer("aux").set_weights(classifier.get_weights())
    return network
