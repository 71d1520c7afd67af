"""The one "same run?" rule (flags.txt, checkpoints, experiment and regime-map resume) and the run
folder's finished-run handling."""

import dataclasses

import pytest

from bgsplit_tf import config as config_lib
from bgsplit_tf.training import precision, run_folder
from tests import helpers

FINISHED = helpers.run_results(test_mAP=0.5)


def _finished(run_dir, config):
    run_dir.mkdir(parents=True)
    (run_dir / "flags.txt").write_text("\n".join(config.to_flag_lines()) + "\n")
    FINISHED.write(run_dir / "metrics.json")


def test_a_finished_run_is_recognised_and_other_flags_are_named(tmp_path):
    config = config_lib.TrainConfig(output_dir=str(tmp_path / "run"), aux_weight=0.1)
    _finished(tmp_path / "run", config)
    assert run_folder.finished_results(config) == FINISHED
    with pytest.raises(ValueError, match=r"--aux_weight=0.1 then, 0.3 now"):
        run_folder.finished_results(dataclasses.replace(config, aux_weight=0.3))


def test_overwrite_reruns_a_finished_run_instead_of_calling_its_flags_different(tmp_path):
    config = config_lib.TrainConfig(output_dir=str(tmp_path / "run"))
    _finished(tmp_path / "run", config)  # written with --nooverwrite
    assert run_folder.finished_results(dataclasses.replace(config, overwrite=True)) is None


def test_a_flag_value_with_a_space_is_the_same_run(tmp_path):
    config = config_lib.TrainConfig(output_dir=str(tmp_path / "my exp" / "run"), rare_categories=("a b", "c"))
    _finished(tmp_path / "my exp" / "run", config)
    assert run_folder.finished_results(config) is not None


def test_flags_added_since_a_run_was_written_count_at_their_default(tmp_path):
    config = config_lib.TrainConfig(output_dir=str(tmp_path / "run"))
    _finished(tmp_path / "run", config)
    lines = [line for line in (tmp_path / "run" / "flags.txt").read_text().splitlines()
             if not line.startswith(("--validation_every", "--mechanism"))]
    (tmp_path / "run" / "flags.txt").write_text("\n".join(lines + ["--a_flag_removed_since=3"]) + "\n")
    assert run_folder.finished_results(config) is not None
    with pytest.raises(ValueError, match="validation_every"):
        run_folder.finished_results(dataclasses.replace(config, validation_every=2))


def test_flag_lines_parse_back_to_the_values_they_came_from():
    config = config_lib.TrainConfig(rare_categories=("x", "y z"), augment=False, fixed_background_logit=0.0,
                                    output_dir="runs/a b")
    parsed, values = config_lib.parse_flag_lines(config.to_flag_lines()), config.flag_values()
    assert {name: values[name] for name in parsed} == parsed
    assert all(values[name] == "" for name in set(values) - set(parsed))  # unset flags are not written
    assert config.flag_values()["augment"] == "false" and config.flag_values()["output_dir"] == "runs/a b"
    assert config.flag_values()["jit_compile"] == ""  # unset


def test_a_float_flag_set_as_an_integer_is_the_same_run(tmp_path):
    written = config_lib.TrainConfig(output_dir=str(tmp_path / "run"), warmup_epochs=1.0, learning_rate=0.1)
    _finished(tmp_path / "run", written)
    assert run_folder.finished_results(dataclasses.replace(written, warmup_epochs=1)) is not None


def test_flags_saved_by_an_earlier_version_as_python_strings_are_the_same_run():
    # Checkpoints of earlier versions saved {flag: str(value)}: "True", "None", "(4, 8)", "()", "1".
    config = config_lib.TrainConfig(lr_schedule="step", lr_decay_epochs=(4, 8), warmup_epochs=1, augment=True,
                                    rare_categories=("a", "b c"))
    earlier = {field.name: str(getattr(config, field.name)) for field in dataclasses.fields(config)}
    assert earlier["lr_decay_epochs"] == "(4, 8)" and earlier["background_fraction"] == "None"
    assert run_folder.same_run_differences(earlier, config) == {}
    assert run_folder.same_run_differences(earlier, dataclasses.replace(config, lr_decay_epochs=(4, 9))) == {
        "lr_decay_epochs": ("4,8", "4,9")}
    assert run_folder.same_run_differences(earlier, dataclasses.replace(config, augment=False)) == {
        "augment": ("true", "false")}


def test_a_precision_is_the_same_run_as_the_auto_that_resolves_to_it(tmp_path, monkeypatch):
    """Runs trained at --mixed_precision=off (the default before auto) stay finished under auto where
    auto keeps float32, and bfloat16 is another run."""
    monkeypatch.setenv(precision.AUTO_ENV, "off")
    config = config_lib.TrainConfig(output_dir=str(tmp_path / "run"), mixed_precision="off")
    _finished(tmp_path / "run", config)
    assert run_folder.finished_results(dataclasses.replace(config, mixed_precision="auto")) == FINISHED
    with pytest.raises(ValueError, match=r"--mixed_precision=off then, bfloat16 now"):
        run_folder.finished_results(dataclasses.replace(config, mixed_precision="bfloat16"))
    monkeypatch.setenv(precision.AUTO_ENV, "bfloat16")  # a machine where auto picks bfloat16
    with pytest.raises(ValueError, match=r"--mixed_precision=off then, auto \(bfloat16 here\) now"):
        run_folder.finished_results(dataclasses.replace(config, mixed_precision="auto"))


def test_a_run_trained_where_auto_meant_bfloat16_is_another_run_where_it_means_float32(tmp_path, monkeypatch):
    """run_training opens the folder with auto resolved, so flags.txt says bfloat16: the same command
    where auto means float32 is refused instead of finishing the run in another precision."""
    monkeypatch.setenv(precision.AUTO_ENV, "bfloat16")
    config = config_lib.TrainConfig(output_dir=str(tmp_path / "run"), mixed_precision="auto")
    run_folder.open_run_folder(tmp_path / "run", dataclasses.replace(config, mixed_precision=precision.resolve("auto").chosen))
    assert "--mixed_precision=bfloat16" in (tmp_path / "run" / "flags.txt").read_text().split()
    FINISHED.write(tmp_path / "run" / "metrics.json")
    assert run_folder.finished_results(config) == FINISHED
    monkeypatch.setenv(precision.AUTO_ENV, "off")
    with pytest.raises(ValueError, match=r"--mixed_precision=bfloat16 then, auto \(off here\) now"):
        run_folder.finished_results(config)


def test_folders_of_earlier_versions_are_judged_by_the_precision_they_trained_in(tmp_path, monkeypatch):
    """A flags.txt without --mixed_precision (versions before it) trained in float32; one that says auto
    (versions before run folders recorded auto's choice) trained in what its metrics.json says."""
    monkeypatch.setenv(precision.AUTO_ENV, "bfloat16")
    config = config_lib.TrainConfig(output_dir=str(tmp_path / "run"), mixed_precision="auto")
    _finished(tmp_path / "run", config)
    lines = (tmp_path / "run" / "flags.txt").read_text().splitlines()
    (tmp_path / "run" / "flags.txt").write_text("\n".join(l for l in lines if "mixed_precision" not in l) + "\n")
    with pytest.raises(ValueError, match=r"--mixed_precision=off then, auto \(bfloat16 here\) now"):
        run_folder.finished_results(config)
    _finished(tmp_path / "auto", dataclasses.replace(config, output_dir=str(tmp_path / "auto")))  # chose off
    with pytest.raises(ValueError, match=r"--mixed_precision=off then, auto \(bfloat16 here\) now"):
        run_folder.finished_results(dataclasses.replace(config, output_dir=str(tmp_path / "auto")))
    monkeypatch.setenv(precision.AUTO_ENV, "off")
    assert run_folder.finished_results(dataclasses.replace(config, output_dir=str(tmp_path / "auto"))) == FINISHED
