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


def test_litert_is_pinned_to_one_release_and_the_scheme_is_shared() -> None:
    spec = yaml.safe_load((APP / "project.yml").read_text(encoding="utf-8"))
    package = spec["packages"]["TensorFlowLiteC"]
    assert "branch" not in package and re.fullmatch(r"\d+\.\d+\.\d+", str(package["exactVersion"]))
    readme = (APP / "README.md").read_text(encoding="utf-8")
    assert str(package["exactVersion"]) in readme, "the README names the pinned LiteRT release"
    scheme = spec["schemes"]["BenchlabRunner"]  # what `xcodebuild -scheme BenchlabRunner` needs
    assert scheme["build"]["targets"] == {"BenchlabRunner": "all"} and scheme["archive"]["config"] == "Release"
    assert "-scheme BenchlabRunner" in readme


def _swift(name: str) -> str:
    """A Swift source without its comments (string literals kept)."""
    return re.sub(r"//[^\n]*", "", (APP / "BenchlabRunner" / name).read_text(encoding="utf-8"))


def test_the_screen_stays_awake_whenever_the_app_is_in_front() -> None:
    """Not only while a job runs: between repeats and pushes an auto-locked phone suspends the app."""
    assert "isIdleTimerDisabled" not in _swift("JobRunner.swift")
    app = _swift("BenchlabRunnerApp.swift")
    assert "scenePhase" in app and "isIdleTimerDisabled = awake" in app
    assert "keepAwake(phase == .active)" in app


def test_files_the_host_polls_are_replaced_by_rename_never_deleted_first() -> None:
    executor = _swift("JobExecutor.swift")
    write = executor[executor.index("func writeAtomically"):executor.index("struct JobExecutor")]
    assert "rename(partial.path, url.path)" in write and "removeItem(at: url)" not in write


def test_litert_cpu_jobs_run_on_xnnpack_and_report_it() -> None:
    engine = _swift("LiteRTEngine.swift")
    cpu = engine[engine.index('case "cpu":'):engine.index('case "coreml":')]
    assert "TfLiteXNNPackDelegateCreate" in cpu and "num_threads" in cpu and 'createdName = "xnnpack"' in cpu
    assert "TfLiteInterpreterOptionsAddDelegate(options, probe.wrapper)" in engine


def test_inputs_are_mapped_and_outputs_appended_per_sample() -> None:
    io = _swift("TensorIO.swift")
    assert ".alwaysMapped" in io and "write(contentsOf:" in io
    assert "Data(contentsOf: url)" not in io  # no whole-file read of an input


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
