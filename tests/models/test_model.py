"""The two-output network and the custom train_step."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from bgsplit_tf.models import bgsplit_model, pretrained, teacher as teacher_lib
from tests import helpers
from tests.conftest import REPO


def test_outputs_are_a_dict_of_main_and_aux_logits():
    net = helpers.tiny_network(num_rare=4)
    images, _ = helpers.tiny_batch(5)
    out = net(images)
    assert set(out) == {"main", "aux"}
    assert out["main"].shape == (5, 5) and out["aux"].shape == (5, helpers.NUM_CONCEPTS)


def test_fixed_background_logit_is_constant():
    net = helpers.tiny_network(num_rare=3, fixed_background_logit=1.5)
    out = net(helpers.tiny_batch(4)[0])["main"].numpy()
    assert out.shape == (4, 4)
    np.testing.assert_allclose(out[:, 0], 1.5)


def test_student_starts_as_the_teacher():
    teacher = helpers.tiny_teacher()
    from bgsplit_tf.models import network

    net = network.network_from_teacher(teacher, 2)
    images = helpers.tiny_batch(6)[0]
    np.testing.assert_allclose(net(images)["aux"], teacher(images), atol=1e-5)
    # Training the student must not move the teacher's weights.
    before = [w.copy() for w in teacher.get_weights()]
    model = bgsplit_model.BackgroundSplittingModel(net)
    model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    model.fit(*helpers.tiny_batch(8), batch_size=4, epochs=1, verbose=0)
    for a, b in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("aux_targets", ["hard", "soft"])
def test_train_steps_lower_the_loss_on_a_tiny_batch(aux_targets):
    model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network(), aux_weight=1.0, aux_targets=aux_targets,
                                                   temperature=2.0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=True)
    images, targets = helpers.tiny_batch(8)
    before = model.evaluate(images, targets, verbose=0, return_dict=True)
    model.fit(images, targets, batch_size=8, epochs=30, verbose=0)
    after = model.evaluate(images, targets, verbose=0, return_dict=True)
    assert set(before) == {"loss", "main_loss", "aux_loss"}
    assert after["loss"] < 0.7 * before["loss"]
    assert after["loss"] == pytest.approx(after["main_loss"] + after["aux_loss"], rel=1e-4)


def _trunk_gradients(aux_weight, main_weight=1.0):
    net = helpers.tiny_network()
    model = bgsplit_model.BackgroundSplittingModel(net, aux_weight=aux_weight)
    images, targets = helpers.tiny_batch(8)
    trunk = net.get_layer("trunk")
    with tf.GradientTape() as tape:
        out = model(images, training=True)
        total, main, aux = model.compute_losses(out, targets)
        loss = total - (1.0 - main_weight) * main
    return [g for g in tape.gradient(loss, trunk.trainable_variables)]


def test_aux_loss_sends_gradient_into_the_trunk_and_lambda_zero_sends_none():
    aux_only = _trunk_gradients(aux_weight=1.0, main_weight=0.0)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in aux_only) > 1e-6
    finetune = _trunk_gradients(aux_weight=0.0)
    main_only = _trunk_gradients(aux_weight=0.0, main_weight=1.0)
    for a, b in zip(finetune, main_only):
        np.testing.assert_array_equal(a, b)
    with_aux = _trunk_gradients(aux_weight=1.0)
    assert any(not np.allclose(a, b) for a, b in zip(with_aux, finetune))


_XLA_PROBE = """
import keras, sys
sys.path.insert(0, {repo!r})
from bgsplit_tf.models import bgsplit_model
from tests import helpers
model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network())
model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile={jit})
model.fit(*helpers.tiny_batch(8), batch_size=4, epochs=1, verbose=0)
"""


@pytest.mark.e2e
@pytest.mark.parametrize("jit", [True, False])
def test_xla_really_compiles_the_train_step(tmp_path, jit):
    """With jit_compile=True XLA emits HLO modules for Keras' train step on CPU; without, none."""
    dump = tmp_path / "xla"
    env = {**os.environ, "XLA_FLAGS": f"--xla_dump_to={dump}", "TF_CPP_MIN_LOG_LEVEL": "2"}
    repo = str(REPO)
    subprocess.run([sys.executable, "-c", _XLA_PROBE.format(repo=repo, jit=jit)], env=env, check=True, timeout=300)
    modules = list(dump.glob("*one_step_on_data*")) if dump.exists() else []
    assert bool(modules) == jit


def test_load_teacher_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="bgsplit-pretrain"):
        pretrained.load(tmp_path / "missing.keras")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    plain.save(tmp_path / "plain.keras")
    loaded = pretrained.load(tmp_path / "plain.keras")  # a teacher, but it cannot start a student
    assert not teacher_lib.has_trunk(loaded) and not loaded.trainable_variables
    with pytest.raises(ValueError, match="--trunk=applications:"):
        teacher_lib.teacher_trunk(loaded)


def test_shipped_teacher_loads_frozen_and_its_student_trains_the_whole_trunk():
    from bgsplit_tf.models import network

    teacher = pretrained.load()
    assert teacher.output_shape == (None, 384)  # the fine teacher of bgsplit_shapes 2.0.0
    assert teacher.input_shape == (None, 32, 32, 3)
    assert not teacher.trainable_variables
    student = network.network_from_teacher(teacher, 2)
    trunk = student.get_layer("trunk")
    # Everything but batch-norm statistics trains.
    assert trunk.trainable_variables
    assert all("moving" in v.path for v in trunk.non_trainable_variables)
    before = [w.numpy().copy() for w in trunk.trainable_variables]
    model = bgsplit_model.BackgroundSplittingModel(student, aux_weight=0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    rng = np.random.default_rng(0)
    images = (rng.random((8, 32, 32, 3)) * 255).astype("float32")
    targets = {"label": np.arange(8, dtype="int32") % 3, "teacher_label": np.zeros(8, "int32"),
               "teacher_probs": np.full((8, 384), 1 / 384, "float32")}
    model.fit(images, targets, batch_size=8, epochs=1, verbose=0)
    assert all(not np.array_equal(a, w.numpy()) for a, w in zip(before, trunk.trainable_variables))


@pytest.mark.parametrize("name, classes", [("shapes_v2_fine", 384), ("shapes_v2_medium", 128),
                                           ("shapes_v2_coarse", 16), ("shapes_v1_coarse", 16)])
def test_shipped_teachers_load_by_name(name, classes):
    from bgsplit_tf.models import pretrained

    teacher = pretrained.load(f"embedded:{name}")
    assert teacher.output_shape == (None, classes) and not teacher.trainable_variables


def test_an_unknown_shipped_teacher_is_refused_naming_the_shipped_ones():
    from bgsplit_tf.models import pretrained

    with pytest.raises(ValueError, match="embedded:shapes_v2_fine.*embedded:shapes_v2_medium|shipped"):
        pretrained.load("embedded:shapes_v3")


def test_frozen_trunk_trains_only_the_heads():
    """--freeze_trunk (a linear probe with --aux_weight=0): trunk weights and batch-norm statistics stay."""
    from bgsplit_tf import config as config_lib
    from bgsplit_tf.training import build

    teacher = helpers.tiny_teacher()
    config = config_lib.TrainConfig(freeze_trunk=True, aux_weight=0.0, epochs=1, warmup_epochs=0, learning_rate=0.5,
                                    jit_compile=False)
    model = build.build_model(config, teacher, [6, 1, 1], steps_per_epoch=2)
    trunk = model.network.get_layer("trunk")
    before = [w.numpy().copy() for w in trunk.weights]
    head_before = model.network.get_layer("main").get_weights()[0].copy()
    images, targets = helpers.tiny_batch()
    model.fit(images, targets, batch_size=4, epochs=2, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, trunk.weights))
    assert not np.array_equal(head_before, model.network.get_layer("main").get_weights()[0])


def test_cosine_head_gives_scaled_cosines():
    from bgsplit_tf.models import network as network_lib

    net = network_lib.network_from_teacher(helpers.tiny_teacher(), 2, cosine_scale=30.0)
    images, _ = helpers.tiny_batch(4)
    logits = net(images)["main"].numpy()
    assert logits.shape == (4, 3) and np.abs(logits).max() <= 30.0 + 1e-4
    features = net.get_layer("trunk")(images).numpy()
    kernel = net.get_layer("main").kernel.numpy()
    expected = 30.0 * (features / np.linalg.norm(features, axis=1, keepdims=True)) @ (
        kernel / np.linalg.norm(kernel, axis=0, keepdims=True))
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)


def test_deferred_reweighting_takes_effect_at_the_switch_step_of_training():
    from bgsplit_tf.models import losses

    counts = [90, 6, 4]
    model = bgsplit_model.BackgroundSplittingModel(
        helpers.tiny_network(), aux_weight=0.0,
        main_loss=losses.MainHeadLoss(counts, cb_beta=0.9, reweight_from_step=3))
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=True)  # lr 0: weights stay put
    images, targets = helpers.tiny_batch(8)
    logits = model(images, training=True)["main"]  # batch-norm statistics as in the train step
    unweighted = losses.softmax_cross_entropy(targets["label"], logits).numpy()
    weighted = losses.MainHeadLoss(counts, cb_beta=0.9)(targets["label"], logits).numpy()
    # The step counter starts at 0: steps 0, 1, 2 unweighted, then weighted from step 3.
    history = model.fit(images, targets, batch_size=8, epochs=5, verbose=0, shuffle=False).history["main_loss"]
    np.testing.assert_allclose(history[:3], unweighted, rtol=1e-4)
    np.testing.assert_allclose(history[3:], weighted, rtol=1e-4)


def test_posthoc_logit_offset_changes_evaluation_probabilities_only():
    from bgsplit_tf.evaluation import validation
    from bgsplit_tf.models import losses

    offset = -losses.log_prior([90, 6, 4])
    model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network(), eval_logit_offset=offset)
    images, targets = helpers.tiny_batch(8)
    outputs = model(images)
    np.testing.assert_allclose(model.main_probabilities(outputs).numpy(),
                               tf.nn.softmax(outputs["main"] + offset).numpy(), rtol=1e-5)
    batches = tf.data.Dataset.from_tensor_slices((images, targets)).batch(4)
    _, probs = validation.predict_main(model, batches)
    np.testing.assert_allclose(probs, tf.nn.softmax(outputs["main"] + offset).numpy(), rtol=1e-5, atol=1e-6)
