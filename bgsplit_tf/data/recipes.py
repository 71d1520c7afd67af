"""Input recipes: how images become the model's input in training and in evaluation (--input_recipe).

  pad_crop   the small-image recipe (the embedded benchmark's 32 px images). Evaluation, teacher
             targets and serving stretch each image to the input size; training adds a random crop
             after 4-pixel reflect padding and a horizontal flip (pipeline.augment, per batch).
  inception  the ImageNet recipe of the paper's official code (torchvision's RandomResizedCrop +
             RandomHorizontalFlip in training; Resize(256) + CenterCrop(224) in evaluation).
             Training crops a random box of 8% to 100% of the image's area with an aspect ratio
             in [3/4, 4/3] from the full-resolution image, cut out of a JPEG before it is decoded
             whole (decode_and_crop_jpeg), resizes it to the input and flips it half the time;
             evaluation resizes the image, keeping its aspect ratio, to cover 256/224 of the input
             and keeps the centre (image_files.CENTER_CROP). TensorFlow's box sampler draws the aspect
             ratio uniformly (torchvision: uniformly in log space) and, after 10 failed draws, takes
             the whole image (torchvision: a centre crop at the clamped ratio).
  auto       inception for photographs (an applications: teacher or trunk, or an input of at least
             AUTO_INCEPTION_MIN_SIZE pixels), pad_crop for small images.

Random draws come from stateless ops seeded per image by the pipeline's per-epoch seed stream, so a
run's seed fixes every crop and an interrupted run resumes on the same ones.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from bgsplit_tf.data import image_files

PAD_CROP, INCEPTION, AUTO = "pad_crop", "inception", "auto"
AUTO_INCEPTION_MIN_SIZE = 128
AREA_RANGE = (0.08, 1.0)
ASPECT_RATIO_RANGE = (3 / 4, 4 / 3)
MAX_BOX_ATTEMPTS = 10
EVALUATION_RESIZE_MODE = {PAD_CROP: image_files.STRETCH, INCEPTION: image_files.CENTER_CROP}
RESIZE_MODE_KEY = "evaluation_resize_mode"  # where a run's metrics.json and an export's model_info.json record it
LEGACY_RESIZE_MODE_KEY = "evaluation_fit"  # the same, as versions before the resize mode had its name wrote it


def recorded_resize_mode(record: dict) -> str:
    """The evaluation view's resize mode that a record names (a run's metrics.json "input_recipe", an
    export's model_info.json): under RESIZE_MODE_KEY, or LEGACY_RESIZE_MODE_KEY in older runs and exports,
    so that they are served as they were evaluated; STRETCH in those from before it was recorded."""
    return record.get(RESIZE_MODE_KEY, record.get(LEGACY_RESIZE_MODE_KEY, image_files.STRETCH))


@dataclasses.dataclass(frozen=True)
class InputRecipe:
    """How a run's images become the model's input: the recipe (PAD_CROP or INCEPTION), why it was
    chosen, the evaluation view's resize mode (image_files.RESIZE_MODES; stored under RESIZE_MODE_KEY) and
    the training augmentation (pipeline.AUGMENTATIONS)."""

    recipe: str
    reason: str
    evaluation_resize_mode: str
    augmentation: str


def resolve(recipe: str, image_size: tuple[int, int], imagenet_model: str = "") -> tuple[str, str]:
    """(PAD_CROP or INCEPTION, why) for --input_recipe, given the model's input size (H, W) and, if the
    teacher or trunk is an ImageNet classifier, the flag naming it (e.g. "--teacher=applications:resnet50")."""
    if recipe != AUTO:
        return recipe, f"--input_recipe={recipe}"
    if imagenet_model:
        return INCEPTION, f"--input_recipe=auto with an ImageNet model ({imagenet_model})"
    if min(image_size) >= AUTO_INCEPTION_MIN_SIZE:
        return INCEPTION, (f"--input_recipe=auto with a {image_size[0]}x{image_size[1]} input (photographs: at "
                           f"least {AUTO_INCEPTION_MIN_SIZE} px)")
    return PAD_CROP, (f"--input_recipe=auto with a {image_size[0]}x{image_size[1]} input (small images: below "
                      f"{AUTO_INCEPTION_MIN_SIZE} px)")


def _crop_box(height: tf.Tensor, width: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(begin int32 [2], size int32 [2]) of a random box of an image of height x width (int []):
    AREA_RANGE of its area, an aspect ratio in ASPECT_RATIO_RANGE; the whole image when no draw fits."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.stack([tf.cast(height, tf.int32), tf.cast(width, tf.int32), 3]),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed, min_object_covered=0.0,
        aspect_ratio_range=ASPECT_RATIO_RANGE, area_range=AREA_RANGE, max_attempts=MAX_BOX_ATTEMPTS,
        use_image_if_no_bounding_boxes=True)
    return begin[:2], size[:2]


def random_resized_crop(image: tf.Tensor, image_size: tuple[int, int], seed: tf.Tensor) -> tf.Tensor:
    """The inception recipe's training view of one image: a random box (_crop_box), resized to
    image_size, flipped left-right half the time.

    image: an encoded image (string []: JPEG, PNG, GIF, BMP; a JPEG's box is decoded alone, and its
    EXIF orientation applied after) or decoded pixels (uint8 [H, W, 3]). seed: int64 [2].
    Returns uint8 [image_size[0], image_size[1], 3]. InvalidArgumentError when it does not decode.
    """
    box_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    if image.dtype == tf.string:
        crop = _decoded_crop(image, image_size, box_seed)
    else:
        begin, size = _crop_box(tf.shape(image)[0], tf.shape(image)[1], box_seed)
        crop = image_files.resize_uint8(tf.slice(image, [begin[0], begin[1], 0], [size[0], size[1], 3]),
                                        image_size)
    crop = tf.image.stateless_random_flip_left_right(crop, flip_seed)
    return tf.ensure_shape(crop, [*image_size, 3])


def _decoded_crop(encoded: tf.Tensor, image_size: tuple[int, int], seed: tf.Tensor) -> tf.Tensor:
    """random_resized_crop's box of an encoded image, decoded, resized and turned upright (uint8)."""
    height, width = image_files.declared_size(encoded)
    begin, size = _crop_box(height, width, seed)
    orientation = image_files.exif_orientation(encoded)
    with tf.control_dependencies([image_files.assert_within_pixel_limit(encoded)]):
        crop = tf.cond(
            tf.io.is_jpeg(encoded),
            lambda: tf.image.decode_and_crop_jpeg(encoded, tf.concat([begin, size], 0), channels=3),
            lambda: tf.slice(tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8),
                             [begin[0], begin[1], 0], [size[0], size[1], 3]))
    stored_size = tf.where(orientation >= 5, tf.constant(image_size[::-1]), tf.constant(image_size))
    return image_files.apply_orientation(image_files.resize_uint8(crop, stored_size), orientation)
