"""keras.applications teachers (weights=None, small inputs: no download): the trunk + classifier split
computes the application's own logits, and a student starts from it."""

import keras
import numpy as np
import pytest

from bgsplit_tf.models import network, pretrained, teacher as teacher_lib
from bgsplit_tf.models.pretrained import applications


@pytest.mark.parametrize("name", ["resnet50", "efficientnetv2b0", "mobilenetv3small", "convnext_tiny"])
def test_split_teacher_computes_the_applications_logits(name):
    keras.utils.set_random_seed(0)
    full, preprocess = applications.APPLICATIONS[name](include_top=True, weights=None, input_shape=(32, 32, 3),
                                                        classifier_activation=None)
    teacher = applications.split_classifier(full, preprocess, name)
    assert {teacher_lib.TRUNK_LAYER, teacher_lib.CLASSIFIER_LAYER} <= {layer.name for layer in teacher.layers}
    assert teacher.output_shape == (None, 1000)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = full(preprocess(pixels) if preprocess is not None else pixels, training=False)
    np.testing.assert_allclose(teacher(pixels, training=False), expected, rtol=1e-4, atol=1e-4)

    student = network.network_from_teacher(teacher, num_rare=3)
    outputs = student(pixels, training=False)
    assert outputs["main"].shape == (2, 4)
    np.testing.assert_allclose(outputs["aux"], expected, rtol=1e-4, atol=1e-4)  # the aux head starts as the teacher


def test_resnet50_preprocessing_is_caffe_style():
    pixels = np.array([[[[255.0, 0.0, 10.0]]]], "float32")
    out = keras.ops.convert_to_numpy(applications.CaffePreprocess()(pixels))
    np.testing.assert_allclose(out[0, 0, 0], [10 - 103.939, 0 - 116.779, 255 - 123.68], rtol=1e-6)


def test_unknown_application_lists_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        applications.classifier("vgg99", weights=None)


def test_application_teacher_saves_and_loads_as_a_keras_teacher(tmp_path):
    teacher = applications.classifier("mobilenetv3small", image_size=32, weights=None)
    teacher.save(tmp_path / "teacher.keras")
    loaded = pretrained.load(tmp_path / "teacher.keras")
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(pixels), teacher(pixels), rtol=1e-5, atol=1e-5)
