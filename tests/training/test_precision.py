"""--mixed_precision=auto: bfloat16 where the CPU has AMX tiles, float32 elsewhere, said why."""

import pytest

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
    resolved = precision.resolve("auto", _cpuinfo(tmp_path, flags))
    assert (resolved.chosen, resolved.cpu_flags, resolved.setting) == (chosen, native, "auto")
    assert why in resolved.reason
    assert resolved.trunk_dtype == ("mixed_bfloat16" if chosen == "bfloat16" else "float32")


def test_an_explicit_setting_is_kept_whatever_the_cpu(tmp_path):
    for setting in ("off", "bfloat16", "float16"):
        assert precision.resolve(setting, _cpuinfo(tmp_path, "amx_bf16")).chosen == setting
    assert precision.resolve("auto", tmp_path / "absent").chosen == "off"  # no /proc/cpuinfo: float32


def test_the_cpu_flags_come_from_the_file_the_environment_names(tmp_path, monkeypatch):
    monkeypatch.setenv(precision.CPUINFO_ENV, str(_cpuinfo(tmp_path, "amx_tile amx_bf16")))
    assert precision.resolve("auto").chosen == "bfloat16"
    monkeypatch.setenv(precision.CPUINFO_ENV, str(tmp_path / "absent"))
    assert precision.resolve("auto").chosen == "off"


def test_an_empty_environment_variable_means_this_machines_own_flags(monkeypatch):
    monkeypatch.setenv(precision.CPUINFO_ENV, "")
    assert precision.cpu_flags() == precision.cpu_flags(precision.CPUINFO)
