"""The package's contents: every source folder ships as a package, every third-party import is declared,
and every public function and class says what it does (a docstring)."""

import importlib
import inspect
import pkgutil
import tomllib


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
