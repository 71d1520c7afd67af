"""Image files on disk: find them (a folder, recursively, or a CSV manifest) and decode them in tf.data.

Decoding accepts JPEG (CMYK too), PNG (8 or 16 bits, palette, with or without alpha), GIF (first
frame) and BMP; grayscale and alpha become RGB, 16-bit samples are scaled to 8 bits, and a JPEG's EXIF
orientation is applied (a phone photo taken upright comes out upright). An image whose header declares
more than MAX_PIXELS pixels is refused before anything is allocated (a decompression bomb). A file that
does not decode raises InvalidArgumentError inside tf.data, so pipelines can drop it (`ignore_errors`)
and report it by comparing what came out with what went in (data.bad_images). Everything here is plain
TensorFlow ops, so the exported serving signature decodes the same way.
"""

from __future__ import annotations

import csv
import pathlib

import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
# Pillow's DecompressionBombError limit: 2 x 89,478,485 pixels (~537 MB decoded as RGB).
MAX_PIXELS = 178_956_970
# Leading bytes of a JPEG searched for its EXIF APP1 segment, which follows SOI (or JFIF's APP0) in what
# cameras and phones write; one found further in (after a large ICC or Photoshop segment) is missed and
# the image is left as stored.
EXIF_SEARCH_BYTES = 1024
EXIF_ORIENTATION_TAG = 0x0112
MAX_IFD_ENTRIES = 64  # IFD0 entries searched for the orientation tag (cameras write ~10-20)
# Resize modes: how an image of any size becomes the model's input for evaluation, teacher targets and serving:
STRETCH = "stretch"  # resized to the input size, aspect ratio not kept (the 32 px recipe)
CENTER_CROP = "center_crop"  # resized to cover CENTER_CROP_MARGIN x the input, aspect kept, centre cropped
RESIZE_MODES = (STRETCH, CENTER_CROP)
CENTER_CROP_MARGIN = 256 / 224  # the ImageNet evaluation recipe: shorter side to 256, centre 224 x 224


def list_folder(root: str | pathlib.Path) -> list[str]:
    """Every image file under root (by extension, case-insensitive), sorted."""
    return sorted(str(p) for p in pathlib.Path(root).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)


def read_manifest(manifest: str | pathlib.Path) -> tuple[list[str], list[str]]:
    """(paths, labels) of a CSV manifest: `path[,label]` per row, an optional header row starting with
    "path", relative paths taken relative to the manifest. An empty or missing label is "" (unlabeled)."""
    manifest = pathlib.Path(manifest)
    with open(manifest, newline="") as f:
        rows = [row for row in csv.reader(f) if row and row[0].strip()]
    if rows and rows[0][0].strip().lower() == "path":
        rows = rows[1:]
    paths, labels = [], []
    for row in rows:
        path = pathlib.Path(row[0].strip())
        paths.append(str(path if path.is_absolute() else manifest.parent / path))
        labels.append(row[1].strip() if len(row) > 1 else "")
    return paths, labels


def decode_bytes(encoded: tf.Tensor, image_size: tuple[int, int] | None = None,
                 resize_mode: str = STRETCH) -> tf.Tensor:
    """One encoded image (string []: JPEG, PNG, GIF first frame, BMP) -> uint8 [H, W, 3] RGB, turned
    upright by its EXIF orientation and, if image_size (H, W) is given, resized to it by `resize_mode`
    (apply_resize_mode; a stretch resizes before turning, which then moves fewer pixels). InvalidArgumentError when it
    does not decode or its header declares more than MAX_PIXELS pixels."""
    with tf.control_dependencies([assert_within_pixel_limit(encoded)]):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    orientation = exif_orientation(encoded)
    if image_size is not None and resize_mode == STRETCH:  # orientations 5-8 swap height and width
        stored_size = tf.where(orientation >= 5, tf.constant(image_size[::-1]), tf.constant(image_size))
        image = resize_uint8(image, stored_size)
    image = apply_orientation(image, orientation)
    if image_size is not None and resize_mode != STRETCH:
        image = apply_resize_mode(image, image_size, resize_mode)
    return tf.ensure_shape(image, [None, None, 3] if image_size is None else [*image_size, 3])


def assert_within_pixel_limit(encoded: tf.Tensor) -> tf.Operation:
    """An assertion that the image's header declares at most MAX_PIXELS pixels: run it before
    decoding, so that a decompression bomb fails before anything is allocated."""
    height, width = declared_size(encoded)
    return tf.debugging.assert_less_equal(
        height * width, tf.constant(MAX_PIXELS, tf.int64),
        message=f"the image header declares more than MAX_PIXELS={MAX_PIXELS} pixels (a decompression bomb, or "
                "a scan far larger than a classifier needs); downscale it")


def _leading(encoded: tf.Tensor, length: int) -> tf.Tensor:
    """The first `length` bytes (or fewer) of a string []."""
    return tf.strings.substr(encoded, 0, tf.minimum(tf.strings.length(encoded), length))


def _as_integers(head: tf.Tensor, length: int) -> tf.Tensor:
    """A string [] of at most `length` bytes as int64 [length], zero-padded past its end."""
    raw = tf.io.decode_raw(head, tf.uint8)
    return tf.ensure_shape(tf.pad(tf.cast(raw, tf.int64), [[0, length - tf.shape(raw)[0]]]), [length])


def _unsigned(data: tf.Tensor, little_endian: tf.Tensor | bool) -> tf.Tensor:
    """The unsigned integer of bytes int64 [..., n], in either byte order, as int64 [...]."""
    size = data.shape[-1]
    offsets = tf.range(size, dtype=tf.int64)
    weights = tf.where(little_endian, 256 ** offsets, 256 ** (size - 1 - offsets))
    return tf.reduce_sum(data * weights, axis=-1)


def declared_size(encoded: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(height, width) int64 [] as an image's header declares them, read without decoding (JPEG, PNG,
    GIF, BMP); (0, 0) for other bytes, which decode_image then rejects."""
    head = _as_integers(_leading(encoded, 26), 26)

    def starts_with(*signature: int) -> tf.Tensor:
        return tf.reduce_all(head[:len(signature)] == tf.constant(signature, tf.int64))

    png = tf.stack([_unsigned(head[20:24], False), _unsigned(head[16:20], False)])  # IHDR height, width
    gif = tf.stack([_unsigned(head[8:10], True), _unsigned(head[6:8], True)])  # logical screen
    bmp_height = _unsigned(head[22:26], True)
    bmp = tf.stack([tf.where(bmp_height >= 2 ** 31, 2 ** 32 - bmp_height, bmp_height),  # negative: top-down
                    _unsigned(head[18:22], True)])
    other = tf.where(starts_with(0x89, 0x50, 0x4E, 0x47), png, tf.where(
        starts_with(0x47, 0x49, 0x46), gif, tf.where(starts_with(0x42, 0x4D), bmp, tf.zeros([2], tf.int64))))
    size = tf.cond(tf.io.is_jpeg(encoded), lambda: tf.cast(tf.image.extract_jpeg_shape(encoded)[:2], tf.int64),
                   lambda: other)
    return size[0], size[1]


def exif_orientation(encoded: tf.Tensor) -> tf.Tensor:
    """The EXIF orientation (int64 [], 1..8) of a JPEG: tag 0x0112 of IFD0 in the "Exif" APP1 segment
    within its first EXIF_SEARCH_BYTES bytes; 1 (as stored) for other formats, or when it is absent or
    unreadable. About thirty small ops, none of them a pass over the image."""
    head = _leading(encoded, EXIF_SEARCH_BYTES)
    parts = tf.strings.split(head, sep="Exif\0\0", maxsplit=1)  # the bytes before the signature, and after
    data = _as_integers(head, EXIF_SEARCH_BYTES)
    app1 = tf.cast(tf.strings.length(parts[0]), tf.int64) - 4  # the APP1 marker and length precede "Exif"
    tiff = app1 + 10
    marker = _gathered(data, app1, 2)
    matched = (tf.size(parts) == 2) & tf.reduce_all(marker == tf.constant([0xFF, 0xE1], tf.int64))
    header = _gathered(data, tiff, 8)
    little = tf.equal(header[0], 0x49)  # "II": little-endian; "MM": big-endian
    ifd = _gathered(data, tiff + _unsigned(header[4:8], little), 2 + 12 * MAX_IFD_ENTRIES)
    entries = tf.reshape(ifd[2:], [MAX_IFD_ENTRIES, 12])  # tag(2) type(2) count(4) value(4)
    is_orientation = (_unsigned(entries[:, :2], little) == EXIF_ORIENTATION_TAG) & (
        tf.range(MAX_IFD_ENTRIES, dtype=tf.int64) < _unsigned(ifd[:2], little))
    value = _unsigned(tf.gather(entries, tf.argmax(tf.cast(is_orientation, tf.int32)))[8:10], little)
    found = tf.io.is_jpeg(encoded) & matched & tf.reduce_any(is_orientation)
    return tf.where(found & (value >= 1) & (value <= 8), value, 1)


def _gathered(data: tf.Tensor, start: tf.Tensor, length: int) -> tf.Tensor:
    """data[start:start + length] (int64 [length]), zeros past the end of data (int64 [L])."""
    indices = start + tf.range(length, dtype=tf.int64)
    size = tf.cast(tf.shape(data)[0], tf.int64)
    return tf.where(indices < size, tf.gather(data, tf.clip_by_value(indices, 0, size - 1)), 0)


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, C] as stored -> as meant to be seen, for an EXIF orientation (int64 [], 1..8):
    2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
    counter-clockwise (5 to 8 swap H and W). Each is a transpose (5-8) then a reversal of rows, columns
    or both: two ops, whose identity cases copy nothing."""
    index = tf.cast(orientation - 1, tf.int32)
    transpose = index >= 4
    reverse_rows = tf.gather([False, False, True, True, False, False, True, True], index)
    reverse_columns = tf.gather([False, True, True, False, False, True, True, False], index)
    image = tf.transpose(image, tf.where(transpose, [1, 0, 2], [0, 1, 2]))
    return tf.reverse(image, tf.boolean_mask([0, 1], tf.stack([reverse_rows, reverse_columns])))


def decode_file(path: tf.Tensor, image_size: tuple[int, int] | None = None, resize_mode: str = STRETCH) -> tf.Tensor:
    """Reads and decodes one image file (string []) -> uint8 [H, W, 3], resized to image_size by
    `resize_mode` if given (see decode_bytes)."""
    return decode_bytes(tf.io.read_file(path), image_size, resize_mode)


RESIZE = {"method": "bilinear", "antialias": False}  # the one resize every image takes (RESIZE_DESCRIPTION)
RESIZE_DESCRIPTION = f"{RESIZE['method']}, antialias={RESIZE['antialias']}, rounded to uint8"


def resize_uint8(image: tf.Tensor, image_size: tuple[int, int] | tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, C] -> uint8 [image_size[0], image_size[1], C] (RESIZE_DESCRIPTION): the one resize
    path of training, evaluation, mining and the export's serving signatures."""
    resized = tf.image.resize(tf.cast(image, tf.float32), image_size, **RESIZE)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def as_rgb(image: tf.Tensor) -> tf.Tensor:
    """A grey image [..., H, W, 1] as RGB [..., H, W, 3] (grey repeated): every trunk takes three channels.
    Other images pass unchanged."""
    return tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image


def apply_resize_mode(image: tf.Tensor, image_size: tuple[int, int], resize_mode: str) -> tf.Tensor:
    """uint8 [H, W, C] -> uint8 [image_size[0], image_size[1], C], by `resize_mode` (one of RESIZE_MODES):
    STRETCH resizes to the size; CENTER_CROP resizes, keeping the aspect ratio, to the smallest size that
    covers CENTER_CROP_MARGIN times it (a 224 x 224 input: shorter side 256), then keeps the centre.
    A grey image (C = 1) becomes RGB first (as_rgb)."""
    image = as_rgb(image)
    if resize_mode == STRETCH:
        return resize_uint8(image, image_size)
    if resize_mode != CENTER_CROP:
        raise ValueError(f"resize_mode={resize_mode!r} is not one of {RESIZE_MODES}")
    target = tf.constant(image_size, tf.float32)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.reduce_max(target * CENTER_CROP_MARGIN / shape)
    covering = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), tf.constant(image_size, tf.int32))
    resized = resize_uint8(image, covering)
    top, left = (covering[0] - image_size[0]) // 2, (covering[1] - image_size[1]) // 2
    return tf.ensure_shape(resized[top:top + image_size[0], left:left + image_size[1]],
                           [*image_size, image.shape[-1]])


def describe_resize_mode(resize_mode: str, target: str = "the input") -> str:
    """What apply_resize_mode does to an image resized to `target`, in words (teacher-cache fingerprints,
    model cards)."""
    if resize_mode == STRETCH:
        return f"resize to {target} ({RESIZE_DESCRIPTION})"
    return (f"resize keeping the aspect ratio to cover {CENTER_CROP_MARGIN:.4f}x {target} "
            f"({RESIZE_DESCRIPTION}), then crop its centre")
