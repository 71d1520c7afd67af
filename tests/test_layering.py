"""Imports only run down: the package's folders are floors in the order data flows, and no module
imports from a floor above its own (nor from a sibling on its floor), so each floor can be read, tested
and reused without the ones above it."""

import ast

from tests.conftest import REPO

# Lowest first. Plumbing every floor may use; then source -> rare task -> teacher targets -> pipeline
# (data) beside the model; evaluation; export (serving); training, which drives them; what runs many
# trainings or serves a loop; speed measurement; the results pages; the programs.
FLOORS = (
    {"faults", "phases", "config", "json_files"},
    {"data", "models"},
    {"evaluation"},
    {"serving"},
    {"training"},
    {"experiments", "search", "beam"},
    {"speed"},
    {"reports"},
    {"cli"},
)
FLOOR_OF = {part: level for level, parts in enumerate(FLOORS) for part in parts}


def _imported_parts(path):
    """The bgsplit_tf top-level parts (data, models, faults, ...) a module imports, at any depth of its code."""
    package = path.relative_to(REPO).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1]) + (node.module.split(".") if node.module else [])
            else:
                base = (node.module or "").split(".")
            names = [base + [alias.name] for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        else:
            continue
        for name in names:
            if name[0] == "bgsplit_tf" and len(name) > 1:
                yield name[1], node.lineno


def test_every_part_of_the_package_has_a_floor():
    parts = {p.stem if p.is_file() else p.name for p in (REPO / "bgsplit_tf").iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py") or (p.is_dir() and (p / "__init__.py").exists())}
    assert parts == set(FLOOR_OF), f"give these a floor, or remove the stale ones: {parts ^ set(FLOOR_OF)}"


def test_no_module_imports_from_a_floor_above_or_beside_its_own():
    upward = []
    for path in (REPO / "bgsplit_tf").rglob("*.py"):
        parts = path.relative_to(REPO / "bgsplit_tf").parts
        if len(parts) == 1 and parts[0] == "__init__.py":
            continue  # the public API gathers every floor
        own = parts[0].removesuffix(".py")
        for imported, line in _imported_parts(path):
            if imported in FLOOR_OF and imported != own and FLOOR_OF[imported] >= FLOOR_OF[own]:
                upward.append(f"{path.relative_to(REPO)}:{line} imports {imported} (floor {FLOOR_OF[imported]}) "
                              f"from {own} (floor {FLOOR_OF[own]})")
    assert not upward, "imports that do not run down:\n" + "\n".join(upward)


def test_only_the_commands_import_a_command_line_framework():
    """The library is not a program: absl.app (parsing argv, running main) is cli/'s alone. (TensorFlow
    loads absl.app for its own tf.compat.v1.app, so this reads imports rather than sys.modules.)"""
    offenders = []
    for path in (REPO / "bgsplit_tf").rglob("*.py"):
        if path.relative_to(REPO / "bgsplit_tf").parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) and node.module
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.relative_to(REPO)}:{node.lineno}" for name in names if name.startswith("absl.app")]
    assert not offenders, f"absl.app imported outside cli/: {offenders}"
