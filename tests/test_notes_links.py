"""The notes and the code point at each other correctly.

* every relative link in notes/ and the README resolves to a file;
* every dotted code name the notes mention in backticks (``Network.SGD``,
  ``backprop.backward``) exists in the package;
* every equation tag the code uses at an implementing line (``# (BP1) ...``) is
  explained in the notes (printed in bold, **(BP1)**), and every tag the notes
  explain is used somewhere in the code.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTES = sorted((ROOT / "notes").glob("*.md"))
DOCS = NOTES + [ROOT / "README.md"]
CODE = sorted((ROOT / "network").rglob("*.py")) + sorted((ROOT / "chapters").rglob("*.py"))

TAG = r"[A-Z][A-Z0-9]+(?:-[A-Z0-9]+)*"
# A tag at an implementing line: at the start of a comment or of a docstring line.
CODE_TAG = re.compile(r"(?:#|\"\"\"|^)\s*\((" + TAG + r")\)", re.MULTILINE)
RANGE = re.compile(r"^([A-Z]+)\d+-\1\d+$")
NOTE_TAG = re.compile(r"\*\*\((" + TAG + r")\)\*\*")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
DOTTED = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\(\))?`")
# Names from outside this package (NumPy, the book's own modules, ...) are not checked.
FOREIGN = {"np", "numpy", "scipy", "torch", "math", "json", "os", "sys", "plt", "matplotlib",
           "imageio", "numba", "pytest", "network2", "network3", "theano", "T", "nn", "F",
           "random", "gzip", "signal", "concurrent", "dask", "ray", "argparse", "time"}
FILE_SUFFIXES = (".py", ".md", ".json", ".jsonl", ".npz", ".png", ".gif", ".gz", ".cfg", ".toml", ".txt")


def _package_names():
    """Module names and top-level/class-level definitions of the package, by dotted name."""
    names = set()
    for path in (ROOT / "network").rglob("*.py"):
        rel = path.relative_to(ROOT / "network").with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        module = ".".join(parts)
        if module:
            for i in range(len(parts)):
                names.add(".".join(parts[i:]))
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                names.add(node.name)
                if module:
                    names.add(f"{module}.{node.name}")
                    names.add(f"{parts[-1]}.{node.name}")
                if isinstance(node, ast.ClassDef):
                    for item in node.body:
                        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                            names.add(f"{node.name}.{item.name}")
                        elif isinstance(item, ast.Assign):
                            for t in item.targets:
                                if isinstance(t, ast.Name):
                                    names.add(f"{node.name}.{t.id}")
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name) and module:
                        names.add(f"{parts[-1]}.{t.id}")
    return names


def code_tags():
    tags = {}
    for path in CODE:
        for tag in CODE_TAG.findall(path.read_text()):
            if not RANGE.match(tag):  # "(BP1-BP4)" names a range of tags, not a tag
                tags.setdefault(tag, path.relative_to(ROOT))
    return tags


def note_tags():
    tags = {}
    for path in NOTES:
        for tag in NOTE_TAG.findall(path.read_text()):
            tags.setdefault(tag, path.relative_to(ROOT))
    return tags


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file(doc):
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#")[0]
        if path and not (doc.parent / path).exists():
            broken.append(target)
    assert not broken, f"{doc.name}: links to missing files: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_named_function_exists(doc):
    known = _package_names()
    missing = []
    for name in DOTTED.findall(doc.read_text()):
        if name.endswith(FILE_SUFFIXES) or name.split(".")[0] in FOREIGN:
            continue
        if name.startswith("network."):
            name = name[len("network."):]
        if name not in known:
            missing.append(name)
    assert not missing, f"{doc.name}: names not found in the package: {sorted(set(missing))}"


def test_every_tag_in_the_code_is_explained_in_the_notes():
    unexplained = {t: str(p) for t, p in code_tags().items() if t not in note_tags()}
    assert not unexplained, f"tags used in code but not explained in notes/: {unexplained}"


def test_every_tag_in_the_notes_is_used_in_the_code():
    unused = {t: str(p) for t, p in note_tags().items() if t not in code_tags()}
    assert not unused, f"tags explained in notes/ but never used in the code: {unused}"


def test_the_tag_checker_sees_the_core_tags():
    """Guard against a checker that passes because it finds nothing."""
    assert {"BP1", "BP2", "BP3", "BP4", "XENT", "L2"} <= set(code_tags())
    assert {"BP1", "BP2", "BP3", "BP4", "XENT", "L2"} <= set(note_tags())
