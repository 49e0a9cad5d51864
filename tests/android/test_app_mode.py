"""App mode (``scenario.android_mode``): timed repeats through LiteRT's benchmark APK as a foreground
Activity, on the loopback phone (real ADB wire protocol; its ``am``/``pm``/``logcat`` stand-ins in
android_runner/loopback/benchmark_apk.py run the real LiteRT stand-in as a background "app").

Planning (two jobs per Android pair with ``both``, unique ids), the APK fetched with the binary and
installed once per phone and hash, a whole ``benchlab run`` with ``both`` and its report, the
recorded logcat of a real phone's APK run read into a measurement, and the one-line error of app
mode with no APK fetched.
"""

from __future__ import annotations

import hashlib
import io
import shlex
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

import android_runner.tools
import benchlab
import benchlab.results.store
from android_runner import apk_runner
from android_runner.device import APP_RUNNER, DELEGATE_FALLBACK, RUNNER, AndroidDevice
from android_runner.platform import ANDROID, APP_MODE
from android_runner.tools import APK_PREBUILTS, PREBUILTS, benchmark_apk
from android_runner.transport import DirectTransport, with_exit_code
from benchlab.cli import main
from benchlab.errors import SuiteError
from benchlab.execute.executor import plan_jobs
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import parse_suite
from benchlab.records import (
    AcceleratorSetting,
    Capabilities,
    DeviceInfo,
    Job,
    LlmScenario,
    Measurement,
    Scenario,
    Variant,
)
from benchlab.tensors import save_feeds
from benchlab.views.run_modes import run_mode_rows
from tests.android.test_tools_fetch import mirror  # noqa: F401 - the loopback download server fixture
from android_runner.loopback import FLAGSHIP, LoopbackAdbDevice
from android_runner.loopback.benchmark_apk import (
    install_benchmark_apk,
    replay_logcat,
    stop_benchmark_apk,
)
from android_runner.loopback.fake_benchmark_model import split_value_file_item
from examples.production_models import SEQUENCE, VOCAB

try:
    from tests.fixtures_path import fixture_text, requires_fixtures
except ImportError:
    from fixtures_path import fixture_text, requires_fixtures  # type: ignore[no-redef]

CPU2 = AcceleratorSetting(name="cpu-t2", kind="cpu", threads=2)
#: A phone's run modes and what its app mode measures, as Android's platform declaration gives them.
RUN_MODES, MODE_FORMATS = ANDROID.capabilities().run_modes, ANDROID.capabilities().mode_formats
assert ANDROID.mode_choice is not None
#: The run modes each value of the suite's scenario.android_mode asks for.
ANDROID_RUN_MODES = dict(ANDROID.mode_choice.values)
RUNNER_PLACEHOLDER = b"\x7fELF placeholder: the loopback phone runs its benchmark_model stand-in\n"


def apk_bytes() -> bytes:
    """A zip with an AndroidManifest.xml: what pm's parser looks for first (the loopback's pm checks it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00 placeholder binary manifest")
        archive.writestr("classes.dex", b"dex\n035\x00")
    return buffer.getvalue()


# --- planning -------------------------------------------------------------------------------------


def test_both_plans_a_shell_and_an_app_job_per_android_pair_with_unique_ids() -> None:
    variant = Variant(model="m", name="fp32", recipe="tflite", format="tflite", status="built", path="/m.tflite")
    tflite = {"kinds": frozenset({"cpu"}), "formats": frozenset({"tflite"})}
    phone = SimpleNamespace(info=DeviceInfo(id="SERIAL", platform="android"),
                            capabilities=lambda: Capabilities(**tflite, run_modes=RUN_MODES, mode_formats=MODE_FORMATS))
    host = SimpleNamespace(info=DeviceInfo(id="host", platform="host"), capabilities=lambda: Capabilities(**tflite))
    devices: list = [phone, host]  # plan_jobs reads only a device's info and capabilities
    jobs = plan_jobs("run", "s", [variant], devices, [CPU2], Scenario(run_modes=RUN_MODES), {})
    on_phone = {j.accelerator.name: j for j in jobs if j.device_id == "SERIAL"}
    assert set(on_phone) == {"cpu-t2", "cpu-t2@app"}
    assert on_phone["cpu-t2"].scenario.run_mode == "shell"
    assert on_phone["cpu-t2@app"].scenario.run_mode == APP_MODE
    assert on_phone["cpu-t2@app"].accelerator.threads == 2  # the same setting, only named apart
    (on_host,) = [j for j in jobs if j.device_id == "host"]  # the host has no app mode
    assert on_host.accelerator == CPU2
    assert len({j.job_id for j in jobs}) == 3
    app_only = plan_jobs("run", "s", [variant], devices[:1], [CPU2], Scenario(run_modes=(APP_MODE,)), {})
    assert [(j.accelerator.name, j.scenario.run_mode) for j in app_only] == [("cpu-t2@app", "app")]


@pytest.mark.parametrize("mode", ["app", "both"])
def test_a_pte_or_language_model_runs_from_adb_shell_under_its_plain_name_in_app_mode(mode: str) -> None:
    # The benchmark APK runs .tflite only; executor_runner and litert_lm_main run from adb shell, so no
    # row of theirs may be named ...@app (it was: the setting was renamed whatever the format).
    stub = SimpleNamespace(profile=SimpleNamespace(accelerators=()))  # what capabilities() reads
    phone = SimpleNamespace(info=DeviceInfo(id="SERIAL", platform="android"),
                            capabilities=lambda: AndroidDevice.capabilities(stub))  # type: ignore[arg-type]
    variants = [Variant(model="m", name=name, recipe=name, format=fmt, status="built", path=f"/m.{fmt}")
                for name, fmt in (("tflite", "tflite"), ("executorch", "pte"), ("litertlm", "litertlm"))]
    llm = LlmScenario(prefill=(8,), decode=(4,))
    jobs = plan_jobs("run", "s", variants, [phone], [CPU2], Scenario(run_modes=ANDROID_RUN_MODES[mode], llm=llm), {})
    planned = {(j.variant.format, j.accelerator.name, j.scenario.run_mode) for j in jobs}
    tflite = {("tflite", "cpu-t2@app", "app")} | ({("tflite", "cpu-t2", "shell")} if mode == "both" else set())
    assert planned == tflite | {("pte", "cpu-t2", "shell"), ("litertlm", "cpu-t2@pp8-tg4", "shell")}


def test_android_mode_defaults_to_shell_and_names_its_allowed_values(tmp_path: Path) -> None:
    suite = {"name": "s", "models": [{"name": "m", "builtin": "quickstart-mnist"}], "dataset": {"builtin": "mnist"},
             "variants": ["fp32"]}
    assert parse_suite(suite, tmp_path / "s.yaml", RECIPES).scenario.scenario().run_modes == ("shell",)
    both = parse_suite({**suite, "scenario": {"android_mode": "both"}}, tmp_path / "s.yaml", RECIPES)
    assert both.scenario.scenario().run_modes == RUN_MODES  # the names the runner's capabilities declare
    with pytest.raises(SuiteError, match=r"s\.yaml: scenario\.android_mode: Input should be 'shell', 'app' or 'both'"):
        parse_suite({**suite, "scenario": {"android_mode": "apk"}}, tmp_path / "s.yaml", RECIPES)
    # The app's rows are named ACCELERATOR@app: a setting of the suite may not take such a name.
    with pytest.raises(SuiteError, match=r"s\.yaml: accelerators: \[1\]\.name 'cpu@app' ends with '@app', which names"):
        parse_suite({**suite, "accelerators": [{"name": "cpu"}, {"name": "cpu@app"}]}, tmp_path / "s.yaml", RECIPES)


# --- parsing what pm prints -------------------------------------------------------------------------


def test_pm_output_is_read_for_the_installed_path_and_the_refusal() -> None:
    assert apk_runner.installed_apk("package:/data/app/~~aB==/org.tensorflow.lite.benchmark-Xy==/base.apk\n") == (
        "/data/app/~~aB==/org.tensorflow.lite.benchmark-Xy==/base.apk")
    assert apk_runner.installed_apk("") is None
    assert apk_runner.install_failure("Performing Streamed Install\nSuccess\n", 0) is None
    refusal = ("Failure [INSTALL_FAILED_UPDATE_INCOMPATIBLE: Package org.tensorflow.lite.benchmark signatures "
               "do not match previously installed version; ignoring!]")
    assert apk_runner.install_failure(f"{refusal}\n", 1) == refusal[:200]
    assert apk_runner.install_failure("", 1) == "exit code 1"


# --- a phone and its tools --------------------------------------------------------------------------


@pytest.fixture()
def tools(mirror: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """`benchlab tools fetch android` from a loopback mirror into a private tools folder; return the
    fetched arm64 APK."""
    url, folder = mirror
    for abi in PREBUILTS:
        (folder / PREBUILTS[abi]).write_bytes(RUNNER_PLACEHOLDER)
        (folder / APK_PREBUILTS[abi]).write_bytes(apk_bytes())
    monkeypatch.setattr(android_runner.tools, "tools_dir", lambda: tmp_path / "tools")
    monkeypatch.setenv("BENCHLAB_TOOLS_BASE_URL", url)
    for env in ("BENCHLAB_ANDROID_BENCHMARK_MODEL", "BENCHLAB_ANDROID_BENCHMARK_APK"):
        monkeypatch.delenv(env, raising=False)
    assert main(["tools", "fetch", "android"]) == 0
    return benchmark_apk("arm64-v8a")


@pytest.fixture()
def phone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackAdbDevice]:
    """A loopback flagship with am / pm / logcat, and no benchmark APK installed yet."""
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(tmp_path / "no-sdk-key"))
    monkeypatch.setenv("BENCHLAB_ADB_SERVER", "0")
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_new_keys=True) as device:
        install_benchmark_apk(device, installed=False)
        try:
            yield device
        finally:
            stop_benchmark_apk(device)


def write_suite(tmp_path: Path, keras_model: Path, digits: Path, serial: str, mode: str) -> Path:
    suite = {
        "name": "app-vs-shell",
        "models": [{"name": "tiny", "path": str(keras_model)}],
        "dataset": {"npz": str(digits), "limit": 8},
        "variants": ["fp32"],
        "targets": [f"android:{serial}"],
        "accelerators": [{"kind": "cpu", "threads": 2}],
        "scenario": {"warmup": 1, "iterations": 5, "min_seconds": 0, "repeats": 2, "android_mode": mode},
    }
    path = tmp_path / f"{mode}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def issued(phone: LoopbackAdbDevice, prefix: str) -> list[str]:
    return [c for c in phone.commands if c.startswith(prefix)]


# --- whole runs ---------------------------------------------------------------------------------------


def test_both_modes_are_stored_apart_and_reported_side_by_side(tmp_path: Path, phone: LoopbackAdbDevice, tools: Path,
                                                               tiny_keras_path: Path, digits_npz: Path) -> None:
    suite = write_suite(tmp_path, tiny_keras_path, digits_npz, phone.serial, "both")
    results = tmp_path / "results"
    assert main(["run", str(suite), "--results", str(results)]) == 0
    (run_dir,) = results.iterdir()
    df = benchlab.load_results(run_dir).set_index("accelerator")
    assert sorted(df.index) == ["cpu-t2", "cpu-t2@app"] and df["job_id"].is_unique
    assert set(df["status"]) == {"ok"}
    shell, app = df.loc["cpu-t2"], df.loc["cpu-t2@app"]
    assert (shell["runner"], app["runner"]) == (RUNNER, APP_RUNNER)
    assert app["runner_version"] == hashlib.sha256(tools.read_bytes()).hexdigest()
    assert shell["latency_count"] == app["latency_count"] == 2  # both repeats of each, one process each
    assert shell["latency_ms_median"] > 0 and app["latency_ms_median"] > 0
    # Accuracy of both rows comes from the shell binary's evaluation of the same model and setting.
    assert app["accuracy"] == shell["accuracy"] and app["accuracy"] == app["accuracy"]

    # The app ran each timed repeat (and nothing else) as an Activity, unpinned; the APK went in once.
    starts = issued(phone, "am start")
    assert len(starts) == 2 and all("--graph=/data/local/tmp/benchlab/" in c and "taskset" not in c for c in starts)
    assert not any("enable_op_profiling" in c or "output_filepath" in c for c in starts)
    # Each timed run in the app fed the first evaluation sample, as the shell binary's did.
    shell_runs = [c for c in phone.commands if "--report_peak_memory_footprint=true" in c and "am start" not in c]
    assert len(shell_runs) == 2
    assert all("--input_layer_value_files=" in c and "--input_layer_shape=1,28,28,1" in c
               for c in [*starts, *shell_runs])
    assert len([c for c in phone.commands if "--enable_op_profiling=true" in c]) == 2  # one pass per job, shell
    assert issued(phone, "pm install") == [with_exit_code(apk_runner.install_command(
        "/data/local/tmp/benchlab/benchmark_model.apk"))]
    record = benchlab.results.store.RunStore(run_dir).repeat_records()
    app_outputs = [r.runner_output for r in record if r.accelerator.name == "cpu-t2@app"]
    assert all(o and "Running TensorFlow Lite benchmark with args: --graph=" in o for o in app_outputs)

    (row,) = run_mode_rows(benchlab.load_results(run_dir), *ANDROID.run_modes)
    assert row["accelerator"] == "cpu-t2" and row["device"] == phone.serial
    assert row["app / shell"] == f"{app['latency_ms_median'] / shell['latency_ms_median']:.2f}×"
    page = (run_dir / "report.html").read_text()
    assert "<h2>Shell vs app</h2>" in page
    # Its note says what each mode is, in Android's declared words.
    assert ("android devices measured both ways in the same rounds: benchmark_model started from adb shell, and "
            "LiteRT's benchmark APK as a foreground app (rows named ACCELERATOR@app)") in page
    assert f"<td>{shell['latency_ms_median']:.3f}</td><td>{app['latency_ms_median']:.3f}</td>" in page

    # A second run finds the same APK installed (by the hash of its base.apk) and installs nothing.
    assert main(["run", str(suite), "--results", str(results)]) == 0
    assert len(issued(phone, "pm install")) == 1


def test_app_mode_without_a_fetched_apk_fails_saying_to_fetch_it(tmp_path: Path, phone: LoopbackAdbDevice,
                                                                 tiny_keras_path: Path, digits_npz: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(android_runner.tools, "tools_dir", lambda: tmp_path / "nothing-fetched")
    monkeypatch.delenv("BENCHLAB_ANDROID_BENCHMARK_APK", raising=False)
    runner = tmp_path / "benchmark_model"
    runner.write_bytes(RUNNER_PLACEHOLDER)
    monkeypatch.setenv("BENCHLAB_ANDROID_BENCHMARK_MODEL", str(runner))  # the binary is there, the APK is not
    suite = write_suite(tmp_path, tiny_keras_path, digits_npz, phone.serial, "app")
    assert main(["run", str(suite), "--results", str(tmp_path / "results")]) == 3  # nothing measured
    (row,) = benchlab.load_results(next((tmp_path / "results").iterdir())).to_dict("records")
    expected = ("no benchmark_model.apk for arm64-v8a: run `benchlab tools fetch android` "
                "or set BENCHLAB_ANDROID_BENCHMARK_APK")
    assert row["status"] == "failed" and row["error"] == expected and row["accelerator"] == "cpu-t2@app"
    assert row["failure_cause"] == "harness"  # `--resume` runs it once the APK is fetched
    # The results table's note names the job, with the reason as its one line.
    # (Wrapped at the terminal's width like the rest of the table's notes: compared unwrapped.)
    out = " ".join(capsys.readouterr().out.split())
    assert out.count("failed: ") == 1 and f"failed: {expected} — fp32@{phone.serial}·cpu-t2@app" in out
    assert not issued(phone, "am start") and not issued(phone, "pm install")


# --- a real phone's APK log, read into a measurement ------------------------------------------------


def run_app_job(phone: LoopbackAdbDevice, model: Path, accelerator: AcceleratorSetting,
                eval_inputs: Path | None = None, **scenario: float) -> Measurement:
    """Run one app-mode job on the phone through AndroidDevice (no evaluation, no op profile); a
    repeat after the first, which times the first sample of `eval_inputs` when given."""
    variant = Variant(model="tiny", name="fp32", recipe="tflite", format="tflite", status="built", path=str(model))
    settings = {"warmup": 1, "iterations": 5, "repeats": 1, "timeout_seconds": 60, **scenario}
    job = Job(job_id=f"tiny.fp32.phone.{accelerator.name}", run_id="run", suite="s", variant=variant,
              device_id=phone.serial, accelerator=accelerator,
              scenario=Scenario(**settings, op_profile_runs=0, run_mode=APP_MODE),  # type: ignore[arg-type]
              eval_inputs_path=str(eval_inputs) if eval_inputs else None, repeat=1)
    device = AndroidDevice(DirectTransport(phone.serial, connect_timeout_s=5), "tcp")
    try:
        device.prepare([model])
        return device.run(job)
    finally:
        device.close()


@requires_fixtures
def test_a_recorded_apk_run_becomes_the_measurement(phone: LoopbackAdbDevice, tools: Path,
                                                    tiny_tflite_path: Path) -> None:
    """The loopback app logs what a real phone's APK logged (tensorflow#56301: NNAPI partially
    applied); the device reads it from logcat into the record as it reads the shell binary's text."""
    replay_logcat(phone, fixture_text("benchmark_model/apk_logcat_tf56301_nnapi_partial.txt"))
    m = run_app_job(phone, tiny_tflite_path, AcceleratorSetting(name="nnapi@app", kind="nnapi"))
    assert m.status == "ok" and m.runner == APP_RUNNER, m.error
    assert (m.init_us, m.first_us, m.warmup_us) == (126059, 32942, (12581.9,))
    (stats,) = m.runner_stats
    assert (stats["count"], stats["avg_us"], stats["std_us"]) == (75, 12167.6, 325)
    assert m.delegate_applied == "partial" and DELEGATE_FALLBACK in m.flags
    assert m.runner_output is not None and "w/ 44 delegate kernels" in m.runner_output


def test_a_crashing_app_and_a_hung_app_are_failed_rows(phone: LoopbackAdbDevice, tools: Path,
                                                       tiny_tflite_path: Path) -> None:
    phone.faults.crash_benchmark = True
    crashed = run_app_job(phone, tiny_tflite_path, CPU2, repeats=2)
    assert crashed.status == "failed" and crashed.failure_cause is None  # as a crashing binary: the model's
    assert crashed.error is not None and crashed.error.startswith("benchmark APK crashed: Fatal signal 11 (SIGSEGV)")
    assert len(issued(phone, "am start")) == 1  # the second repeat is not started
    phone.faults.crash_benchmark = False
    # The tool measures for at least 60 s; the job allows 1 s.
    hung = run_app_job(phone, tiny_tflite_path, CPU2, min_seconds=60, max_seconds=150, timeout_seconds=1)
    assert (hung.status, hung.failure_cause) == ("failed", "device")  # a hang, as the shell binary's; retried
    assert hung.error == "benchmark APK did not finish within 1 s (app force-stopped)"
    assert with_exit_code(apk_runner.FORCE_STOP) in phone.commands
    assert not (phone.support_dir / "benchmark_apk" / "app.pid").exists()  # the hung app was stopped


def test_shell_vs_app_pairs_only_jobs_that_measured_both_ways() -> None:
    import pandas as pd

    row = {"model": "m", "variant": "fp32", "device_id": "S", "status": "ok"}
    df = pd.DataFrame([
        {**row, "accelerator": "cpu-t4", "latency_ms_median": 10.0},
        {**row, "accelerator": "cpu-t4@app", "latency_ms_median": 12.5},
        {**row, "accelerator": "gpu", "latency_ms_median": 4.0},  # its app twin failed
        {**row, "accelerator": "gpu@app", "status": "failed", "latency_ms_median": None},
        {**row, "variant": "int8", "accelerator": "cpu-t4", "latency_ms_median": 6.0},  # shell only
    ])
    assert run_mode_rows(df, *ANDROID.run_modes) == [
        {"model": "m", "variant": "fp32", "device": "S", "accelerator": "cpu-t4", "shell median ms": "10.000",
         "app median ms": "12.500", "app / shell": "1.25×"}]
    assert run_mode_rows(df[df["accelerator"] != "cpu-t4@app"], *ANDROID.run_modes) == []


def test_the_app_times_the_first_sample_of_every_input_with_the_binarys_flags(
        phone: LoopbackAdbDevice, tools: Path, token_tflite_path: Path, tmp_path: Path) -> None:
    """Token ids of a 50-word vocabulary: the tool's own random ids (0..99) would fail in the app as
    in the shell ("gather index out of bounds"); the app is given sample 0, named and shaped."""
    ids = np.random.default_rng(9).integers(0, VOCAB, (4, SEQUENCE)).astype(np.int32)
    inputs = tmp_path / "tokens.npz"
    save_feeds(inputs, {"ids": ids})
    m = run_app_job(phone, token_tflite_path, CPU2, eval_inputs=inputs, repeats=2)
    assert m.status == "ok" and m.runner == APP_RUNNER, m.error
    assert len(m.runner_stats) == 2 and all(s["count"] >= 5 for s in m.runner_stats)
    starts = issued(phone, "am start")
    assert len(starts) == 2
    for start in starts:
        (args,) = [a for a in shlex.split(start) if a.startswith("--graph=")]  # the args extra, one word
        flags = dict(flag.split("=", 1) for flag in args.split())
        assert flags["--input_layer"] == "serving_default_ids:0"
        assert flags["--input_layer_shape"] == f"1,{SEQUENCE}"
        name, path = split_value_file_item(flags["--input_layer_value_files"])
        assert name == "serving_default_ids:0" and phone.host_path(path).read_bytes() == ids[:1].tobytes()
    # The app logged the args it was given, and ran on them.
    assert "--input_layer_value_files=serving_default_ids::0:/data/local/tmp/benchlab/sample-" in m.runner_output
