"""--mixed_precision=auto: bfloat16 where the CPU multiplies it natively, float32 elsewhere, said why."""

import pytest

from bgsplit_tf.training import precision


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\n")
    return path


@pytest.mark.parametrize("flags,chosen,native", [
    ("avx512f amx_tile amx_bf16 avx512_bf16", "bfloat16", ("amx_bf16", "avx512_bf16")),
    ("avx512f avx512_bf16", "bfloat16", ("avx512_bf16",)),
    ("avx512f avx512_vnni", "off", ()),
])
def test_auto_follows_the_cpu_flags_and_says_why(tmp_path, flags, chosen, native):
    resolved = precision.resolve("auto", _cpuinfo(tmp_path, flags))
    assert (resolved.chosen, resolved.cpu_flags, resolved.setting) == (chosen, native, "auto")
    assert (native[0] if native else "none of") in resolved.reason
    assert resolved.trunk_dtype == ("mixed_bfloat16" if chosen == "bfloat16" else "float32")


def test_an_explicit_setting_is_kept_whatever_the_cpu(tmp_path):
    for setting in ("off", "bfloat16", "float16"):
        assert precision.resolve(setting, _cpuinfo(tmp_path, "amx_bf16")).chosen == setting
    assert precision.resolve("auto", tmp_path / "absent").chosen == "off"  # no /proc/cpuinfo: float32
