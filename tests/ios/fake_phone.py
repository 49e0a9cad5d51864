"""A fake iPhone for tests: ``FakeServices`` (a ``PhoneServices``) over in-memory phones whose runner app
follows the folder contract of ``ios_runner.protocol`` exactly as the Swift app does.

Each ``FakePhone`` keeps the app's Documents folder in a real folder (on ``tmp_path``) and has a
``FakeRunnerApp``: a thread that, while the app is "open" (launched through developer services,
or opened by hand in inbox mode), polls ``inbox/`` like ``JobRunner.swift``, moves a job to
``running/``, runs it, writes the result through ``.part`` + rename in the app's JSON encoding,
moves the job to ``done/``, and rewrites ``runner_status.json`` as its heartbeat.

What runs, and what does not (this machine is Linux, without Core ML):

* ``.tflite`` jobs run for real with ``ai_edge_litert`` (threads honoured; the Metal delegate is
  stood in for by the CPU unless ``metal_available`` is False, which gives the app's own
  ``unsupported`` answer; the Core ML delegate answers ``unsupported`` on a phone without a
  Neural Engine, as the app does).
* ``.mlpackage`` jobs are "compiled" by loading the package's spec with coremltools (a broken
  package fails to compile, as on a phone), and their predictions are computed by the fp32
  ``.tflite`` of the same model given as ``coreml_reference``, after checking that its input
  shape is the package's. Core ML's numbers are therefore fp32 LiteRT's, and its latencies are
  LiteRT's on this CPU. Without a reference, the fake answers ``failed``.
* Latencies are measured wall times of that computation (``perf_counter_ns``), never constants;
  memory is this process's resident set (the app reports its own footprint).
* Inputs are taken as the app takes them (see "Tensor files" in ``ios_runner/protocol.py``):
  LiteRT copies a file of the tensor's own type in as it is, quantizes a float32 file for an
  int8/uint8 tensor (``benchlab.tensors.to_tensor``), refuses any other pair, and resizes an
  input whose shape differs (a dynamic dimension); Core ML takes float32 and int32 files and
  converts them to the model's types. Without input files, float inputs get pseudo-random values
  in [0, 1) (quantized for a quantized input) and integer inputs zeros.
* Outputs are named as the model names them: LiteRT's in the model's order and in each tensor's
  own type (quantized ones as their integer values, as protocol version 2 says), Core ML's as
  float32 sorted by name as the app writes them (the stand-in pairs the package's declared
  outputs with the reference's outputs in declared order first). Scalar outputs have shape ``[]``.
* The job's ``format`` / ``compute_units`` / ``delegate`` are checked before anything is echoed,
  with the app's message. LiteRT results name the delegate created (``xnnpack`` for ``cpu``) but
  carry no node counts of their own: ai_edge_litert does not expose the execution plan the app
  reads. Like the thermal state and the battery, what the Core ML delegate takes is the phone's
  to say: ``coreml_delegate_nodes`` (delegated, total) is reported for ``coreml`` jobs.
* Core ML's compute plan (``op_placement``, iOS 17.4 and later, as CoreMLEngine.swift reads
  ``MLComputePlan``) lists the package's real ML program operations, constants left out, named
  as the plan names them (``ios17.cast``). Where each would run is the phone's to say: an
  operator type in ``coreml_cpu_ops`` stays on the CPU, the others go where the compute units
  point (the Neural Engine when the phone has one and the units allow it, else the GPU, else the
  CPU). Before iOS 17.4 the result carries the app's note instead.

Faults: ``paired`` (trust-pending, locked, denied), ``developer_mode`` False, the app not
installed, an .ipa not signed for the phone, no developer services (``can_launch`` False: inbox
mode), a launch the phone refuses (``launch_refused``: pymobiledevice3's DTXNsError, as mapped), ``die_on_next_job`` (iOS ends the app mid-job: no result, the heartbeat stops, and the phone's clock moves on
``APP_GONE_S``, so the host finds the heartbeat stale at once),
``hang_next_job`` (a job the app works on until it is stopped, alive all along, while its phone's clock
runs on: a job that never finishes, by the clock the host times it by in its test), a phone that
stops answering over USB (``disconnected``), and ``status_gap_reads``: the next N reads of
``runner_status.json`` land in the gap an app before the fix left while rewriting it (the file
deleted, the new one not yet renamed into place).

Xcode's energy gauge (``energy_impact``): while a job runs, the phone answers the gauge's questions
with ``energy_replies``, by default the recorded answers of real phones (tests/ios/public: each
process's values as printed, under the app's pid as pymobiledevice3's ``EnergyMonitor`` yields
them); with ``can_launch`` False developer services are missing and the gauge cannot be read.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pymobiledevice3.dtx import DTXNsError
from pymobiledevice3.dtx.ns_types import NSError

from benchlab.tensors import TensorInfo, describe_interpreter, from_tensor, to_tensor
from ios_runner.discovery import ipa_app
from ios_runner.product_types import lookup
from ios_runner.protocol import (
    COMPUTE_UNITS,
    DONE,
    FORMATS,
    INBOX,
    OUTBOX,
    PARTIAL_SUFFIX,
    RUNNING,
    SCHEMA_VERSION,
    STATUS_FILE,
    TFLITE_DELEGATES,
    RunnerJob,
    RunnerResult,
    RunnerStatus,
    TensorFile,
    read_tensor_file,
)
from ios_runner.services import (
    AppInstallFailed,
    BatteryReading,
    ContainerError,
    EnergyImpactUnavailable,
    ImpactRecording,
    InstalledApp,
    LaunchUnavailable,
    PairingState,
    PhoneDisconnected,
    PhoneListing,
    PhoneNotFound,
    PhoneNotPaired,
    phone_error,
)
from tests.ios.test_protocol import swift_json

#: Recorded real outputs for the iPhone side (tests/ios/public/README.md).
PUBLIC = Path(__file__).with_name("public")


def output_filename(job_id: str, index: int) -> str:
    """The name the app gives output `index` of a job in outbox/ (OutputWriter in TensorIO.swift)."""
    return f"{job_id}.out{index}.f32"


def _rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


#: How far a fake phone's clock moves on once iOS has ended the app: far past any staleness limit.
APP_GONE_S = 3600.0


class FakeClock:
    """The clock a fake phone dates its app's heartbeat by, and the host ages it by (tests put it in
    ``ios_runner.jobs.WALL_CLOCK``; a test of a timeout in ``ELAPSED_CLOCK`` too, which the host times its
    wait by). It stands still until advanced: a live fake app's heartbeat is
    never old, however long this machine leaves the app's thread waiting, and a stopped app's heartbeat
    is old only because the phone says time passed (``die_on_next_job``), never by the machine's load."""

    def __init__(self) -> None:
        self._now = float(int(time.time()))  # a whole second, as the app writes its dates

    def __call__(self) -> float:
        """Seconds since the epoch on this clock."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self._now += seconds


def _now() -> datetime:
    """The app's dates are whole seconds (JSONEncoder's .iso8601)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


class _JobFailure(Exception):
    """The app's JobFailure: a status ("failed" | "unsupported") and a one-line message."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class FakeRunnerApp:
    """The runner app's job loop (JobRunner.swift, JobExecutor.swift) on a thread."""

    def __init__(self, phone: FakePhone, poll_s: float = 0.05, heartbeat_s: float = 0.5) -> None:
        self.phone = phone
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self.jobs_done = 0
        self.launches = 0
        #: Every job the app was given and could read, in order (what a test inspects of the host's jobs).
        self.jobs_seen: list[RunnerJob] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._busy_job: str | None = None

    @property
    def documents(self) -> Path:
        return self.phone.documents

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Open the app (launch, or a person tapping its icon): interrupted jobs first, then the loop."""
        self.stop()
        self.launches += 1
        self._stop = threading.Event()
        for folder in (INBOX, RUNNING, OUTBOX, DONE, "models", "inputs"):
            (self.documents / folder).mkdir(parents=True, exist_ok=True)
        for interrupted in sorted((self.documents / RUNNING).glob("*.json")):
            self._record_interrupted(interrupted)
        self._write_status()
        self._thread = threading.Thread(target=self._loop, name=f"fake-app-{self.phone.udid}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """iOS ends the app (or it goes to the background): no more polling, no more heartbeat."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        self._thread = None

    def _loop(self) -> None:
        last_status = time.monotonic()
        while not self._stop.is_set():
            jobs = sorted(p for p in (self.documents / INBOX).glob("*.json"))
            if jobs:
                self._start_job(jobs[0])
                last_status = time.monotonic()
            elif time.monotonic() - last_status >= self.heartbeat_s:
                self._write_status()
                last_status = time.monotonic()
            self._stop.wait(self.poll_s)

    def _start_job(self, inbox_file: Path) -> None:
        running = self.documents / RUNNING / inbox_file.name
        try:
            inbox_file.replace(running)
        except OSError:
            return  # the host may still be renaming it into place
        self._busy_job = running.stem
        self._write_status()
        if self.phone.die_on_next_job:
            self.phone.die_on_next_job = False
            self._stop.set()  # iOS ended the app: the job stays in running/, no result, no heartbeat
            self.phone.clock.advance(APP_GONE_S)
            return
        if self.phone.hang_next_job:
            self.phone.hang_next_job = False
            self._hang()
            return  # stopped mid-job: the job stays in running/, as iOS leaves it
        stop_heartbeat = threading.Event()
        beat = threading.Thread(target=self._beat_while_busy, args=(stop_heartbeat,), daemon=True)
        beat.start()
        try:
            result = self._execute(running)
        finally:
            stop_heartbeat.set()
            beat.join()
        self._finish(result, running)
        self._busy_job = None
        self.jobs_done += 1
        self._write_status()

    def _hang(self) -> None:
        """Work on the job without end until the app is stopped, as a live app: the phone's clock runs on a
        second at a time with a heartbeat at each (the app's own is every 5 s), so the host sees time pass
        and the heartbeat never older than a second, whichever of the two threads this machine runs late."""
        while not self._stop.is_set():
            self.phone.clock.advance(1.0)
            self._write_status()
            self._stop.wait(self.poll_s)

    def _beat_while_busy(self, stop: threading.Event) -> None:
        """The Swift app's timer runs on the main thread while jobs run on a queue."""
        while not stop.wait(self.heartbeat_s):
            if self._stop.is_set():
                return
            self._write_status()

    # --- files, as Folders in JobExecutor.swift ---------------------------------------------------

    def _write_atomically(self, data: bytes, target: Path) -> None:
        partial = target.with_name(target.name + PARTIAL_SUFFIX)
        partial.write_bytes(data)
        partial.replace(target)

    def _write_status(self) -> None:
        status = RunnerStatus(
            schema_version=SCHEMA_VERSION, app_version=self.phone.app_version, device_model=self.phone.product_type,
            os_version=self.phone.product_version, os_build=self.phone.build_version,
            state="running" if self._busy_job else "idle", current_job=self._busy_job,
            jobs_done=self.jobs_done, thermal_state=self.phone.thermal_state,
            low_power_mode=self.phone.low_power_mode,
            updated_at=datetime.fromtimestamp(int(self.phone.clock()), timezone.utc) + self.phone.clock_skew,
        )
        self._write_atomically(self._encode(status).encode(), self.documents / STATUS_FILE)

    @staticmethod
    def _encode(model: RunnerResult | RunnerStatus) -> str:
        """JSONEncoder [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes], nil fields left out."""
        data = model.model_dump(mode="json", exclude_none=True)
        for key in ("started_at", "finished_at", "updated_at"):
            if key in data:
                data[key] = data[key].replace("+00:00", "Z")
        return swift_json(data)

    def _finish(self, result: dict[str, Any], running: Path) -> None:
        result["thermal_state_after"] = self.phone.thermal_state
        result["low_power_mode_after"] = self.phone.low_power_mode
        result["finished_at"] = max(_now(), result["started_at"])
        if result.get("error"):
            result["error"] = " ".join(str(result["error"]).split())[:2000]
        model = RunnerResult(**result)
        self._write_atomically(self._encode(model).encode(), self.documents / OUTBOX / f"{model.job_id}.json")
        shutil.move(str(running), str(self.documents / DONE / running.name))

    def _record_interrupted(self, running: Path) -> None:
        if (self.documents / OUTBOX / running.name).exists():  # the app stopped after writing the result
            shutil.move(str(running), str(self.documents / DONE / running.name))
            return
        result = self._new_result(running.stem)
        result.update(status="failed", error=(
            "the runner app stopped while this job ran (it crashed or iOS ended it, often for using too much "
            "memory); look for a JetsamEvent or crash report in the phone's analytics data"))
        self._finish(result, running)

    def _new_result(self, job_id: str) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "job_id": job_id, "app_version": self.phone.app_version,
                "os_version": self.phone.product_version, "os_build": self.phone.build_version,
                "device_model": self.phone.product_type, "thermal_state_before": self.phone.thermal_state,
                "thermal_state_after": self.phone.thermal_state, "low_power_mode_before": self.phone.low_power_mode,
                "started_at": _now(), "finished_at": _now()}

    # --- running a job -----------------------------------------------------------------------------

    def _compute_plan(self, operations: list[str], compute_units: str | None) -> dict[str, Any]:
        """CoreMLEngine.computePlan(): where Core ML plans each operation, or why there is no plan."""
        major, minor = (int(part) for part in (self.phone.product_version.split(".") + ["0"])[:2])
        if (major, minor) < (17, 4):
            return {"op_placement_note": "not available: MLComputePlan needs iOS 17.4 or later"}
        allowed = {"cpuOnly": ["cpu"], "cpuAndGPU": ["cpu", "gpu"], "all": ["cpu", "gpu", "neuralEngine"],
                   "cpuAndNeuralEngine": ["cpu", "neuralEngine"]}[compute_units or "all"]
        if not self.phone.neural_engine:
            allowed = [device for device in allowed if device != "neuralEngine"]
        placement = []
        for op in operations:
            supported = ["cpu"] if op.split(".", 1)[1] in self.phone.coreml_cpu_ops else allowed
            # Listed from the most general to the most specialised: the last is the one Core ML prefers.
            placement.append({"op": op, "device": supported[-1], "supported": supported})
        return {"op_placement": placement}

    def _execute(self, running: Path) -> dict[str, Any]:
        result = self._new_result(running.stem)
        try:
            _check_settings(json.loads(running.read_text()))
            job = RunnerJob.model_validate_json(running.read_text())
            self.jobs_seen.append(job)
        except _JobFailure as failure:
            result.update(status=failure.status, error=str(failure))
            return result
        except ValueError as exc:
            result.update(status="failed", error=f"the job file breaks its schema_version: {exc}")
            return result
        result.update(format=job.format, compute_units=job.compute_units, delegate=job.delegate,
                      threads=job.threads)
        try:
            self._measure(job, result)
            result["status"] = "ok"
        except _JobFailure as failure:
            result.update(status=failure.status, error=str(failure))
        return result

    def _measure(self, job: RunnerJob, result: dict[str, Any]) -> None:
        model = self.documents / job.model
        if not model.exists():
            raise _JobFailure("failed", f"model {job.model} is not on the phone")
        inputs = [read_tensor_file(self.documents / t.file, t) for t in job.inputs]
        result["memory_before_bytes"] = _rss_bytes()
        if job.format == "mlpackage":
            engine = _CoreMLStandIn(model, self.phone.coreml_reference)
        else:
            engine = _LiteRTEngine(model, job, self.phone)
        result.update(compile_us=engine.compile_us, load_us=engine.load_us, runtime_version=engine.runtime_version,
                      litert_delegate=engine.litert_delegate, memory_after_load_bytes=_rss_bytes())
        if engine.node_counts is not None:
            result.update(delegated_nodes=engine.node_counts[0], total_nodes=engine.node_counts[1])
        if isinstance(engine, _CoreMLStandIn):
            result.update(self._compute_plan(engine.operations, job.compute_units))
        if inputs:
            inputs = _match_names(job.inputs, inputs, engine.input_names)
        sample0 = [array[0] for array in inputs] if inputs else None
        engine.set_inputs(sample0)
        result["first_prediction_us"] = engine.timed_predict()
        result["warmup_us"] = [engine.timed_predict() for _ in range(job.warmup)]
        result["iterations_us"] = [engine.timed_predict() for _ in range(job.iterations)]
        result["memory_after_bytes"] = _rss_bytes()
        if not inputs:
            return
        collected: list[list[np.ndarray]] = []
        names: list[str] = []
        for sample in range(job.inputs[0].samples):
            engine.set_inputs([array[sample] for array in inputs])
            engine.predict()
            outputs = engine.outputs()
            names = [name for name, _ in outputs]
            if not collected:
                collected = [[] for _ in outputs]
            for index, (_, values) in enumerate(outputs):
                collected[index].append(values)
        files = []
        for index, (name, values) in enumerate(zip(names, collected)):
            file_name = output_filename(job.job_id, index)
            stacked = np.stack(values)
            (self.documents / OUTBOX / file_name).write_bytes(stacked.astype(stacked.dtype.newbyteorder("<")).tobytes())
            files.append(TensorFile(name=name, file=file_name, shape=tuple(values[0].shape), samples=len(values),
                                    dtype=stacked.dtype.name))
        result["outputs"] = files


def _match_names(tensors: tuple[TensorFile, ...], arrays: list[np.ndarray], model_names: list[str]) -> list[np.ndarray]:
    """JobExecutor.swift's matchNames: one input each may differ in name; otherwise names must match.

    Returns the arrays in the model's input order.
    """
    if len(tensors) == 1 and len(model_names) == 1:
        return arrays
    given = [tensor.name for tensor in tensors]
    if sorted(given) != sorted(model_names):
        raise _JobFailure("failed", f"job inputs {given} do not match the model inputs {model_names}")
    return [arrays[given.index(name)] for name in model_names]


def _check_settings(job: dict[str, Any]) -> None:
    """JobExecutor.swift's validateSettings: each setting checked before it is echoed into the result."""
    for key, allowed in (("format", FORMATS), ("compute_units", COMPUTE_UNITS), ("delegate", TFLITE_DELEGATES)):
        value = job.get(key)
        if value is not None and value not in allowed:
            raise _JobFailure("failed", f"{key} {value} is not one of {', '.join(allowed)}")


def _micros(started_ns: int) -> float:
    return round((time.perf_counter_ns() - started_ns) / 1000.0, 3)


class _LiteRTEngine:
    """LiteRTEngine.swift on this CPU with ai_edge_litert."""

    compile_us = None

    def __init__(self, model: Path, job: RunnerJob, phone: FakePhone) -> None:
        from ai_edge_litert.interpreter import Interpreter

        if job.delegate == "coreml" and not phone.neural_engine:
            raise _JobFailure("unsupported", "the LiteRT Core ML delegate needs a Neural Engine (A12 or later); "
                                             "this phone has none")
        if job.delegate == "metal" and not phone.metal_available:
            raise _JobFailure("unsupported", "the LiteRT Metal delegate could not be created on this phone")
        started = time.perf_counter_ns()
        try:
            self.interpreter = Interpreter(model_path=str(model), num_threads=job.threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise _JobFailure("failed", f"LiteRT could not create the interpreter: {exc}") from exc
        self.load_us = _micros(started)
        self.litert_delegate = {"cpu": "xnnpack", "coreml": "coreml", "metal": "metal"}[job.delegate or "cpu"]
        self.node_counts = phone.coreml_delegate_nodes if job.delegate == "coreml" else None
        self.runtime_version = importlib.metadata.version("ai-edge-litert")
        self._describe()

    def _describe(self) -> None:
        io = describe_interpreter(self.interpreter)
        self.inputs, self.outputs_info = io.inputs, io.outputs
        self.input_indices = [detail["index"] for detail in self.interpreter.get_input_details()]
        self.output_indices = [detail["index"] for detail in self.interpreter.get_output_details()]
        self.input_names = [info.tensor_name for info in self.inputs]

    def _typed(self, values: np.ndarray, info: TensorInfo) -> np.ndarray:
        """LiteRTEngine.swift's setInputs: the tensor's own type as it is, float32 quantized for int8/uint8."""
        if values.dtype == np.dtype(info.dtype):
            return values
        if values.dtype == np.float32 and info.dtype in ("int8", "uint8"):
            if not info.quantized:
                raise _JobFailure("unsupported", "a quantized input has no scale; cannot feed float values to it")
            return to_tensor(values, info)
        raise _JobFailure("failed", f"input {info.tensor_name} is {info.dtype} in the model, "
                                    f"the job gives {values.dtype}")

    def set_inputs(self, samples: list[np.ndarray] | None) -> None:
        """LiteRTEngine.swift's setInputs: every input resized first (a dynamic dimension), tensors
        allocated once, then every input copied in."""
        details = self.interpreter.get_input_details()
        if samples is None:  # the app's pseudo-random values in [0, 1); integer inputs get 0
            typed = [to_tensor(np.random.default_rng(index).random([int(d) for d in detail["shape"]])
                               .astype(np.float32), info)
                     for index, (detail, info) in enumerate(zip(details, self.inputs))]
        else:
            typed = [self._typed(values, info) for values, info in zip(samples, self.inputs)]
        resized = False
        for tensor, values, detail, info in zip(self.input_indices, typed, details, self.inputs):
            if list(values.shape) != [int(d) for d in detail["shape"]]:
                try:
                    self.interpreter.resize_tensor_input(tensor, list(values.shape))
                except (ValueError, RuntimeError) as exc:
                    raise _JobFailure("failed", f"LiteRT could not resize input {info.tensor_name} to "
                                                f"{list(values.shape)}: {exc}") from exc
                resized = True
        if resized:
            try:
                self.interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise _JobFailure("failed", f"LiteRT could not allocate tensors for the resized inputs: {exc}") from exc
        for tensor, values in zip(self.input_indices, typed):
            self.interpreter.set_tensor(tensor, values)

    def predict(self) -> None:
        self.interpreter.invoke()

    def timed_predict(self) -> float:
        started = time.perf_counter_ns()
        self.interpreter.invoke()
        return _micros(started)

    def outputs(self) -> list[tuple[str, np.ndarray]]:
        """Every output in its tensor's own type (LiteRTEngine.swift's readOutputs copies the bytes)."""
        return [(info.tensor_name, self.interpreter.get_tensor(index))
                for info, index in zip(self.outputs_info, self.output_indices)]


class _CoreMLStandIn(_LiteRTEngine):
    """CoreMLEngine.swift without Core ML: the spec is loaded for real ("compile"), predictions come from
    the model's fp32 .tflite (see the module docstring)."""

    def __init__(self, package: Path, reference: Path | None) -> None:
        import coremltools as ct

        started = time.perf_counter_ns()
        try:
            spec = ct.utils.load_spec(str(package))
        except Exception as exc:  # coremltools raises many types for a broken package, as Core ML does
            raise _JobFailure("failed", f"Core ML could not compile the model: {exc}") from exc
        self.compile_us = _micros(started)
        if reference is None:
            raise _JobFailure("failed", "this fake iPhone cannot run Core ML predictions (no reference .tflite)")
        started = time.perf_counter_ns()
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(reference))
        self.interpreter.allocate_tensors()
        self.load_us = _micros(started)
        self.runtime_version = None  # Core ML's version is the OS's
        self.litert_delegate = None
        self.node_counts = None
        self._describe()
        package_shape = [int(d) for d in spec.description.input[0].type.multiArrayType.shape]
        reference_shape = [int(d) for d in self.interpreter.get_input_details()[0]["shape"]]
        if package_shape != reference_shape:
            raise _JobFailure("failed", f"fake phone: the reference .tflite takes {reference_shape}, "
                                        f"the package {package_shape}")
        self.input_names = [feature.name for feature in spec.description.input]
        # The package's outputs in declared order stand for the reference's, in its order.
        self.declared_outputs = [output.name for output in spec.description.output]
        self.operations = _program_operations(spec)

    def _typed(self, values: np.ndarray, info: TensorInfo) -> np.ndarray:
        """CoreMLEngine.swift's setInputs: float32 or int32 files, converted to the multi-array's type."""
        if values.dtype not in (np.float32, np.int32):
            raise _JobFailure("failed", f"input {info.tensor_name}: Core ML inputs come as float32 or int32 "
                                        f"files, the job gives {values.dtype}")
        return values.astype(info.dtype)

    def outputs(self) -> list[tuple[str, np.ndarray]]:
        """Multi-arrays as float32 (MLShapedArray<Float>), sorted by name: CoreMLEngine.swift's readOutputs."""
        values = [from_tensor(values, info).astype(np.float32)
                  for (_, values), info in zip(super().outputs(), self.outputs_info)]
        return sorted(zip(self.declared_outputs, values), key=lambda pair: pair[0])


#: An ML program's opset → the prefix MLComputePlan gives its operator names ("ios17.conv").
_OPSET_PREFIX = {"CoreML5": "ios15", "CoreML6": "ios16", "CoreML7": "ios17", "CoreML8": "ios18"}


def _program_operations(spec: Any) -> list[str]:
    """The operator names of the main function's operations that have a compute device (constants have
    none), nested blocks included, in program order; [] for a model that is not an ML program."""
    if not spec.HasField("mlProgram") or "main" not in spec.mlProgram.functions:
        return []
    main = spec.mlProgram.functions["main"]
    prefix = _OPSET_PREFIX.get(main.opset, main.opset)

    def walk(block: Any) -> list[str]:
        found = []
        for operation in block.operations:
            if operation.type != "const":
                found.append(f"{prefix}.{operation.type}")
            for inner in operation.blocks:
                found += walk(inner)
        return found

    return walk(main.block_specializations[main.opset])


# --- the phone and its services ----------------------------------------------------------------------


@dataclass
class FakePhone:
    """One iPhone: identity, trust and Developer Mode, the runner app and its Documents folder."""

    udid: str
    documents: Path
    product_type: str = "iPhone16,1"
    product_version: str = "17.2.1"
    build_version: str = "21C66"
    name: str = "Lab iPhone"
    paired: PairingState = "paired"
    developer_mode: bool | None = True
    bundle_id: str = "org.benchlab.runner"
    app_installed: bool = True
    app_version: str = "1.0 (1)"
    ipa_signed: bool = True
    can_launch: bool = True
    launch_refused: bool = False
    metal_available: bool = True
    coreml_reference: Path | None = None
    coreml_delegate_nodes: tuple[int, int] | None = None
    coreml_cpu_ops: frozenset[str] = frozenset()
    battery: BatteryReading = field(default_factory=lambda: BatteryReading(level=87, temperature_c=31.5,
                                                                          charging=True))
    thermal_state: int = 0
    low_power_mode: bool = False
    clock_skew: timedelta = field(default_factory=timedelta)
    #: The phone's clock less ``clock_skew`` (the host must age heartbeats by the same clock: see FakeClock).
    clock: FakeClock = field(default_factory=FakeClock)
    die_on_next_job: bool = False
    hang_next_job: bool = False
    disconnected: bool = False
    status_gap_reads: int = 0
    status_gaps_hit: int = 0
    #: The runner app's pid while it runs, and what Xcode's energy gauge answers per job (see above).
    pid: int = 1714
    energy_replies: list[dict[int, dict[str, Any]]] = field(default_factory=lambda: recorded_energy_replies(1714))
    app: FakeRunnerApp = field(init=False)

    def __post_init__(self) -> None:
        self.documents.mkdir(parents=True, exist_ok=True)
        self.app = FakeRunnerApp(self)

    @property
    def neural_engine(self) -> bool:
        product = lookup(self.product_type)
        return bool(product and product.neural_engine)

    def open_app_by_hand(self) -> None:
        """A person opens the app and leaves it in the foreground (inbox mode)."""
        self.app.start()


class FolderContainer:
    """``AppContainer`` over a local folder, with AFC's behaviour (a missing parent is an error)."""

    def __init__(self, phone: FakePhone, counters: dict[str, int]) -> None:
        self.phone = phone
        self.root = phone.documents
        self.counters = counters

    def _path(self, path: str) -> Path:
        if self.phone.disconnected:
            raise PhoneDisconnected("house_arrest: the connection to the phone dropped")
        if path.startswith("/") or ".." in path.split("/"):
            raise ContainerError(f"{path!r} is not a path inside the app's Documents folder")
        return self.root / path

    def _count(self, what: str) -> None:
        self.counters[what] = self.counters.get(what, 0) + 1

    def exists(self, path: str) -> bool:
        return self._path(path).exists()

    def listdir(self, path: str) -> list[str]:
        folder = self._path(path)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def read_bytes(self, path: str) -> bytes:
        target = self._path(path)
        if path == STATUS_FILE and self.phone.status_gap_reads > 0:
            self.phone.status_gap_reads -= 1
            self.phone.status_gaps_hit += 1
            target.unlink(missing_ok=True)  # the old app's delete, before its rename
        try:
            return target.read_bytes()
        except OSError as exc:
            raise ContainerError(f"read {path}: {exc}") from exc

    def write_bytes(self, path: str, data: bytes) -> None:
        target = self._path(path)
        if not target.parent.is_dir():
            raise ContainerError(f"write {path}: no such folder")
        target.write_bytes(data)

    def push_file(self, local: Path, path: str) -> None:
        target = self._path(path)
        if not target.parent.is_dir():
            raise ContainerError(f"push {path}: no such folder")
        shutil.copyfile(local, target)
        self._count("files_pushed")

    def pull_file(self, path: str, local: Path) -> None:
        try:
            shutil.copyfile(self._path(path), local)
        except OSError as exc:
            raise ContainerError(f"pull {path}: {exc}") from exc

    def rename(self, source: str, target: str) -> None:
        try:
            self._path(source).replace(self._path(target))
        except OSError as exc:
            raise ContainerError(f"rename {source}: {exc}") from exc

    def remove(self, path: str) -> None:
        target = self._path(path)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()

    def makedirs(self, path: str) -> None:
        self._path(path).mkdir(parents=True, exist_ok=True)


class FakeServices:
    """``PhoneServices`` for FakePhones; counts what it was asked (opened containers, launches ...)."""

    def __init__(self, phones: list[FakePhone], transport: str = "usbmux") -> None:
        self.phones = {phone.udid: phone for phone in phones}
        self._transport = transport
        self.counters: dict[str, int] = {}
        self.open_containers = 0

    def _phone(self, udid: str) -> FakePhone:
        phone = self.phones.get(udid)
        if phone is None:
            raise PhoneNotFound(f"usbmux has no device matching udid {udid}")
        if phone.disconnected:
            raise PhoneDisconnected("lockdown: the connection to the phone dropped")
        return phone

    def _paired(self, udid: str) -> FakePhone:
        phone = self._phone(udid)
        if phone.paired != "paired":
            raise PhoneNotPaired("this computer is not paired with the phone")
        return phone

    def list_phones(self) -> list[PhoneListing]:
        return [PhoneListing(udid=p.udid, connection_type="USB", product_type=p.product_type,
                             product_version=p.product_version, build_version=p.build_version,
                             device_name=p.name, device_class="iPhone") for p in self.phones.values()]

    def transport(self, udid: str) -> str:
        return self._transport

    def lockdown_values(self, udid: str) -> dict[str, Any]:
        phone = self._paired(udid)
        return {"ProductType": phone.product_type, "ProductVersion": phone.product_version,
                "BuildVersion": phone.build_version, "DeviceName": phone.name, "UniqueDeviceID": phone.udid}

    def device_time(self, udid: str) -> float:
        phone = self._paired(udid)
        return phone.clock() + phone.clock_skew.total_seconds()

    def pairing_state(self, udid: str, wait_s: float = 0.0) -> PairingState:
        return self._phone(udid).paired

    def developer_mode(self, udid: str) -> bool | None:
        return self._paired(udid).developer_mode

    def installed_app(self, udid: str, bundle_id: str) -> InstalledApp | None:
        phone = self._paired(udid)
        if not phone.app_installed or bundle_id != phone.bundle_id:
            return None
        short, _, build = phone.app_version.partition(" (")
        return InstalledApp(bundle_id=bundle_id, short_version=short, build_version=build.rstrip(")"))

    def install_app(self, udid: str, ipa: Path, timeout_s: float) -> None:
        phone = self._paired(udid)
        self.counters["installs"] = self.counters.get("installs", 0) + 1
        if not phone.ipa_signed:
            raise AppInstallFailed("install BenchlabRunner.ipa: ApplicationVerificationFailed: Failed to verify "
                                   "code signature (A valid provisioning profile for this executable was not "
                                   "found.)", not_signed=True)
        app = ipa_app(ipa)
        if app is None:
            raise AppInstallFailed(f"install {ipa.name}: not an .ipa")
        phone.bundle_id, phone.app_version, phone.app_installed = app.bundle_id, app.version, True

    @contextlib.contextmanager
    def open_container(self, udid: str, bundle_id: str) -> Iterator[FolderContainer]:
        phone = self._paired(udid)
        if not phone.app_installed or bundle_id != phone.bundle_id:
            raise ContainerError(f"open the files of {bundle_id}: No app with bundle ID {bundle_id} is installed.")
        self.open_containers += 1
        try:
            yield FolderContainer(phone, self.counters)
        finally:
            self.open_containers -= 1

    def launch_app(self, udid: str, bundle_id: str, timeout_s: float) -> None:
        phone = self._paired(udid)
        self.counters["launch_attempts"] = self.counters.get("launch_attempts", 0) + 1
        if phone.launch_refused:  # DVT answers a launch on a locked phone with an NSError
            refused = phone_error(DTXNsError(NSError(1, "FBSOpenApplicationServiceErrorDomain", {
                "NSLocalizedFailureReason": f"The request was denied by service delegate (SBMainWorkspace) for "
                                            f'reason: Locked ("Unable to launch {bundle_id} because the device was '
                                            f'not, or could not be, unlocked").'})), f"launch {bundle_id}")
            assert refused is not None
            raise refused
        if not phone.can_launch:
            raise LaunchUnavailable("launch org.benchlab.runner: no pymobiledevice3 tunneld answers (iOS 17+ needs "
                                    "a tunnel for developer services)",
                                    hint="run `sudo pymobiledevice3 remote tunneld`")
        phone.app.start()

    def battery(self, udid: str) -> BatteryReading:
        return self._paired(udid).battery

    @contextlib.contextmanager
    def energy_impact(self, udid: str, bundle_id: str) -> Iterator[ImpactRecording]:
        phone = self._paired(udid)
        self.counters["energy_recordings"] = self.counters.get("energy_recordings", 0) + 1
        if not phone.can_launch:
            raise LaunchUnavailable("read the energy impact: no pymobiledevice3 tunneld answers (iOS 17+ needs "
                                    "a tunnel for developer services)", hint="run `sudo pymobiledevice3 remote tunneld`")
        if not phone.app.running:
            raise EnergyImpactUnavailable(f"read the energy impact: {bundle_id} is not running")
        recording = ImpactRecording(pid=phone.pid)
        yield recording
        recording.replies.extend(phone.energy_replies)

    def stop_all(self) -> None:
        """Close every fake app (end of a test)."""
        for phone in self.phones.values():
            phone.app.stop()


#: Recorded answers of Xcode's energy gauge (tests/ios/public/README.md), in the order replayed.
ENERGY_RECORDINGS = ("energy_tidevice233_first_lines_cut.txt", "energy_pmd792_reply_pid1714_display.txt",
                     "energy_tidevice_readme_networking_display.txt")


def recorded_energy_replies(pid: int) -> list[dict[int, dict[str, Any]]]:
    """Every complete gauge answer of the recordings, each under `pid` as ``EnergyMonitor`` yields it
    (#792's reply already is; the others are one process's values as their tools printed them)."""
    import ast

    replies: list[dict[int, dict[str, Any]]] = []
    for name in ENERGY_RECORDINGS:
        text = (PUBLIC / name).read_text(encoding="utf-8")
        if name.startswith("energy_pmd"):
            replies += [{pid: values} for values in ast.literal_eval(text).values()]
            continue
        for line in text.splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut in its source is not an answer
                replies.append({pid: json.loads(line)})
    return replies


def make_ipa(path: Path, bundle_id: str = "org.benchlab.runner", version: str = "1.1", build: str = "7") -> Path:
    """Write a minimal .ipa (Payload/BenchlabRunner.app/Info.plist) for install tests."""
    import plistlib
    import zipfile

    info = {"CFBundleIdentifier": bundle_id, "CFBundleShortVersionString": version, "CFBundleVersion": build}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Payload/BenchlabRunner.app/Info.plist", plistlib.dumps(info))
        archive.writestr("Payload/BenchlabRunner.app/BenchlabRunner", b"\xcf\xfa\xed\xfe arm64 stand-in")
    return path
