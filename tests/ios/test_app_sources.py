"""Checks on the runner app's sources that need no Swift toolchain (see test_swift_sources.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ios_runner.protocol import APP_MIN_IOS, INBOX, OUTBOX, RUNNING, DONE, STATUS_FILE

APP = Path(__file__).resolve().parents[2] / "ios_runner" / "app"
SWIFT_FILES = sorted((APP / "BenchlabRunner").glob("*.swift"))


def _code(text: str) -> str:
    """Swift text without comments and string literals, for counting brackets."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
    return text


@pytest.mark.parametrize("path", SWIFT_FILES, ids=lambda path: path.name)
def test_swift_file_brackets_balance(path: Path) -> None:
    code = _code(path.read_text(encoding="utf-8"))
    for opening, closing in ("{}", "()", "[]"):
        assert code.count(opening) == code.count(closing), f"{path.name}: {opening}{closing} unbalanced"


def test_project_spec_matches_the_protocol() -> None:
    spec = yaml.safe_load((APP / "project.yml").read_text(encoding="utf-8"))
    assert spec["options"]["deploymentTarget"]["iOS"] == ".".join(map(str, APP_MIN_IOS))
    target = spec["targets"]["BenchlabRunner"]
    assert target["platform"] == "iOS" and target["type"] == "application"
    properties = target["info"]["properties"]
    assert properties["UIFileSharingEnabled"] is True
    assert {"package": "TensorFlowLiteC", "product": "TensorFlowLiteC"} in target["dependencies"]
    assert "TensorFlowLiteC" in spec["packages"]


def test_swift_folder_names_match_the_protocol() -> None:
    text = (APP / "BenchlabRunner" / "Protocol.swift").read_text(encoding="utf-8")
    for name, value in (("inbox", INBOX), ("running", RUNNING), ("outbox", OUTBOX), ("done", DONE)):
        assert f'static let {name} = "{value}"' in text
    assert f'static let statusFile = "{STATUS_FILE}"' in text


def test_app_readme_describes_every_folder() -> None:
    readme = (APP / "README.md").read_text(encoding="utf-8")
    for folder in (INBOX, RUNNING, OUTBOX, DONE):
        assert f"`{folder}/" in readme
    assert STATUS_FILE in readme and "xcodegen generate" in readme and ".ipa" in readme
