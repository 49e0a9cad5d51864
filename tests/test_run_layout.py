"""benchlab.results.layout is the only place a run folder's file names are written in code.

Read from the source with `ast`: a string in code (not a docstring) that is one of those names, or
an f-string piece that ends with one, anywhere in benchlab, android_runner or ios_runner outside
layout.py, is a second owner of the run folder's layout.
"""

from __future__ import annotations

import ast
from pathlib import Path

from benchlab.results import layout
from benchlab.results.layout import RunLayout, run_folder

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchlab", "android_runner", "ios_runner")
LAYOUT_FILE = Path(layout.__file__).resolve()
#: Every file name of a run folder (and of a results root) layout.py names; the folder names
#: ("inputs", "outputs") are left out: they are words any module may use for other things.
FILE_NAMES = frozenset({
    # Every upper-case name of layout.py that holds a file name (one with a suffix), so a file
    # added there is checked here without being listed twice.
    *(value for name, value in vars(layout).items() if name.isupper() and isinstance(value, str) and "." in value),
    *layout.GATE_FILES.values(),
    ".labels.npy",
})


def _docstrings(tree: ast.Module) -> set[int]:
    """Return the ids of the docstring nodes of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def names_written_in(path: Path) -> list[str]:
    """Return "file:line: name" for each run-folder file name a string in the code of `path` holds."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            for name in FILE_NAMES:
                if node.value == name or (name.startswith(".") and node.value.endswith(name)):
                    found.append(f"{path}:{node.lineno}: {name}")
    return found


def test_the_reader_sees_a_name_written_in_code(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""run.json is documented here."""\nPATH = "run.json"\nLABELS = f"{1}.labels.npy"\n')
    assert [hit.rsplit(": ", 1)[1] for hit in names_written_in(sample)] == ["run.json", ".labels.npy"]


def test_no_module_but_the_layout_names_a_run_folder_file() -> None:
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if p.resolve() != LAYOUT_FILE]
    assert len(files) > 50
    assert [hit for path in files for hit in names_written_in(path)] == []


def test_the_layout_names_every_file_of_a_run(tmp_path: Path) -> None:
    run = RunLayout(tmp_path)
    assert run.labels("a/b").name == "a_b.labels.npy" and run.labels("a/b").parent == run.inputs_dir
    assert run.outputs_file("m.v.host.cpu") == "outputs/m.v.host.cpu.npz"
    assert set(run.gate_files) == {"junit", "json", "markdown"}
    assert RunLayout(run_folder(tmp_path, "r1")).results_root == tmp_path  # where its suite's other runs are
