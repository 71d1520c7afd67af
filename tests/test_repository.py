"""The repository stands alone and carries no dead code: checks over its own files."""

import ast
import collections
import re

from tests.conftest import REPO

TEXT_FILES = [*REPO.glob("*.md"), *(REPO / "docs").glob("*.md"), *REPO.glob("setup.py"), *REPO.glob("pyproject.toml"), *(REPO / "flags").glob("*.cfg"),
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
    # A name's uses are the words equal to it (what rf"\b{name}\b" finds), counted in one pass over the
    # corpus rather than one search per name.
    words = collections.Counter(re.findall(r"\w+", corpus))
    unused = [f"{path.relative_to(REPO)}:{name}" for path, name in _public_definitions()
              if words[name] < 2]  # the definition itself is one
    assert not unused, f"defined but never used: {unused}"


REPOSITORY_PATH = re.compile(r"(?<![\w./-])((?:bgsplit_tf|tests|benchmarks|flags|notebooks|\.ci)/[\w./-]*\w/?)")
MODULE_PATH = re.compile(r"(?<![\w./-])(bgsplit_tf(?:\.(?!__)\w+)+)")
NOT_A_PATH = re.compile(r"[{}*<>$]")  # patterns such as flags/inat2017_{a,b}.cfg name several files


def _names_defined(module) -> set[str]:
    tree = ast.parse(module.read_text())
    names = {getattr(n, "name", None) for n in tree.body} | {
        t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
        for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
    names |= {alias.asname or alias.name for n in tree.body if isinstance(n, ast.ImportFrom) for alias in n.names}
    return names


def _module_exists(dotted: str) -> bool:
    """bgsplit_tf.a.b.NAME: a package or module path, optionally ending in a name its module defines."""
    path = REPO
    parts = dotted.split(".")
    for index, part in enumerate(parts):
        if (path / part).is_dir():
            path = path / part
        elif (path / f"{part}.py").is_file():
            path = path / f"{part}.py"
            rest = parts[index + 1:]
            return not rest or rest[0] in _names_defined(path)
        else:
            return (path / "__init__.py").is_file() and part in _names_defined(path / "__init__.py")
    return True


def test_every_repository_path_a_file_names_exists():
    """Docs, docstrings, help texts and flagfiles name files and modules by their repository paths:
    each one named must be there (a renamed file leaves no stale pointer)."""
    missing = []
    for text_file in TEXT_FILES:
        if not text_file.is_file() or text_file.suffix in {".png", ".ipynb"} or text_file.name == "test_repository.py":
            continue
        text = text_file.read_text(errors="ignore")
        for match in REPOSITORY_PATH.finditer(text):
            named = match.group(1).rstrip(".")
            if not NOT_A_PATH.search(text[match.start():match.end() + 1]) and not (REPO / named).exists():
                missing.append(f"{text_file.relative_to(REPO)}: {named}")
        for match in MODULE_PATH.finditer(text):
            if not _module_exists(match.group(1)):
                missing.append(f"{text_file.relative_to(REPO)}: {match.group(1)}")
    assert not missing, "these name repository paths that do not exist:\n" + "\n".join(sorted(set(missing)))
