"""Fuzzing the image decoder (hypothesis, bounded): arbitrary bytes either decode to RGB pixels or
fail with a TensorFlow InvalidArgumentError, never anything else, and never a crash."""

import io

import numpy as np
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bgsplit_tf.data import image_files


def _valid_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((5, 7, 3), 90, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _decode_or_reject(data: bytes):
    try:
        image = image_files.decode_bytes(tf.constant(data)).numpy()
    except tf.errors.InvalidArgumentError:
        return None
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3
    return image


_PREFIXES = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", _valid_png()[:40]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(_PREFIXES), tail=st.binary(max_size=512))
def test_arbitrary_bytes_decode_or_are_rejected_cleanly(prefix, tail):
    _decode_or_reject(prefix + tail)  # magic numbers first, so the fuzzer reaches each format's parser


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(_valid_png()) - 1), flip=st.integers(min_value=0, max_value=255))
def test_a_damaged_png_decodes_or_is_rejected_cleanly(cut, flip):
    data = bytearray(_valid_png())
    data[cut] ^= flip
    _decode_or_reject(bytes(data))
    _decode_or_reject(bytes(data[:cut]))  # truncated there
