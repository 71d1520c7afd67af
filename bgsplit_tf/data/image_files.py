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
# JPEG segments walked to find the EXIF APP1 segment (it follows SOI, or JFIF's APP0, in practice).
MAX_JPEG_SEGMENTS = 6
EXIF_ORIENTATION_TAG = 0x0112
MAX_IFD_ENTRIES = 64  # IFD0 entries searched for the orientation tag (cameras write ~10-20)


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


def decode_bytes(encoded: tf.Tensor) -> tf.Tensor:
    """One encoded image (string []: JPEG, PNG, GIF first frame, BMP) -> uint8 [H, W, 3] RGB, turned
    upright by its EXIF orientation. InvalidArgumentError when it does not decode or is too large."""
    height, width = declared_size(encoded)
    within_limit = tf.debugging.assert_less_equal(
        height * width, tf.constant(MAX_PIXELS, tf.int64),
        message=f"the image header declares more than MAX_PIXELS={MAX_PIXELS} pixels (a decompression bomb, or "
                "a scan far larger than a classifier needs); downscale it")
    with tf.control_dependencies([within_limit]):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
    image = apply_orientation(image, exif_orientation(encoded))
    image.set_shape([None, None, 3])
    return image


def _bytes_at(encoded: tf.Tensor, position: tf.Tensor, length: int) -> tf.Tensor:
    """`length` bytes of a string [] from byte `position` (int64 []) as int64 [length], zero-padded
    past the end."""
    position = tf.clip_by_value(tf.cast(position, tf.int64), 0, tf.cast(tf.strings.length(encoded), tf.int64))
    raw = tf.io.decode_raw(tf.strings.substr(encoded, position, length), tf.uint8)
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
    head = _bytes_at(encoded, 0, 26)

    def of_jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(encoded), tf.int64)
        return shape[0], shape[1]

    def read(height_at: int, width_at: int, size: int, little_endian: bool, signed_height: bool = False):
        def sizes():
            height = _unsigned(head[height_at:height_at + size], little_endian)
            if signed_height:  # a BMP stored top-down has a negative height
                height = tf.where(height >= 2 ** 31, 2 ** 32 - height, height)
            return height, _unsigned(head[width_at:width_at + size], little_endian)
        return sizes

    def starts_with(*signature: int):
        return tf.reduce_all(head[:len(signature)] == tf.constant(signature, tf.int64))

    zero = tf.constant(0, tf.int64)
    return tf.case([(tf.io.is_jpeg(encoded), of_jpeg),
                    (starts_with(0x89, 0x50, 0x4E, 0x47), read(20, 16, 4, False)),  # PNG: IHDR width, height
                    (starts_with(0x47, 0x49, 0x46), read(8, 6, 2, True)),  # GIF: logical screen
                    (starts_with(0x42, 0x4D), read(22, 18, 4, True, signed_height=True))],  # BMP: BITMAPINFOHEADER
                   default=lambda: (zero, zero), exclusive=True)


def exif_orientation(encoded: tf.Tensor) -> tf.Tensor:
    """The EXIF orientation (int64 [], 1..8) of a JPEG: tag 0x0112 of IFD0 in its "Exif" APP1 segment,
    found by walking the first MAX_JPEG_SEGMENTS segments; 1 (as stored) for other formats, or when
    it is absent or unreadable."""
    signature = tf.constant([0xFF, 0xE1, 0, 0, 0x45, 0x78, 0x69, 0x66, 0, 0], tf.int64)  # APP1, length, "Exif\0\0"
    compared = tf.constant([True, True, False, False, True, True, True, True, True, True])  # not the length
    position, tiff = tf.constant(2, tf.int64), tf.constant(-1, tf.int64)
    for _ in range(MAX_JPEG_SEGMENTS):
        segment = _bytes_at(encoded, position, 10)
        is_exif = tf.reduce_all((segment == signature) | ~compared)
        tiff = tf.where((tiff < 0) & is_exif, position + 10, tiff)
        position += 2 + _unsigned(segment[2:4], False)
    header = _bytes_at(encoded, tiff, 8)
    little = tf.equal(header[0], 0x49)  # "II": little-endian; "MM": big-endian
    ifd = _bytes_at(encoded, tiff + _unsigned(header[4:8], little), 2 + 12 * MAX_IFD_ENTRIES)
    entries = tf.reshape(ifd[2:], [MAX_IFD_ENTRIES, 12])  # tag(2) type(2) count(4) value(4)
    is_orientation = (_unsigned(entries[:, :2], little) == EXIF_ORIENTATION_TAG) & (
        tf.range(MAX_IFD_ENTRIES, dtype=tf.int64) < _unsigned(ifd[:2], little))
    value = _unsigned(tf.gather(entries, tf.argmax(tf.cast(is_orientation, tf.int32)))[8:10], little)
    found = tf.io.is_jpeg(encoded) & (tiff >= 0) & tf.reduce_any(is_orientation)
    return tf.where(found & (value >= 1) & (value <= 8), value, 1)


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, C] as stored -> as meant to be seen, for an EXIF orientation (int64 [], 1..8):
    2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
    counter-clockwise (5 to 8 swap H and W)."""
    def transposed():
        return tf.transpose(image, [1, 0, 2])

    branches = [  # plain reversals and transposes: no asserts to stop graph optimisations
        lambda: image,
        lambda: tf.reverse(image, [1]),
        lambda: tf.reverse(image, [0, 1]),
        lambda: tf.reverse(image, [0]),
        transposed,
        lambda: tf.reverse(transposed(), [1]),
        lambda: tf.reverse(transposed(), [0, 1]),
        lambda: tf.reverse(transposed(), [0]),
    ]
    return tf.switch_case(tf.cast(orientation - 1, tf.int32), branches)


def decode_file(path: tf.Tensor, image_size: tuple[int, int] | None = None) -> tf.Tensor:
    """Reads and decodes one image file (string []) -> uint8 [H, W, 3], resized to image_size if given
    (bilinear, rounded back to uint8)."""
    image = decode_bytes(tf.io.read_file(path))
    return image if image_size is None else resize_uint8(image, image_size)


def resize_uint8(image: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    """uint8 [H, W, C] -> uint8 [image_size[0], image_size[1], C]: bilinear, rounded back to uint8."""
    resized = tf.image.resize(tf.cast(image, tf.float32), image_size)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
