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


def _function(source: str, signature: str) -> str:
    """The text of the Swift function (or closure-taking call) that starts with ``signature``, braces matched."""
    start = source.index(signature)
    opening = source.index("{", start)
    depth = 0
    for index in range(opening, len(source)):
        depth += {"{": 1, "}": -1}.get(source[index], 0)
        if depth == 0:
            return source[start:index + 1]
    raise AssertionError(f"unbalanced braces after {signature!r}")


# --- issue 22: the runner's numbers --------------------------------------------------------------------


def test_memory_and_the_first_prediction_come_before_core_mls_compute_plan() -> None:
    """Loading the plan loads the model again: it must not count in memory_after_load nor warm the first run."""
    measure = _function(_swift("JobExecutor.swift"), "private func measure(")
    plan = measure.index("engine.computePlan()")
    for before in ("result.memoryAfterLoadBytes = Footprint.read()", "result.firstPredictionUs = try timed",
                   "result.iterationsUs.append", "result.memoryPeakBytes = after.lifetimePeak"):
        assert measure.index(before) < plan, f"{before} after the compute plan"


def test_litert_resizes_every_input_and_allocates_once_before_copying_any() -> None:
    engine = _swift("LiteRTEngine.swift")
    set_inputs = _function(engine, "func setInputs(")
    assert set_inputs.count("TfLiteInterpreterAllocateTensors") == 1
    resize, allocate = set_inputs.index("TfLiteInterpreterResizeInputTensor"), set_inputs.index("TfLiteInterpreterAllocateTensors")
    copy = set_inputs.index("try copy(")
    assert resize < allocate < copy, "resize all, allocate once, then copy"
    assert "TfLiteTensorCopyFromBuffer" not in set_inputs, "no input is copied inside the resize loop"
    assert "TfLiteInterpreterAllocateTensors" not in _function(engine, "private func copy(")


def test_an_interrupted_job_whose_result_was_written_keeps_it() -> None:
    record = _function(_swift("JobExecutor.swift"), "func recordInterrupted(")
    kept = record.index("fileExists(atPath: resultURL(jobId).path)")
    assert kept < record.index("RunnerResult("), "the outbox is looked at before an 'interrupted' result is made"
    assert "retire(jobFile)" in record[kept:record.index("RunnerResult(")]


def test_a_tensor_without_dimensions_does_not_trap() -> None:
    engine = _swift("LiteRTEngine.swift")
    assert "0..<TfLiteTensorNumDims(" not in engine, "a range up to -1 traps"
    dims = _function(engine, "private func dims(")
    assert "guard count >= 0 else" in dims and "throw JobFailure" in dims


def test_every_double_of_a_result_is_made_finite_before_it_is_encoded() -> None:
    from tests.ios.test_protocol import PROTOCOL_SWIFT, parse_swift_structs

    protocol = PROTOCOL_SWIFT.read_text(encoding="utf-8")
    result = parse_swift_structs(protocol)["RunnerResult"]
    finite_only = _function(protocol, "func finiteOnly()")
    doubles = [prop.name for prop in result.properties if prop.type in ("Double?", "[Double]")]
    assert doubles and all(f"\\.{name})" in finite_only for name in doubles), doubles
    finish = _function(_swift("JobExecutor.swift"), "private func finish(")
    assert finish.index("finished.finiteOnly()") < finish.index("encoder().encode(result)")


# --- issue 22: the LiteRT pin and Swift 6 ----------------------------------------------------------------

#: What kewlbear/TensorFlowLiteC's Package.swift downloads at each tag, read from the repository at that tag:
#: a tag is the commit that added the previous release, so tag 0.0.20250307 downloads release 0.0.20250226.
LITERT_TAGS = {
    "0.0.20250307": ("0.0.20250226", ("5d7bf112bc3c48c4", "acebb781faf39a2e", "86b2447b7676d61d")),
    "0.0.20250308": ("0.0.20250307", ("d8b735723ed60b85", "a4621922f8704120", "14e6c5bc7a84e774")),
}


def test_the_litert_pin_and_its_comment_name_the_same_files() -> None:
    text = (APP / "project.yml").read_text(encoding="utf-8")
    tag = str(yaml.safe_load(text)["packages"]["TensorFlowLiteC"]["exactVersion"])
    assert tag in LITERT_TAGS, f"add what tag {tag}'s Package.swift downloads to LITERT_TAGS"
    release, checksums = LITERT_TAGS[tag]
    comment = " ".join(line.strip().lstrip("#") for line in text[:text.index("  TensorFlowLiteC:")].splitlines()
                       if line.strip().startswith("#"))
    assert f"releases/download/{release}/" in comment and f"at tag {tag}" in comment
    assert all(checksum in comment for checksum in checksums), "the comment's sha256 are the pinned tag's"
    readme = (APP / "README.md").read_text(encoding="utf-8")
    assert f"TensorFlowLiteC/{tag}/Package.swift" in readme and f"releases/download/{release}/" in readme


def test_the_compute_plan_never_leaves_the_task_that_loads_it() -> None:
    """Swift 6: MLComputePlan is not Sendable, so it must not cross from Task.detached to the job thread."""
    engine = _swift("CoreMLEngine.swift")
    task = _function(engine, "Task.detached {")
    assert "MLComputePlan" not in task and "loadPlacement(" in task
    handoff = _function(engine, "private final class PlacementHandoff")
    assert "@unchecked Sendable" in handoff and "MLComputePlan" not in handoff and "Any" not in handoff
    assert "MLComputePlan.load(contentsOf:" in _function(engine, "private func loadPlacement(")


def test_no_deprecated_on_change_and_the_poll_timer_fires_while_the_list_scrolls() -> None:
    app = _swift("BenchlabRunnerApp.swift")
    assert re.search(r"\.onChange\(of: scenePhase\) \{ \w+ in", app) is None, "the one-argument onChange"
    helper = _function(app, "func onNewValue<")
    assert "if #available(iOS 17.0, *)" in helper and "{ _, newValue in action(newValue) }" in helper
    runner = _swift("JobRunner.swift")
    assert "Timer.scheduledTimer" not in runner, "scheduled in the default run-loop mode only"
    assert "RunLoop.main.add(timer, forMode: .common)" in runner


def test_a_litert_error_carries_that_calls_messages_only() -> None:
    engine = _swift("LiteRTEngine.swift")
    check = _function(engine, "private func check(")
    assert check.index("log.clear()") < check.index("call()")
    after_init = engine[engine.index("private func check("):]
    assert after_init.count("log.text") == 1, "every later LiteRT failure goes through check()"
