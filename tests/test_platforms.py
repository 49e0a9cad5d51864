"""Platform declarations (benchlab.platforms): each runner declares its accelerator kinds, their
options and its run modes; the plan stage validates suites and device profiles against whatever is
declared, so a third platform is checked exactly as Android and iOS are, and the generic stages name
none of them."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from android_runner.device import AndroidDevice
from android_runner.discovery import ANDROID_CAPABILITIES
from android_runner.platform import ANDROID
from benchlab.errors import SuiteError
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.profiles import load_platforms, load_profiles
from benchlab.plan.suite import parse_suite, suite_model
from benchlab.platforms import HOST, AcceleratorKind, ModeChoice, Platform, Platforms, RunMode, registered
from benchlab.records import AcceleratorSetting, Scenario
from benchlab.views.run_modes import run_mode_rows, run_modes_section
from ios_runner.platform import IOS

ROOT = Path(__file__).resolve().parents[1]
#: A third platform, registered only here: a watch whose NPU takes a precision of two values, and
#: which measures from a command line (its default) or through a service that runs .tflite only.
WATCH = Platform(
    name="watch",
    accelerators=(AcceleratorKind("cpu"),
                  AcceleratorKind("npu", frozenset({"cores", "precision"}), choices=(("precision", ("fp16", "int8")),))),
    formats=frozenset({"tflite", "pte"}),
    run_modes=(RunMode("cli", description="the watch's benchmark command started over its debug bridge"),
               RunMode("service", frozenset({"tflite"}), description="the watch's inference service, called")),
    mode_choice=ModeChoice("watch_mode", (("cli", ("cli",)), ("service", ("service",)), ("both", ("cli", "service"))),
                           description="how watches run the timed repeats"),
)
WITH_WATCH = Platforms((*registered().declared, WATCH))
SUITE = {"name": "s", "models": [{"name": "m", "builtin": "quickstart-mnist"}], "dataset": {"builtin": "mnist"},
         "variants": ["fp32"]}


def load(tmp_path: Path, platforms: Platforms | None = None, **fields: Any) -> Any:
    return parse_suite({**SUITE, **fields}, tmp_path / "s.yaml", RECIPES, platforms)


def test_the_registered_platforms_are_the_host_and_each_runner_in_name_order() -> None:
    assert registered().declared == (HOST, ANDROID, IOS)
    # The order a suite's error lists the kinds in, as before the declarations.
    assert registered().kinds == ("cpu", "gpu", "nnapi", "hexagon", "qnn", "coreml")


#: Words a module of benchlab may hold as a string although a platform declares the same word, each
#: where it is also a generic term, with why: {module: {word: reason}}. Anywhere else the word is
#: the platform's.
SHARED_WORDS: dict[str, dict[str, str]] = {
    "benchlab/plan/targets.py": {
        "all": "the target selector for every device found (`targets: all`), not Core ML's compute unit",
    },
}


def declared_words(platforms: Platforms) -> set[str]:
    """Return every option, fixed option value, run mode and mode-choice field and value the runners declare."""
    words: set[str] = set()
    for platform in platforms.declared:
        for kind in platform.accelerators:
            words |= set(kind.options or ()) | {value for _, values in kind.choices for value in values}
        words |= {mode.name for mode in platform.run_modes}
        if platform.mode_choice is not None:
            words |= {platform.mode_choice.field, *(value for value, _ in platform.mode_choice.values)}
    return words


def test_no_module_of_benchlab_names_a_platforms_options_or_run_modes() -> None:
    # benchlab is platform-blind: every stage (plan, optimize, execute, results, decide, views,
    # nightly, metrics, formats, the CLI and pipeline) reads a platform's vocabulary from its
    # declaration; the runner packages are where those words belong. String literals equal to a
    # declared word (an f-string's pieces included) are refused: comments and docstrings may give
    # examples, code may not hold "compute_units", "cpuOnly", "app", "android_mode" ... A word a new
    # platform declares is checked without a change here.
    words = declared_words(registered())
    assert {"compute_units", "cpuAndNeuralEngine", "app", "shell", "both", "android_mode",
            "precision_loss_allowed"} <= words
    modules = sorted((ROOT / "benchlab").rglob("*.py"))
    assert ROOT / "benchlab" / "views" / "report.py" in modules and ROOT / "benchlab" / "cli.py" in modules
    found = [(str(path.relative_to(ROOT)), node.lineno, node.value)
             for path in modules for node in ast.walk(ast.parse(path.read_text(), str(path)))
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in words]
    assert sorted(f"{path}:{line}: {word!r}" for path, line, word in found
                  if word not in SHARED_WORDS.get(path, {})) == []
    # Each allowance is still needed: one no code uses any more goes.
    assert {(path, word) for path, allowed in SHARED_WORDS.items() for word in allowed} <= {
        (path, word) for path, _, word in found}


def test_a_third_platforms_kinds_options_and_modes_are_validated_like_the_others(tmp_path: Path) -> None:
    suite = load(tmp_path, WITH_WATCH, accelerators=[{"kind": "npu", "options": {"precision": "int8"}}],
                 scenario={"watch_mode": "both", "android_mode": "app"})
    (npu,) = suite.accelerator_settings()
    assert npu.name == "npu-int8"  # named by its fixed-value option, as "coreml-all" is
    assert suite.scenario.scenario().run_modes == ("app", "cli", "service")
    assert load(tmp_path, WITH_WATCH).scenario.scenario().run_modes == ("shell", "cli")  # each platform's default
    refusals = {
        "accelerators[0]: options.cores2: not an option of a npu accelerator (allowed: cores, precision)":
            {"accelerators": [{"kind": "npu", "options": {"precision": "fp16", "cores2": 2}}]},
        "accelerators[0]: options.precision 'fp8' is not allowed (allowed: fp16, int8)":
            {"accelerators": [{"kind": "npu", "options": {"precision": "fp8"}}]},
        "accelerators[0]: options.precision is required for a npu accelerator (one of: fp16, int8)":
            {"accelerators": [{"kind": "npu"}]},
        "scenario.watch_mode: Input should be 'cli', 'service' or 'both'": {"scenario": {"watch_mode": "daemon"}},
        "accelerators: [0].name 'cpu@service' ends with '@service', which names the rows watch measures in run mode "
        "'service'; rename it": {"accelerators": [{"name": "cpu@service"}]},
    }
    for message, fields in refusals.items():
        with pytest.raises(SuiteError) as refused:
            load(tmp_path, WITH_WATCH, **fields)
        assert str(refused.value) == f"{tmp_path / 's.yaml'}: {message}"
    # Without its declaration the same suite names an unknown kind and an unknown field.
    with pytest.raises(SuiteError, match=r"accelerators\[0\]\.kind: unknown accelerator 'npu' \(allowed: cpu, gpu, "
                                         r"nnapi, hexagon, qnn, coreml\)$"):
        load(tmp_path, accelerators=[{"kind": "npu", "options": {"precision": "int8"}}])
    with pytest.raises(SuiteError, match=r"scenario\.watch_mode: Extra inputs are not permitted"):
        load(tmp_path, scenario={"watch_mode": "both"})


def test_core_ml_compute_units_are_ios_declared_choices(tmp_path: Path) -> None:
    (coreml,) = load(tmp_path, accelerators=[{"kind": "coreml", "options": {"compute_units": "all"}}]
                     ).accelerator_settings()
    assert coreml.name == "coreml-all"
    with pytest.raises(SuiteError, match=r"accelerators\[0\]: options\.compute_units 'npu' is not allowed "
                                         r"\(allowed: cpuOnly, cpuAndGPU, cpuAndNeuralEngine, all\)$"):
        load(tmp_path, accelerators=[{"kind": "coreml", "options": {"compute_units": "npu"}}])


def test_a_device_of_the_third_platform_plans_a_job_per_mode_from_its_declaration() -> None:
    capabilities = WATCH.capabilities()
    npu = AcceleratorSetting(name="npu-int8", kind="npu", options={"precision": "int8"})
    both = Scenario(run_modes=WITH_WATCH.run_modes({"watch_mode": "both"}))
    assert [(s.name, sc.run_mode) for s, sc in capabilities.job_settings(npu, both, "tflite")] == [
        ("npu-int8", "cli"), ("npu-int8@service", "service")]
    # The service measures .tflite only: a .pte is measured from the command line under its plain name.
    assert [(s.name, sc.run_mode) for s, sc in capabilities.job_settings(npu, both, "pte")] == [("npu-int8", "cli")]


def test_profiles_check_a_setting_against_their_own_platforms_declaration(tmp_path: Path) -> None:
    (tmp_path / "watch").mkdir()
    (tmp_path / "watch" / "platform.yaml").write_text(
        "schema: 1\nplatform: watch\nderived_accelerators: [{kind: npu, options: {precision: fp16}}]\n")
    profile = ("schema: 1\nname: {name}\nplatform: {platform}\ntier: mid\nmodels: [{name}]\nsocs: []\n"
               "accelerators: [{accelerators}]\nthermal: {{max_status: 1, max_battery_temp_c: 40, cooldown_s: 1, "
               "wait_limit_s: 1}}\n")
    (tmp_path / "watch" / "w1.yaml").write_text(profile.format(name="W1", platform="watch",
                                                               accelerators="{kind: npu, options: {precision: int8}}"))
    assert [a.name for a in load_platforms(tmp_path, WITH_WATCH)["watch"].derived_accelerators] == ["npu-fp16"]
    (watch,) = [p for p in load_profiles(tmp_path, WITH_WATCH) if p.platform == "watch"]
    assert [a.name for a in watch.accelerators] == ["npu-int8"]
    # A suite takes the options any platform running the kind reads; a profile only its own platform's.
    (tmp_path / "watch" / "w1.yaml").unlink()
    (tmp_path / "android").mkdir()
    (tmp_path / "android" / "p.yaml").write_text(profile.format(
        name="P", platform="android", accelerators="{kind: gpu, options: {gpu_precision_loss_allowed: true}}"))
    with pytest.raises(SuiteError, match=r"options\.gpu_precision_loss_allowed: not an option of a gpu accelerator "
                                         r"\(allowed: backend, precision_loss_allowed, require_full_delegation\)"):
        load_profiles(tmp_path, WITH_WATCH)


def test_a_platform_yaml_no_longer_lists_accelerator_kinds(tmp_path: Path) -> None:
    (tmp_path / "android").mkdir()
    (tmp_path / "android" / "platform.yaml").write_text(
        "schema: 1\nplatform: android\naccelerator_kinds: [cpu]\nderived_accelerators: [{kind: cpu}]\n")
    with pytest.raises(SuiteError, match="field 'accelerator_kinds' is not a platform description field"):
        load_platforms(tmp_path)


def test_declarations_that_would_take_each_others_choices_are_refused() -> None:
    cli, app = RunMode("cli", description="a command line"), RunMode("app", frozenset(), description="an app")
    twin = Platform(name="twin", accelerators=(AcceleratorKind("cpu"),), run_modes=(cli, app),
                    mode_choice=ModeChoice("twin_mode", (("cli", ("cli",)),), description=""))
    with pytest.raises(ValueError, match="two platforms declare the run mode 'app'"):
        Platforms((ANDROID, twin))
    with pytest.raises(ValueError, match="mode_choice asks for run mode 'daemon'"):
        Platform(name="w", accelerators=(), run_modes=(cli, RunMode("svc", frozenset(), description="a service")),
                 mode_choice=ModeChoice("w_mode", (("d", ("daemon",)),), description=""))
    # The report sets the modes side by side in their own words (benchlab.views.run_modes).
    with pytest.raises(ValueError, match="run mode 'svc' has no description"):
        Platform(name="w", accelerators=(), run_modes=(cli, RunMode("svc", frozenset())),
                 mode_choice=ModeChoice("w_mode", (("cli", ("cli",)),), description=""))


def test_a_mode_choice_may_not_take_a_field_the_scenario_already_has() -> None:
    repeats = Platform(name="r", accelerators=(AcceleratorKind("cpu"),), run_modes=(
        RunMode("cli", description="a command line"), RunMode("svc", frozenset(), description="a service")),
        mode_choice=ModeChoice("repeats", (("cli", ("cli",)), ("svc", ("svc",))), description=""))
    with pytest.raises(ValueError, match="run-mode choice 'repeats' is already a scenario field"):
        suite_model(Platforms((HOST, repeats)))


def test_a_runner_without_a_declaration_is_left_out_with_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    from importlib.metadata import EntryPoint

    import benchlab.platforms as platforms

    # A runner written before declarations: its entry-point module has no PLATFORM.
    old = EntryPoint(name="old", value="json:loads", group=platforms.RUNNER_ENTRY_POINT_GROUP)
    monkeypatch.setattr(platforms, "entry_points", lambda group: [old])
    assert platforms.registered.__wrapped__().declared == (HOST,)
    assert "runner old is not usable: json declares no PLATFORM" in caplog.text


def test_the_report_sets_a_third_platforms_modes_side_by_side_in_its_words() -> None:
    import pandas as pd

    row = {"model": "m", "variant": "fp32", "status": "ok"}
    df = pd.DataFrame([
        {**row, "device_id": "W", "accelerator": "npu-int8", "latency_ms_median": 8.0},
        {**row, "device_id": "W", "accelerator": "npu-int8@service", "latency_ms_median": 6.0},
        {**row, "device_id": "P", "accelerator": "cpu-t4", "latency_ms_median": 10.0},
        {**row, "device_id": "P", "accelerator": "cpu-t4@app", "latency_ms_median": 12.5},
    ])
    assert run_mode_rows(df, *WATCH.run_modes) == [
        {"model": "m", "variant": "fp32", "device": "W", "accelerator": "npu-int8", "cli median ms": "8.000",
         "service median ms": "6.000", "service / cli": "0.75×"}]
    page = run_modes_section(df, lambda rows: f"<table>{len(rows)} rows</table>", WITH_WATCH)
    # One section per platform's other mode, in declaration order, each in its platform's words.
    assert page.index("<h2>Shell vs app</h2>") < page.index("<h2>Cli vs service</h2>")
    assert ("Jobs of watch devices measured both ways in the same rounds: the watch's benchmark command started "
            "over its debug bridge, and the watch's inference service, called (rows named ACCELERATOR@service). "
            "Medians of the repeat medians; above 1× the service mode was slower.") in page
    assert page.count("<table>1 rows</table>") == 2
    assert run_modes_section(df[df["device_id"] == "P"], str, Platforms((HOST, IOS))) == ""  # no other modes


def test_an_unusable_phone_runs_every_format_a_usable_one_does() -> None:
    # What a phone found but unusable declares (its jobs reach run() and record why) and what a
    # usable one runs come from Android's one declaration.
    stub = SimpleNamespace(profile=SimpleNamespace(accelerators=[SimpleNamespace(kind=k) for k in ANDROID.kinds]))
    usable = AndroidDevice.capabilities(stub)  # type: ignore[arg-type]
    assert ANDROID_CAPABILITIES == usable
    assert ANDROID_CAPABILITIES.formats == {"tflite", "litertlm", "pte", "etlm"}
