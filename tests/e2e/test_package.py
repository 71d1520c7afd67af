"""The installed package as a user meets it: the TensorFlow-less import message and every console
script's help (the package's contents are checked in tests/test_package_contents.py)."""

import dataclasses
import re
import tomllib
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

_WITHOUT_TENSORFLOW = """
import sys

class HideTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"No module named {name!r}")

sys.meta_path.insert(0, HideTensorFlow())
import bgsplit_tf
"""


def test_import_without_tensorflow_names_the_extras():
    result = subprocess.run([sys.executable, "-c", _WITHOUT_TENSORFLOW], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "bgsplit_tf[cpu]" in result.stderr and "bgsplit_tf[gpu]" in result.stderr


# One of each console script's own flags, which its --help must list.
SCRIPT_FLAGS = {
    "bgsplit-train": "--output_dir", "bgsplit-experiment": "--background_fractions", "bgsplit-pretrain": "--output",
    "bgsplit-export": "--run_dir", "bgsplit-predict": "--images", "bgsplit-precompute": "--teacher_cache_dir",
    "bgsplit-bench": "--jpeg_images", "bgsplit-bench-decode": "--orientations", "bgsplit-regime-map": "--tier",
    "bgsplit-real-map": "--results_dir", "bgsplit-bench-search": "--strategies", "bgsplit-search": "--examples",
    "bgsplit-docs": "--repo",
}


def test_every_console_script_of_pyproject_is_checked_here():
    from tests.conftest import REPO

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert sorted(declared) == sorted(SCRIPT_FLAGS)


@pytest.fixture(scope="module")
def help_texts():
    """script -> what `script --help` printed, and "bgsplit-train --helpfull" -> that: run two at a time
    (one per core; each loads TensorFlow)."""
    import concurrent.futures

    def answer(command):
        executable = shutil.which(command[0])
        assert executable, f"{command[0]} is not installed; run pip install -e '.[cpu,test]'"
        # absl prints the help and exits with status 1 by design; what matters is what it prints.
        return subprocess.run([executable, *command[1:]], capture_output=True, text=True, timeout=180).stdout

    commands = [(script, "--help") for script in sorted(SCRIPT_FLAGS)] + [("bgsplit-train", "--helpfull")]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(answer, commands))
    return {" ".join(c) if c[1] == "--helpfull" else c[0]: out for c, out in zip(commands, outputs)}


@pytest.mark.parametrize("script, flag", sorted(SCRIPT_FLAGS.items()))
def test_console_scripts_answer_help(script, flag, help_texts):
    assert "USAGE" in help_texts[script] and flag in help_texts[script]


def test_train_help_documents_the_method_flags(help_texts):
    for flag in ("--aux_weight", "--aux_targets", "--temperature", "--fixed_background_logit", "--seed",
                 "--focal_gamma", "--cb_beta", "--reweight_from_epoch", "--ldam_max_margin", "--cosine_head",
                 "--logit_adjustment", "--la_tau", "--rare_batch_fraction", "--background_fraction",
                 "--background_keep", "--export_dir"):
        assert flag in help_texts["bgsplit-train"]


def test_helpfull_documents_every_training_flag(help_texts):
    from bgsplit_tf import config as config_lib

    shown = help_texts["bgsplit-train --helpfull"]
    for field in dataclasses.fields(config_lib.TrainConfig):
        # absl prints "  --[no]name: help" or "  --name: help"; the help must not be empty.
        match = re.search(rf"--(?:\[no\])?{field.name}: (\S.*)", shown)
        assert match, f"--{field.name} is missing from bgsplit-train --helpfull"
