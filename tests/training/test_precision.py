"""--mixed_precision=auto: bfloat16 where the CPU has AMX tiles, float32 elsewhere, said why; pinned
by $BGSPLIT_AUTO_PRECISION whatever the hardware."""

import pytest
import tensorflow as tf

from bgsplit_tf.training import precision


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\n")
    return path


@pytest.mark.parametrize("flags,chosen,native,why", [
    ("avx512f amx_tile amx_bf16 avx512_bf16", "bfloat16", ("amx_tile", "amx_bf16", "avx512_bf16"), "natively"),
    ("avx512f avx512_bf16", "off", ("avx512_bf16",), "no AMX tiles"),
    ("avx512f amx_bf16", "off", ("amx_bf16",), "no AMX tiles"),
    ("avx512f avx512_vnni", "off", (), "none of"),
])
def test_auto_follows_the_cpu_flags_and_says_why(tmp_path, flags, chosen, native, why):
    resolved = precision.for_cpu(precision.cpu_flags(_cpuinfo(tmp_path, flags)))
    assert (resolved.chosen, resolved.cpu_flags, resolved.setting) == (chosen, native, "auto")
    assert why in resolved.reason
    assert resolved.trunk_dtype == ("mixed_bfloat16" if chosen == "bfloat16" else "float32")


def test_a_missing_cpuinfo_has_no_flags(tmp_path):
    assert precision.cpu_flags(tmp_path / "absent") == frozenset()
    assert precision.cpu_flags(tmp_path) == frozenset()  # a folder, not a file


def test_an_explicit_setting_is_kept_whatever_auto_would_choose(monkeypatch):
    monkeypatch.setenv(precision.AUTO_ENV, "bfloat16")
    for setting in ("off", "bfloat16", "float16"):
        assert precision.resolve(setting).chosen == setting


def test_the_environment_pins_what_auto_chooses(monkeypatch):
    for pinned in ("off", "bfloat16"):
        monkeypatch.setenv(precision.AUTO_ENV, pinned)
        resolved = precision.resolve("auto")
        assert (resolved.chosen, resolved.setting) == (pinned, "auto")
        assert precision.AUTO_ENV in resolved.reason
    monkeypatch.setenv(precision.AUTO_ENV, "fp8")
    with pytest.raises(ValueError, match=r"BGSPLIT_AUTO_PRECISION='fp8': expected off, bfloat16 or float16"):
        precision.resolve("auto")


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU") or tf.config.list_logical_devices("TPU")),
                    reason="an accelerator decides before the CPU's flags")
@pytest.mark.parametrize("unset", [None, ""])  # an empty variable counts as unset
def test_without_the_environment_the_cpu_flags_decide(monkeypatch, unset):
    if unset is None:
        monkeypatch.delenv(precision.AUTO_ENV, raising=False)
    else:
        monkeypatch.setenv(precision.AUTO_ENV, unset)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_tile", "amx_bf16"}))
    assert precision.resolve("auto").chosen == "bfloat16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f"}))
    assert precision.resolve("auto").chosen == "off"
