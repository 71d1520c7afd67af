"""Fingerprints: digests that stay what caches written before recorded, whole writes, and one refusal
that names what differs and the fix."""

import hashlib

import numpy as np
import pytest

from bgsplit_tf.data import fingerprints


def test_digests_are_those_the_stored_caches_hold():
    ids = np.array([b"a/1.jpg", b"b/2.jpg"], dtype=object)
    assert fingerprints.ids_digest(ids) == hashlib.sha256(b"a/1.jpg\0b/2.jpg\0").hexdigest()
    assert fingerprints.digest_of([b"ab", b"c"]) != fingerprints.digest_of([b"a", b"bc"])


def test_a_stored_fingerprint_is_checked_or_written_and_a_mismatch_names_fields_and_fix(tmp_path):
    path = tmp_path / "store" / fingerprints.FINGERPRINT_FILE
    fingerprints.check_or_write(path, {"pool": "a", "top_k": 5}, "the store", "rm -r it.")
    assert fingerprints.read(path) == {"pool": "a", "top_k": 5} and not list(path.parent.glob("*.partial"))
    fingerprints.check_or_write(path, {"pool": "a", "top_k": 5}, "the store", "rm -r it.")  # the same: passes
    with pytest.raises(fingerprints.FingerprintMismatch,
                       match=r"the store does not match this run \(extra: stored None, this run 1; top_k: stored 5, "
                             r"this run 3\)\. rm -r it\."):
        fingerprints.check(path, {"pool": "a", "top_k": 3, "extra": 1}, "the store", "rm -r it.")
    assert fingerprints.read(tmp_path / "absent.json") is None
