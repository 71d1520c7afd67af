"""--mixed_precision=auto: float32 on a CPU without bfloat16 instructions; on one with them, bfloat16 only
where this network's step, timed once in both precisions, is enough faster; said why; pinned by
$BGSPLIT_AUTO_PRECISION whatever the hardware."""

import json

import pytest
import tensorflow as tf

from bgsplit_tf import config as config_lib
from bgsplit_tf.training import precision, precision_timing


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\n")
    return path


def test_a_cpu_without_bfloat16_instructions_keeps_float32_without_timing(tmp_path):
    resolved = precision.for_cpu(precision.cpu_flags(_cpuinfo(tmp_path, "avx512f avx512_vnni")), "net",
                                 _never_called, tmp_path / "timings.json")
    assert (resolved.chosen, resolved.cpu_flags, resolved.step_seconds) == ("off", (), None)
    assert "emulated" in resolved.reason and not (tmp_path / "timings.json").exists()


def _never_called():
    raise AssertionError("timed where it should not be")


@pytest.mark.parametrize("flags", ["avx512f amx_tile amx_bf16 avx512_bf16", "avx512f avx512_bf16"])
def test_a_bfloat16_cpu_decides_from_the_timed_step_once_per_network(tmp_path, flags):
    cache, present = tmp_path / "cache" / "timings.json", precision.cpu_flags(_cpuinfo(tmp_path, flags))
    fast = precision.for_cpu(present, "net-a", lambda: {"float32": 0.30, "bfloat16": 0.20}, cache)
    assert (fast.chosen, fast.step_seconds, fast.timings_cached) == ("bfloat16", {"float32": 0.30, "bfloat16": 0.20},
                                                                    False)
    assert "1.50x as fast: bfloat16" in fast.reason and precision.trunk_dtype(fast) == "mixed_bfloat16"
    again = precision.for_cpu(present, "net-a", _never_called, cache)  # kept: not timed again
    assert (again.chosen, again.timings_cached) == ("bfloat16", True) and "by an earlier run" in again.reason
    barely = precision.for_cpu(present, "net-b", lambda: {"float32": 0.30, "bfloat16": 0.29}, cache)
    assert barely.chosen == "off" and "would need 1.10x" in barely.reason
    assert len(json.loads(cache.read_text())) == 2  # one entry per network
    untimed = precision.for_cpu(present, "net-c", None, cache)
    assert untimed.chosen == "off" and "not been timed" in untimed.reason


def test_the_timed_step_is_the_networks_own_in_both_precisions(tiny_data_dir):
    config = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, batch_size=8,
                                    mixed_precision="off")
    seconds = precision_timing.step_seconds(config, steps=2)
    assert set(seconds) == {"float32", "bfloat16"} and all(0 < s < 60 for s in seconds.values())


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
def test_without_the_environment_the_cpu_decides(monkeypatch, tmp_path, unset):
    if unset is None:
        monkeypatch.delenv(precision.AUTO_ENV, raising=False)
    else:
        monkeypatch.setenv(precision.AUTO_ENV, unset)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_tile", "amx_bf16"}))
    assert precision.resolve("auto", "net", lambda: {"float32": 2.0, "bfloat16": 1.0}).chosen == "bfloat16"
    assert (tmp_path / "bgsplit_tf" / "precision.json").exists()
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f"}))
    assert precision.resolve("auto", "net", _never_called).chosen == "off"
