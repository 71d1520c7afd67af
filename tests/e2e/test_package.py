"""Packaging: the TensorFlow-less import message and the console scripts."""

import dataclasses
import importlib
import inspect
import pkgutil
import re
import tomllib
import shutil
import subprocess
import sys

import pytest

_WITHOUT_TENSORFLOW = """
import sys

class HideTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"No module named {name!r}")

sys.meta_path.insert(0, HideTensorFlow())
import bgsplit_tf
"""


@pytest.mark.e2e
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


@pytest.mark.e2e
@pytest.mark.parametrize("script, flag", sorted(SCRIPT_FLAGS.items()))
def test_console_scripts_answer_help(script, flag, help_texts):
    assert "USAGE" in help_texts[script] and flag in help_texts[script]


@pytest.mark.e2e
def test_train_help_documents_the_method_flags(help_texts):
    for flag in ("--aux_weight", "--aux_targets", "--temperature", "--fixed_background_logit", "--seed",
                 "--focal_gamma", "--cb_beta", "--reweight_from_epoch", "--ldam_max_margin", "--cosine_head",
                 "--logit_adjustment", "--la_tau", "--rare_batch_fraction", "--background_fraction",
                 "--background_keep", "--export_dir"):
        assert flag in help_texts["bgsplit-train"]


@pytest.mark.e2e
def test_helpfull_documents_every_training_flag(help_texts):
    from bgsplit_tf import config as config_lib

    shown = help_texts["bgsplit-train --helpfull"]
    for field in dataclasses.fields(config_lib.TrainConfig):
        # absl prints "  --[no]name: help" or "  --name: help"; the help must not be empty.
        match = re.search(rf"--(?:\[no\])?{field.name}: (\S.*)", shown)
        assert match, f"--{field.name} is missing from bgsplit-train --helpfull"


def _public_members(module):
    """(qualified name, object) of the functions and classes a module defines (not imports), and their
    public methods."""
    for name, member in vars(module).items():
        if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(member):
            yield f"{module.__name__}.{name}", member
        elif inspect.isclass(member):
            yield f"{module.__name__}.{name}", member
            for method_name, method in vars(member).items():
                if not method_name.startswith("_") and inspect.isfunction(method):
                    # Through the class, so that an override of a documented base method (Keras's call,
                    # train_step, ...) inherits its docstring, as help() shows it.
                    yield f"{module.__name__}.{name}.{method_name}", getattr(member, method_name)


def test_every_public_function_and_class_has_a_docstring():
    import bgsplit_tf

    missing = []
    for info in pkgutil.walk_packages(bgsplit_tf.__path__, "bgsplit_tf."):
        module = importlib.import_module(info.name)
        missing += [name for name, member in _public_members(module) if not inspect.getdoc(member)]
    assert not missing, "no docstring: " + ", ".join(missing)


def test_every_source_folder_is_a_package_and_ships():
    """A folder without __init__.py would silently drop out of wheels (find_packages skips it)."""
    import setuptools

    from tests.conftest import REPO

    folders = {p.parent.relative_to(REPO).as_posix().replace("/", ".")
               for p in (REPO / "bgsplit_tf").rglob("*.py")}
    assert folders == set(setuptools.find_packages(str(REPO), include=["bgsplit_tf", "bgsplit_tf.*"]))
    for name in ("shapes_v2_fine", "shapes_v2_medium", "shapes_v2_coarse", "shapes_v1_coarse"):
        assert (REPO / f"bgsplit_tf/models/assets/{name}.keras").exists()


def test_every_imported_third_party_package_is_declared():
    """pip installs what pyproject.toml declares; a package imported but undeclared breaks a fresh install."""
    import ast
    import sys

    from tests.conftest import REPO

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = " ".join(project["dependencies"]).lower()
    import_names = {"tensorflow": "tensorflow", "tensorflow_datasets": "tensorflow-datasets", "absl": "absl-py",
                    "PIL": "pillow", "tensorboard": "tensorboard", "keras": "keras", "numpy": "numpy",
                    "matplotlib": "matplotlib", "apache_beam": "apache-beam"}
    # Packages only the modules of an optional feature import, and the extra that installs them.
    optional = {"apache_beam": "beam"}
    for name, extra in optional.items():
        assert import_names[name] in " ".join(project["optional-dependencies"][extra]).lower()
        assert all(path.parts[-2] == extra for path in (REPO / "bgsplit_tf").rglob("*.py")
                   if f"import {name}" in path.read_text() or f"from {name}" in path.read_text()), name
    imported = set()
    for path in (REPO / "bgsplit_tf").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"bgsplit_tf", "__future__"}
    assert third_party <= set(import_names), f"map these imports to their PyPI names: {third_party - set(import_names)}"
    missing = [import_names[name] for name in third_party
               if name not in ("tensorflow", *optional) and import_names[name] not in declared]  # tensorflow: the cpu/gpu extras
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
