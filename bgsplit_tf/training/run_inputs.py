"""What a run's flags name, opened: the source (--dataset, fitted to the teacher's input), the input
recipe (how images become the model's input), the teacher and the model whose trunk the student copies."""

from __future__ import annotations

import keras

from bgsplit_tf import config as config_lib
from bgsplit_tf.data import image_files, pipeline, recipes, sources
from bgsplit_tf.models import pretrained, teacher as teacher_lib


def source_of(config: config_lib.TrainConfig, image_size: tuple[int, int],
              resize_mode: str = image_files.STRETCH) -> sources.Source:
    """The source --dataset names (data.sources), its images resized to image_size by `resize_mode`
    (image_files.apply_resize_mode) where they differ."""
    return sources.open_source(config.dataset, image_size=tuple(image_size), resize_mode=resize_mode,
                               data_dir=config.data_dir or None, image_key=config.image_key,
                               label_key=config.label_key, id_key=config.id_key,
                               background_folder=config.background_folder)


def prepare_dataset(config: config_lib.TrainConfig) -> None:
    """Renders or downloads the dataset --dataset names (a TFDS dataset is prepared on first use) and
    lists its splits, in this process: worker processes started next then find it ready, instead of each
    preparing it into the same folder at once."""
    source = sources.open_source(config.dataset, data_dir=config.data_dir or None, image_key=config.image_key,
                                 label_key=config.label_key, id_key=config.id_key,
                                 background_folder=config.background_folder)
    for split in (config.train_split, config.val_split, config.test_split):
        source.read_labels(split)


def input_recipe_of(config: config_lib.TrainConfig, image_size: tuple[int, int]) -> recipes.InputRecipe:
    """--input_recipe resolved for this teacher, trunk and input size (recipes.resolve), with --augment."""
    imagenet = [f"--{flag}={spec}" for flag, spec in (("teacher", config.teacher), ("trunk", config.trunk))
                if pretrained.is_imagenet(spec)]
    recipe, reason = recipes.resolve(config.input_recipe, tuple(image_size), imagenet[0] if imagenet else "")
    if not config.augment:
        augmentation = pipeline.NO_AUGMENTATION
    else:
        augmentation = pipeline.PAD_CROP if recipe == recipes.PAD_CROP else pipeline.RANDOM_RESIZED_CROP
    return recipes.InputRecipe(recipe, reason, recipes.EVALUATION_RESIZE_MODE[recipe], augmentation)


def teacher_of(config: config_lib.TrainConfig) -> keras.Model:
    """The frozen teacher --teacher names (see models.pretrained): pixels [B, H, W, 3] -> [B, M]."""
    return pretrained.load(config.teacher, image_size=config.image_size, weights=config.teacher_weights,
                           endpoint=config.teacher_endpoint, output_key=config.teacher_output_key)


def trunk_donor_of(config: config_lib.TrainConfig, teacher: keras.Model) -> keras.Model:
    """The model whose "trunk" the student copies: the teacher itself (default), or --trunk."""
    if not config.trunk:
        teacher_lib.teacher_trunk(teacher)  # fails early, naming --trunk, for a teacher without a trunk
        return teacher
    start = pretrained.load(config.trunk, image_size=config.image_size, weights=config.trunk_weights)
    teacher_lib.teacher_trunk(start)
    if tuple(start.input_shape[1:3]) != tuple(teacher.input_shape[1:3]):
        raise ValueError(f"--trunk={config.trunk} takes {start.input_shape[1:3]} images but the teacher takes "
                         f"{teacher.input_shape[1:3]}; set --image_size so that both agree")
    return start


def check_image_size(source: sources.Source, teacher: keras.Model, teacher_path: str) -> None:
    """Rejects a teacher whose fixed input size differs from the source's fixed image size."""
    image_shape = source.image_shape()
    teacher_shape = teacher.input_shape[1:3]
    if None not in image_shape[:2] and None not in teacher_shape and tuple(image_shape[:2]) != tuple(teacher_shape):
        raise ValueError(
            f"teacher {teacher_path} takes {teacher_shape[0]}x{teacher_shape[1]} images but {source.name} has "
            f"{image_shape[0]}x{image_shape[1]}; pass a --teacher trained at that size."
        )
