"""A corpus of malformed and unusual image files, generated here, through decoding, the training pipeline
(--bad_images) and the exported serving signature."""

import io
import shutil
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from bgsplit_tf import config as config_lib

from bgsplit_tf.serving import export

from bgsplit_tf import faults
from bgsplit_tf.training import run as run_lib
from bgsplit_tf.training import run_inputs
from bgsplit_tf.data import bad_images, image_files
from tests import helpers


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png16_rgb(pixels16: np.ndarray) -> bytes:
    """A 16-bit-per-sample RGB PNG (Pillow cannot write one)."""
    height, width, _ = pixels16.shape
    rows = b"".join(b"\x00" + pixels16[y].astype(">u2").tobytes() for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b""))


def _png_bomb() -> bytes:
    """A PNG whose header declares 30000 x 30000 pixels (2.7 GB decoded) in a few hundred bytes."""
    rows = zlib.compress(b"\x00" * 30001 * 4)  # (only the first rows; the header is what matters)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b""))


def _with_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[image_files.EXIF_ORIENTATION_TAG] = orientation
    return _encoded(Image.fromarray(pixels), "JPEG", quality=95, exif=exif.tobytes())


def _pixels(height=20, width=30, seed=0) -> np.ndarray:
    """An image with two coloured corner blocks, so that any rotation or flip shows."""
    pixels = np.full((height, width, 3), 90, np.uint8) + np.random.default_rng(seed).integers(0, 20, (1, 1, 3),
                                                                                            dtype=np.uint8)
    pixels[: height // 3, : width // 3] = (250, 20, 20)
    pixels[-height // 4:, -width // 5:] = (20, 250, 20)
    return pixels


# Unusual but valid: each decodes to the expected pixels (tolerance: JPEG's loss at block edges).
def _unusual_files() -> dict[str, tuple[bytes, np.ndarray, float]]:
    pixels = _pixels()
    gray16 = pixels[..., 0].astype(np.uint16) * 257
    palette = Image.fromarray(pixels).convert("P")  # (dithered to the web palette)
    return {
        "cmyk.jpg": (_encoded(Image.fromarray(pixels).convert("CMYK"), "JPEG", quality=95), pixels, 2.0),
        "gray16.png": (_encoded(Image.fromarray(gray16), "PNG"), np.repeat(pixels[..., :1], 3, axis=2), 0.0),
        "rgb16.png": (_png16_rgb(pixels.astype(np.uint16) * 257), pixels, 0.0),
        "palette.png": (_encoded(palette, "PNG"), np.asarray(palette.convert("RGB")), 0.0),
        "palette_transparent.png": (_encoded(palette, "PNG", transparency=0), np.asarray(palette.convert("RGB")), 0.0),
        "large.jpg": (_encoded(Image.new("RGB", (4000, 3000), (30, 140, 200)), "JPEG", quality=90),
                      np.full((3000, 4000, 3), (30, 140, 200), np.uint8), 2.0),
        # Shown rotated 90 degrees clockwise. (A wrong turn would put the red corner block elsewhere: a mean
        # difference above 30; chroma subsampling at the blocks' edges costs ~4.)
        "rotated.jpg": (_with_orientation(pixels, 6), np.rot90(pixels, -1), 6.0),
    }


BAD_FILES = {
    "zero_bytes.jpg": (lambda: b"", "Input is empty"),
    "not_an_image.png": (lambda: b"field notes, not an image\n" * 20, "Unknown image file format"),
    "corrupt.jpg": (lambda: b"\xff\xd8\xff\xe0" + np.random.default_rng(1).bytes(2000), "JPEG"),
    "truncated.jpg": (lambda: _encoded(Image.fromarray(np.random.default_rng(2).integers(
        0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG")[:300], "JPEG"),
    "bomb.png": (_png_bomb, "MAX_PIXELS"),
}


def test_unusual_images_decode_to_the_right_pixels():
    for name, (data, expected, tolerance) in _unusual_files().items():
        decoded = image_files.decode_bytes(tf.constant(data)).numpy()
        assert decoded.shape == expected.shape, name
        assert np.abs(decoded.astype(int) - expected.astype(int)).mean() <= tolerance, name


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_turned_upright_as_pillow_does(orientation):
    data = _with_orientation(_pixels(), orientation)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")).astype(int)
    assert int(image_files.exif_orientation(tf.constant(data))) == orientation
    decoded = image_files.decode_bytes(tf.constant(data)).numpy().astype(int)
    assert decoded.shape == expected.shape
    assert np.abs(decoded - expected).mean() < 2.0  # the same geometry; only the JPEG decoders' rounding differs
    # Resized while decoding (before turning, to the turned size when H and W swap): the same picture.
    resized = image_files.decode_bytes(tf.constant(data), (12, 16)).numpy().astype(int)
    turned_then_resized = image_files.resize_uint8(tf.constant(decoded.astype(np.uint8)), (12, 16)).numpy()
    assert resized.shape == (12, 16, 3)
    assert np.abs(resized - turned_then_resized.astype(int)).mean() < 2.0


def test_header_sizes_are_read_without_decoding():
    pixels = _pixels(height=21, width=34)
    for fmt in ("JPEG", "PNG", "GIF", "BMP"):
        height, width = image_files.declared_size(tf.constant(_encoded(Image.fromarray(pixels), fmt)))
        assert (int(height), int(width)) == (21, 34), fmt
    assert [int(v) for v in image_files.declared_size(tf.constant(_png_bomb()))] == [30000, 30000]
    assert [int(v) for v in image_files.declared_size(tf.constant(b"not an image"))] == [0, 0]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_is_an_invalid_argument_naming_the_problem(name):
    data, reason = BAD_FILES[name]
    with pytest.raises(tf.errors.InvalidArgumentError, match=reason):
        image_files.decode_bytes(tf.constant(data()))


@pytest.fixture(scope="module")
def messy_root(image_root, tmp_path_factory):
    """The camera-trap folders plus, in every split, the unusual files (as background) and the bad files
    (as fox)."""
    root = tmp_path_factory.mktemp("messy") / "traps"
    shutil.copytree(image_root, root)
    for split in ("train", "validation", "test"):
        for name, (data, _, _) in _unusual_files().items():
            (root / split / "background" / name).write_bytes(data)
        for name, (data, _) in BAD_FILES.items():
            (root / split / "fox" / name).write_bytes(data())
    return root


@pytest.mark.e2e  # a full training run
def test_training_skips_and_lists_the_bad_files_and_keeps_the_rest(messy_root, tmp_path):
    config = config_lib.TrainConfig(dataset=f"folder:{messy_root}", rare_categories=("fox", "owl"),
                                    positives_per_class=0, epochs=1, batch_size=8, warmup_epochs=0,
                                    output_dir=str(tmp_path / "run"))
    results = run_lib.run_training(config, verbose=0)
    assert results.bad_images == {"train": 5, "validation": 5, "test": 5}
    rows = [line.split("\t") for line in (tmp_path / "run" / "bad_images.tsv").read_text().splitlines()[1:]]
    assert sorted((split, path) for split, path, _ in rows) == sorted(
        (split, f"{split}/fox/{name}") for split in ("train", "validation", "test") for name in BAD_FILES)
    for split, path, reason in rows:
        assert BAD_FILES[path.rsplit("/", 1)[1]][1] in reason, (path, reason)
    # Every good image is used: background is the background folder, lynx (not rare) and the 7 unusual files.
    assert results.task.train.counts == {"background": 48 + 6 + 7, "fox": 6, "owl": 6}
    assert results.task.test.num_examples == 3 * 3 + 24 + 7
    assert np.isfinite(results.test.mAP)


def test_bad_images_fail_policy_stops_before_training_with_the_list(messy_root, tmp_path):
    config = config_lib.TrainConfig(dataset=f"folder:{messy_root}", bad_images="fail", epochs=1,
                                    output_dir=str(tmp_path / "run"))
    expected = (r"(?s)15 images do not decode:\n  \[train\] train/fox/bomb.png: [^\n]*MAX_PIXELS[^\n]*"
                r"\(900000000 declared\)\n.*--bad_images=skip")
    with pytest.raises(faults.TrainingFault, match=expected):
        run_lib.run_training(config, verbose=0)
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_one_decode_pass_gives_the_targets_of_the_good_images_and_the_bad_ones(messy_root):
    """decode_pass.scan_with_targets: the same bad images as a plain scan, and a target row for every
    other image, in split order, from the real embedded teacher."""
    from bgsplit_tf.data import decode_pass
    from bgsplit_tf.models import pretrained

    teacher = pretrained.load("")
    source = run_inputs.source_of(config_lib.TrainConfig(dataset=f"folder:{messy_root}"), teacher.input_shape[1:3])
    targets, bad = decode_pass.scan_with_targets(source, "validation", teacher, "logits", top_k=5)
    assert bad == bad_images.find_bad_images(source, "validation")
    bad_ids = {b.id.encode() for b in bad}
    assert list(targets.ids) == [i for i in source.read_labels("validation")[1] if i not in bad_ids]
    assert targets.indices.shape == (len(targets.ids), 5)
    assert np.all(np.diff(targets.probs, axis=1) <= 0) and np.all(targets.probs.sum(axis=1) <= 1 + 1e-5)


def test_a_scan_finds_exactly_the_bad_files(messy_root):
    source = run_inputs.source_of(config_lib.TrainConfig(dataset=f"folder:{messy_root}"), (32, 32))
    found = bad_images.find_bad_images(source, "validation")
    assert sorted(b.id for b in found) == sorted(f"validation/fox/{name}" for name in BAD_FILES)
    screened, _ = bad_images.screen(source, found, "skip")
    labels, ids = screened.read_labels("validation")
    assert len(ids) == len(source.read_labels("validation")[1]) - len(BAD_FILES)
    streamed = [ex["id"] for ex in screened.examples("validation").as_numpy_iterator()]
    assert streamed == list(ids)  # the stream and the listing agree, in order: every good image decodes


def test_the_serving_signature_scores_good_images_and_flags_bad_ones(tmp_path):
    network = helpers.tiny_network(num_rare=2)
    path = export.export_saved_model(network, ("background", "a", "b"), tmp_path / "export")
    loaded = tf.saved_model.load(str(path))
    unusual = [data for data, _, _ in _unusual_files().values()]
    bad = [make() for make, _ in BAD_FILES.values()]
    request = [unusual[0], bad[0], unusual[1], bad[1], bad[2], unusual[2], bad[3], bad[4], *unusual[3:]]
    out = loaded.signatures["serving_default"](images=tf.constant(request))
    decoded = out["decoded"].numpy()
    assert decoded.tolist() == [True, False, True, False, False, True, False, False] + [True] * (len(unusual) - 3)
    probabilities = out["probabilities"].numpy()
    assert np.isnan(probabilities[~decoded]).all() and (out["top_class"].numpy()[~decoded] == b"").all()
    # Each good image scores as it does when sent alone.
    for row in np.flatnonzero(decoded):
        alone = loaded.signatures["serving_default"](images=tf.constant([request[row]]))
        np.testing.assert_allclose(probabilities[row], alone["probabilities"].numpy()[0], atol=1e-6)
    only_bad = loaded.signatures["serving_default"](images=tf.constant(bad))
    assert not only_bad["decoded"].numpy().any() and only_bad["probabilities"].shape == (len(bad), 3)
