"""The repository stands alone and carries no dead code: checks over its own files."""

import ast
import re

from tests.conftest import REPO

TEXT_FILES = [*REPO.glob("*.md"), *REPO.glob("setup.py"), *REPO.glob("pyproject.toml"), *(REPO / "flags").glob("*.cfg"),
              *(REPO / "bgsplit_tf").rglob("*.py"), *(REPO / "bgsplit_tf").rglob("*.md"), *(REPO / "tests").rglob("*.py"),
              *(REPO / "notebooks").glob("*"), *(REPO / "benchmarks").rglob("*.md"), REPO / ".ci" / "run"]


def test_no_file_cites_a_document_outside_the_repository():
    outside = re.compile(r"DESIGN\.md|\.\./shared|shared/DESIGN")
    offenders = [str(p.relative_to(REPO)) for p in TEXT_FILES
                 if p.is_file() and p.name != "test_repository.py" and outside.search(p.read_text(errors="ignore"))]
    assert not offenders, f"these cite files outside the repository: {offenders}"


# Used by name elsewhere: TFDS finds its builder classes by their snake-case name ("bgsplit_shapes").
USED_BY_REGISTRATION = {"BgsplitShapes"}


def _public_definitions():
    for path in (REPO / "bgsplit_tf").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if (isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
                    and node.name not in USED_BY_REGISTRATION):
                yield path, node.name


def test_every_public_function_and_class_is_used_somewhere():
    """A public name nothing calls, tests or documents is dead code (e.g. a helper left behind)."""
    corpus = "\n".join(p.read_text(errors="ignore") for p in TEXT_FILES if p.is_file())
    unused = [f"{path.relative_to(REPO)}:{name}" for path, name in _public_definitions()
              if len(re.findall(rf"\b{name}\b", corpus)) < 2]  # the definition itself is one
    assert not unused, f"defined but never used: {unused}"
