"""What a run checks in its inputs before it trains: a teacher whose fixed input size differs from the
dataset's image size is refused, naming both sizes."""

import pytest

from bgsplit_tf import config as config_lib
from bgsplit_tf.training import run as run_lib
from tests import helpers


def test_teacher_of_another_image_size_is_rejected_before_training(tiny_data_dir, tmp_path):
    path = tmp_path / "teacher16.keras"
    helpers.tiny_teacher().save(path)
    config = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, teacher=str(path),
                                    output_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="takes 16x16 images but bgsplit_shapes/tiny has 32x32"):
        run_lib.run_training(config)
