"""Every environment variable benchlab and its runners read is declared and read in benchlab.settings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from benchlab import settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchlab", "android_runner", "ios_runner")
#: Variables of the libraries benchlab calls, read only to put them back as they were
#: (TF_USE_LEGACY_KERAS around tfmot's import): not settings of benchlab's.
LIBRARY_VARIABLES = frozenset({"LEGACY_KERAS"})


def environment_reads(path: Path) -> list[str]:
    """Return "file:line" for each os.environ.get / os.getenv / os.environ[...] read in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        read = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and (node.func.attr == "getenv" or (node.func.attr == "get" and ast.unparse(node.func.value) == "os.environ"))
                and not (node.args and ast.unparse(node.args[0]) in LIBRARY_VARIABLES))
        subscript = (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                     and ast.unparse(node.value) == "os.environ")
        if read or subscript:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


#: The loopback phone's stand-in tools read the environment its shell gives them on the "phone"
#: (the device's facts, the power-rail ledger): the phone's settings, not benchlab's.
PHONE_SIDE = ROOT / "android_runner" / "loopback"


def test_no_module_but_settings_reads_the_environment() -> None:
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")
             if p.name != "settings.py" and PHONE_SIDE not in p.parents]
    assert [hit for path in files for hit in environment_reads(path)] == []


def test_a_setting_reads_blank_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.CLUSTER.name, "  ")
    assert settings.read(settings.CLUSTER) is None
    monkeypatch.setenv(settings.CLUSTER.name, " tcp://farm:8786 ")
    assert settings.read(settings.CLUSTER) == "tcp://farm:8786"
