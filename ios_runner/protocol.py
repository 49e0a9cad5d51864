"""The files benchlab and the on-device runner app (ios_runner/app) exchange: the one definition.

iOS cannot run a pushed binary, so an iPhone runs models inside a signed app that the lab builds
once (it needs iOS 16 or later: ``APP_MIN_IOS``). The host talks to it only through files in
the app's Documents folder, pushed and pulled over usbmux with AFC (house_arrest). This
docstring is the only place the formats are written down; ``app/BenchlabRunner/Protocol.swift``
mirrors the models below field for field, and ``tests/ios/test_protocol.py`` fails when the two
drift apart.

Folder contract (paths relative to the app's Documents folder)
---------------------------------------------------------------

``inbox/<job_id>.json``
    A job. The host writes it under another name (``<job_id>.json.part``) and renames it, so
    the app never reads half a file; the app only looks at names ending in ``.json``, oldest
    name first (sorted by file name).
``running/<job_id>.json``
    The app moves a job here while it runs it. A job still here when the app starts was
    interrupted (the app crashed or iOS killed it, often for memory): the app then writes a
    ``failed`` result for it.
``outbox/<job_id>.json``
    The result, written last and by rename (``.json.part`` first), so its presence means done.
``outbox/<job_id>.out<k>.f32``
    Output ``k`` on the job's inputs, a raw tensor file named in the result's ``outputs`` (the
    name keeps ``.f32`` whatever its ``dtype``).
``done/<job_id>.json``
    Finished jobs; the host may delete them (and the outbox files once pulled).
``runner_status.json``
    The app's heartbeat (``RunnerStatus``), rewritten when its state changes and every few
    seconds while it is in the foreground.
``models/``, ``inputs/``
    Suggested places for pushed model files and input files; a job names them by path.

Paths inside a job (``model``, ``inputs[].file``) are relative to Documents and may not start
with ``/`` or contain ``..``. ``outputs[].file`` in a result is relative to ``outbox/``.

Tensor files
------------
Raw little-endian values of ``dtype`` (``TENSOR_DTYPES``; ``float32`` when absent, as in
version 1), C order, no header: ``samples`` tensors of ``shape`` back to back (``itemsize *
samples * prod(shape)`` bytes; ``bool`` is one byte). ``shape`` is one sample's shape as the
model takes it, batch dimension included (e.g. ``[1, 224, 224, 3]``); ``[]`` is a scalar (one
value per sample). A dimension may be 0: an output with no elements (a detector that found
nothing, ``[1, 0, 4]``) is an empty file; the app refuses an input with no elements. The app reads input files one sample at a time and appends outputs one sample
at a time, so an evaluation set of any size costs the app one sample of memory.

Inputs: the host sends one file per model input, named as the app names the input (LiteRT: the
tensor's own name, ``TfLiteTensorName``; Core ML: the feature name). LiteRT: a file whose
``dtype`` is the tensor's type is copied in as it is (the host has already quantized real values
for a quantized tensor, and int ids pass unchanged); a ``float32`` file for an int8/uint8 tensor
is quantized with the tensor's scale and zero point (version 1 jobs, synthetic inputs); any other
pair is refused naming the input. A shape other than the tensor's resizes the input (a dynamic
dimension; the host has checked the shape against the model's). Core ML: ``float32`` and
``int32`` files, converted to the multi-array's type (float32/float16/double/int32).

Outputs: LiteRT outputs come back in the tensor's own type (``dtype``), quantized ones as their
integer values (the host dequantizes them with the scale and zero point it reads from the model);
apps of version 1 wrote float32 only, quantized outputs dequantized. Core ML outputs come back as
float32; outputs that are not multi-arrays (a classifier's label and probability dictionary) are
left out. Outputs are named as the model names them; their order is the model's (LiteRT) or by
name (Core ML, whose descriptions are unordered), so the host matches outputs by name, never by
position.

Job (``RunnerJob``, schema_version 1 or 2)
--------------------------------------------
``schema_version``: 1 when every input file is float32, else 2 (an app reading only version 1
would take int32 bytes for floats; it refuses version 2 instead); ``job_id``: letters, digits,
``._-`` (it names the files);
``model``: path of a ``.mlpackage`` (a folder; the app compiles it with
``MLModel.compileModel(at:)``) or a ``.tflite`` file; ``format``: ``mlpackage`` | ``tflite``;
``compute_units`` (mlpackage only, required): ``cpuOnly`` | ``cpuAndGPU`` |
``cpuAndNeuralEngine`` | ``all``; ``delegate`` (tflite only, required): ``cpu`` | ``coreml``
(the LiteRT Core ML delegate; it refuses phones without a Neural Engine: status
``unsupported``) | ``metal`` (the GPU delegate); ``threads`` (tflite only, optional: null leaves
the LiteRT default); ``gpu_precision_loss_allowed`` (metal: let the GPU compute in fp16, as
Android's benchmark_model does by default); ``warmup`` runs after the first prediction, then
``iterations`` timed runs; ``inputs``: tensor files (``name``, ``file``, ``shape``,
``samples``, ``dtype``). With no inputs the app feeds deterministic pseudo-random values in [0, 1) of the
model's own input shapes and writes no outputs. Timed runs use sample 0; after them the app runs
every sample once, untimed, and writes the outputs (benchlab gives a repeat that does not evaluate
sample 0 alone, with ``samples`` 1, so it times the real first sample at the cost of one untimed run). The app checks ``format``,
``compute_units`` and ``delegate`` against the allowed values before anything else and answers a
bad value with a ``failed`` result naming the field and the allowed values (it echoes only
valid values into the result).

Result (``RunnerResult``, schema_version 1 or 2)
-------------------------------------------------
Written by Swift's JSONEncoder with ``[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]``
and ``.iso8601`` dates: two-space indent, ``"key" : value``, whole doubles without ``.0``,
optional fields that are nil left out, dates like ``2024-01-05T09:12:03Z``.

``schema_version``, ``job_id``, ``status`` (``ok`` | ``failed`` | ``unsupported``), ``error``
(one line; present unless ok); ``app_version`` ("1.0 (1)": CFBundleShortVersionString and
CFBundleVersion), ``os_version`` ("17.2.1"), ``os_build`` ("21C66", kern.osversion),
``device_model`` (utsname machine, "iPhone16,2"); the job's ``format``, ``compute_units``,
``delegate``, ``threads``; ``runtime_version`` (LiteRT's ``TfLiteVersion()``; absent for Core
ML, whose version is the OS's); ``litert_delegate``: the LiteRT delegate the app created
(``xnnpack`` for delegate ``cpu``, ``coreml``, ``metal``); ``delegated_nodes`` / ``total_nodes``
(LiteRT): graph nodes that delegate replaced / nodes in the graph (0 of N: the delegate took
nothing and LiteRT's own CPU kernels ran it all, e.g. the Core ML delegate given an int8
model); ``op_placement`` (Core ML, from ``MLComputePlan``): every operation that has a compute
device, in program order, with its operator name, ``device`` (the preferred one: ``cpu`` |
``gpu`` | ``neuralEngine``) and ``supported`` devices; ``op_placement_note``: why there is
none ("not available: ..." before iOS 17.4, or the plan's error); timings in microseconds: ``compile_us`` (mlpackage compile),
``load_us`` (Core ML: loading the compiled model; LiteRT: interpreter creation with the
delegate and tensor allocation), ``first_prediction_us``, ``warmup_us`` and ``iterations_us``
(every run, in order); ``outputs`` (tensor files in ``outbox/``); ``thermal_state_before`` /
``thermal_state_after`` (``ProcessInfo.thermalState`` raw value: 0 nominal, 1 fair, 2 serious,
3 critical); ``low_power_mode_before`` / ``low_power_mode_after``
(``ProcessInfo.isLowPowerModeEnabled``); ``memory_before_bytes``, ``memory_after_load_bytes``, ``memory_after_bytes``
(``task_vm_info.phys_footprint``) and ``memory_peak_bytes`` (the process's lifetime footprint
peak, given only when it rose during this job, so it is this job's peak); ``note``: what the app
changed to be able to write the result, absent when nothing: a number JSON cannot hold (NaN,
infinity, on which Swift's JSONEncoder throws) is left out (a single value: read as null) or
dropped from its list, and named here ("not finite, so left out: load_us (nan), 1 of 50
iterations_us"); a result that was ok is then ``failed`` with that text as its error, since its
times are incomplete; ``started_at``, ``finished_at``. The memory figures and the time to the first
prediction are taken before Core ML's compute plan is loaded (it loads the model again).

Status (``RunnerStatus``, schema_version 1 or 2)
-------------------------------------------------
``schema_version``, ``app_version``, ``device_model``, ``os_version``, ``os_build``, ``state``
(``idle`` | ``running``), ``current_job``, ``jobs_done`` (since launch), ``thermal_state`` (now,
raw value as in results: the host has no other way to read it), ``low_power_mode``,
``updated_at``. The app rewrites it with ``rename(2)`` over the old file, so it is never missing
once written; the host still treats an unreadable status as "no status yet".

History
-------
1 — first version. Later fields were added as optional ones (an older app leaves them out):
scalar shapes, ``litert_delegate``, ``delegated_nodes``, ``total_nodes``, ``op_placement``,
``op_placement_note``, ``low_power_mode_before`` / ``_after``, status ``low_power_mode``, ``note``;
tensor shapes with a dimension of 0.
2 — tensor files carry a ``dtype``: inputs in the model's own type (int32 token ids, int8 values
already quantized), LiteRT outputs in the tensor's type. The app reads jobs of version 1 and 2 and
writes results and status of version 2; a job is written as version 1 when version 1 can say it
(every input float32), so an app of version 1 still runs it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from benchlab.errors import RunnerError, SuiteError
from benchlab.records import THERMAL_LEVELS, AcceleratorSetting, Conditions
from ios_runner.platform import COMPUTE_UNITS

SCHEMA_VERSION = 2
#: Result and status schema versions this benchlab reads.
SUPPORTED_SCHEMA_VERSIONS = (1, 2)
#: Element types of tensor files (numpy names; little-endian, bool one byte).
TENSOR_DTYPES = ("float32", "float16", "int8", "uint8", "int16", "int32", "int64", "bool")
FORMATS = ("mlpackage", "tflite")
TFLITE_DELEGATES = ("cpu", "coreml", "metal")
RESULT_STATUSES = ("ok", "failed", "unsupported")
RUNNER_STATES = ("idle", "running")
#: ``ProcessInfo.ThermalState`` raw values (developer.apple.com/documentation/foundation/
#: processinfo/thermalstate-swift.enum). benchlab.records.THERMAL_LEVELS uses the same names, so
#: an iPhone's thermal level is its raw state.
THERMAL_STATES = dict(enumerate(THERMAL_LEVELS))
THERMAL_SCALE = "ios-thermal-state"
#: What the app records for LiteRT jobs: the delegate it created (``cpu`` runs on XNNPACK).
LITERT_DELEGATES = ("xnnpack", "coreml", "metal")
#: ``MLComputeDevice`` cases, as the app names an operation's compute device ("other": a case
#: newer than the app).
COMPUTE_DEVICES = ("cpu", "gpu", "neuralEngine", "other")

INBOX = "inbox"
RUNNING = "running"
OUTBOX = "outbox"
DONE = "done"
STATUS_FILE = "runner_status.json"
PARTIAL_SUFFIX = ".part"
#: The ``runner`` name measurements from the app carry.
RUNNER_NAME = "benchlab-ios-runner"
#: The app's deployment target (``app/project.yml``): older iPhones cannot install it.
APP_MIN_IOS = (16, 0)

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MIB = 1024.0 * 1024.0


class ProtocolError(RunnerError):
    """A file from the runner app is not a result or status this benchlab can read."""


def _allowed(values: Sequence[str]) -> str:
    return ", ".join(values)


def _check_choice(field: str, value: Any, allowed: Sequence[str]) -> Any:
    if value is not None and value not in allowed:
        raise ValueError(f"{field} {value!r} is not allowed (allowed: {_allowed(allowed)})")
    return value


def _one_of(field: str, allowed: Sequence[str]) -> AfterValidator:
    """A validator naming the field and the allowed values, shared by the job, result and status."""
    return AfterValidator(lambda value: _check_choice(field, value, allowed))


def _check_relative(field: str, value: str) -> str:
    path = PurePosixPath(value)
    if not value or value.startswith("/") or ".." in path.parts or "\\" in value:
        raise ValueError(
            f"{field} {value!r} must be a path relative to the app's Documents folder, "
            "without '..' (e.g. 'models/abc123/model.tflite')"
        )
    return value


Format = Annotated[str, _one_of("format", FORMATS)]
ComputeUnits = Annotated[str, _one_of("compute_units", COMPUTE_UNITS)]
Delegate = Annotated[str, _one_of("delegate", TFLITE_DELEGATES)]


class TensorFile(BaseModel):
    """A raw file holding ``samples`` tensors of ``shape`` and ``dtype`` (see "Tensor files")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="model input or output name")
    file: str = Field(min_length=1, description="path: inputs relative to Documents, outputs to outbox/")
    shape: tuple[int, ...] = Field(description="one sample's shape, batch included; () for a scalar")
    samples: int = Field(ge=1, description="how many tensors of `shape` the file holds")
    dtype: Annotated[str, _one_of("dtype", TENSOR_DTYPES)] = "float32"

    @field_validator("shape")
    @classmethod
    def _no_negative_dims(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(dim < 0 for dim in shape):
            raise ValueError(f"shape {list(shape)} has a negative dimension")
        return shape

    @property
    def numpy_dtype(self) -> Any:
        """The file's element type as a little-endian numpy dtype."""
        import numpy as np

        return np.dtype(self.dtype).newbyteorder("<")

    @property
    def byte_size(self) -> int:
        """The file's size in bytes: the element size times every element of every sample."""
        return self.numpy_dtype.itemsize * self.samples * math.prod(self.shape)


class RunnerJob(BaseModel):
    """One job for the runner app (see "Job" in the module docstring).

    Raises pydantic's ValidationError (a ValueError) naming the field and the allowed values
    when built with a bad value, e.g. an unknown compute unit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1, 2] = SCHEMA_VERSION
    job_id: str
    model: str
    format: Format
    compute_units: ComputeUnits | None = None
    delegate: Delegate | None = None
    threads: int | None = Field(default=None, ge=1, le=64)
    gpu_precision_loss_allowed: bool = True
    warmup: int = Field(default=5, ge=0, le=10_000)
    iterations: int = Field(default=50, ge=1, le=100_000)
    inputs: tuple[TensorFile, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _oldest_version_that_says_it(cls, data: Any) -> Any:
        """Without an explicit version, a job whose inputs are all float32 is written as version 1,
        which apps of both versions run; else as version 2 (see History)."""
        if not isinstance(data, dict) or "schema_version" in data:
            return data
        dtypes = {tensor.dtype if isinstance(tensor, TensorFile) else dict(tensor).get("dtype", "float32")
                  for tensor in data.get("inputs") or ()}
        return {**data, "schema_version": 1 if dtypes <= {"float32"} else 2}

    @field_validator("job_id")
    @classmethod
    def _job_id(cls, value: str) -> str:
        if not _JOB_ID.match(value):
            raise ValueError(
                f"job_id {value!r} must be 1-128 letters, digits, '.', '_' or '-' "
                "(it names the job's files), starting with a letter or digit"
            )
        return value

    @field_validator("model")
    @classmethod
    def _model_path(cls, value: str) -> str:
        return _check_relative("model", value)

    @model_validator(mode="after")
    def _settings_fit_format(self) -> RunnerJob:
        suffix = PurePosixPath(self.model).suffix
        if suffix != f".{self.format}":
            raise ValueError(f"model {self.model!r} does not end in .{self.format} (format {self.format})")
        if self.format == "mlpackage":
            if self.compute_units is None:
                raise ValueError(
                    f"an mlpackage job needs compute_units (allowed: {_allowed(COMPUTE_UNITS)})"
                )
            if self.delegate is not None or self.threads is not None:
                raise ValueError("delegate and threads apply to tflite jobs only; Core ML takes compute_units")
        else:
            if self.delegate is None:
                raise ValueError(f"a tflite job needs delegate (allowed: {_allowed(TFLITE_DELEGATES)})")
            if self.compute_units is not None:
                raise ValueError("compute_units applies to mlpackage jobs only; LiteRT takes delegate")
        names = [tensor.name for tensor in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError(f"input names repeat: {names}")
        for tensor in self.inputs:
            _check_relative(f"input {tensor.name!r} file", tensor.file)
        if len({tensor.samples for tensor in self.inputs}) > 1:
            raise ValueError("every input file must hold the same number of samples")
        typed = [f"{tensor.name} ({tensor.dtype})" for tensor in self.inputs if tensor.dtype != "float32"]
        if typed and self.schema_version < 2:
            raise ValueError(f"inputs {', '.join(typed)} need schema_version 2 (version 1 has float32 files only)")
        return self


class OpPlacement(BaseModel):
    """Where Core ML plans to run one operation of an ML program (``MLComputePlan.DeviceUsage``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: str = Field(description="the operator name, e.g. ios17.conv")
    device: Annotated[str, _one_of("device", COMPUTE_DEVICES)]
    supported: tuple[Annotated[str, _one_of("supported device", COMPUTE_DEVICES)], ...] = ()


#: Result fields that echo the job; a failed result may carry a value the app could not run.
_ECHOED = {"format": FORMATS, "compute_units": COMPUTE_UNITS, "delegate": TFLITE_DELEGATES}


class RunnerResult(BaseModel):
    """What the app wrote for one job (see "Result" in the module docstring).

    Build it with ``read_result``, which checks the schema version first.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int
    job_id: str
    status: Annotated[str, _one_of("status", RESULT_STATUSES)]
    error: str | None = None
    app_version: str
    os_version: str
    os_build: str | None = None
    device_model: str
    format: Format | None = None
    compute_units: ComputeUnits | None = None
    delegate: Delegate | None = None
    threads: int | None = None
    runtime_version: str | None = None
    litert_delegate: Annotated[str, _one_of("litert_delegate", LITERT_DELEGATES)] | None = None
    delegated_nodes: int | None = Field(default=None, ge=0)
    total_nodes: int | None = Field(default=None, ge=0)
    op_placement: tuple[OpPlacement, ...] | None = None
    op_placement_note: str | None = None
    compile_us: float | None = Field(default=None, ge=0)
    load_us: float | None = Field(default=None, ge=0)
    first_prediction_us: float | None = Field(default=None, ge=0)
    warmup_us: tuple[float, ...] = ()
    iterations_us: tuple[float, ...] = ()
    outputs: tuple[TensorFile, ...] = ()
    thermal_state_before: int = Field(ge=0, le=3)
    thermal_state_after: int = Field(ge=0, le=3)
    low_power_mode_before: bool | None = None
    low_power_mode_after: bool | None = None
    memory_before_bytes: int | None = Field(default=None, ge=0)
    memory_after_load_bytes: int | None = Field(default=None, ge=0)
    memory_after_bytes: int | None = Field(default=None, ge=0)
    memory_peak_bytes: int | None = Field(default=None, ge=0)
    note: str | None = None
    started_at: datetime
    finished_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _drop_bad_echoes(cls, data: Any) -> Any:
        """A job the app refused for a bad setting is still a clean failure, not an unreadable result.

        Apps before the fix echoed the job's format / compute_units / delegate before checking
        them; on a result that is not ok such a value is dropped (the error says what was wrong).
        """
        if not isinstance(data, dict) or data.get("status") == "ok":
            return data
        bad = {key for key, allowed in _ECHOED.items() if data.get(key) is not None and data[key] not in allowed}
        return {key: value for key, value in data.items() if key not in bad}

    @field_validator("warmup_us", "iterations_us")
    @classmethod
    def _non_negative(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if any(value < 0 or not math.isfinite(value) for value in values):
            raise ValueError("latencies must be finite and >= 0 microseconds")
        return values

    @model_validator(mode="after")
    def _status_fits(self) -> RunnerResult:
        if self.status == "ok":
            if self.error:
                raise ValueError(f"status ok with an error: {self.error!r}")
            if not self.iterations_us or self.load_us is None or self.first_prediction_us is None:
                raise ValueError("status ok needs load_us, first_prediction_us and iterations_us")
        elif not self.error:
            raise ValueError(f"status {self.status} needs an error saying why")
        for output in self.outputs:
            if "/" in output.file or output.file.startswith("."):
                raise ValueError(f"output file {output.file!r} must be a file name in outbox/")
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        if self.delegated_nodes is not None and self.total_nodes is not None \
                and self.delegated_nodes > self.total_nodes:
            raise ValueError(f"delegated_nodes {self.delegated_nodes} > total_nodes {self.total_nodes}")
        names = [output.name for output in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError(f"output names repeat: {names}")
        return self


class RunnerStatus(BaseModel):
    """The app's heartbeat file (see "Status" in the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int
    app_version: str
    device_model: str
    os_version: str
    os_build: str | None = None
    state: Annotated[str, _one_of("state", RUNNER_STATES)]
    current_job: str | None = None
    jobs_done: int = Field(ge=0)
    thermal_state: int = Field(ge=0, le=3)
    low_power_mode: bool | None = None
    updated_at: datetime


def app_supports_ios(version: str) -> bool:
    """True when the runner app installs on iOS ``version`` ("16.0" or later); False if unparsable."""
    match = re.match(r"^(\d+)\.(\d+)", version.strip())
    if match is None:
        return False
    return (int(match[1]), int(match[2])) >= APP_MIN_IOS


# --- writing jobs --------------------------------------------------------------------------------


def job_filename(job_id: str) -> str:
    """The job's file name in ``inbox/`` (and ``running/``, ``done/``) and its result's in ``outbox/``."""
    return f"{job_id}.json"


def job_json(job: RunnerJob) -> str:
    """Return the job as the JSON text the app reads (every field written, nulls included)."""
    return json.dumps(job.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def job_settings(variant_format: str, accelerator: AcceleratorSetting) -> dict[str, Any]:
    """Return the job fields that say how to run a ``variant_format`` model with ``accelerator``.

    mlpackage + ``coreml`` → ``compute_units`` from ``options["compute_units"]``; tflite +
    ``cpu`` → delegate cpu (XNNPACK, with ``threads``), ``gpu`` → metal, ``coreml`` → the LiteRT
    Core ML delegate. Raises SuiteError naming the allowed combinations for anything else, and
    for ``cpu`` with ``xnnpack: false`` (the app always runs cpu on XNNPACK).
    """
    kind = accelerator.kind
    if variant_format == "mlpackage" and kind == "coreml":
        units = accelerator.options.get("compute_units")
        if units not in COMPUTE_UNITS:
            raise SuiteError(
                f"accelerator {accelerator.name!r}: compute_units {units!r} is not allowed "
                f"(allowed: {_allowed(COMPUTE_UNITS)})"
            )
        return {"format": "mlpackage", "compute_units": units}
    if variant_format == "tflite" and kind == "cpu" and accelerator.xnnpack is False:
        raise SuiteError(
            f"accelerator {accelerator.name!r}: xnnpack false is not available on iPhones (the runner app "
            "runs cpu jobs on XNNPACK, as Android's benchmark_model does by default)"
        )
    if variant_format == "tflite" and kind in ("cpu", "gpu", "coreml"):
        delegate = {"cpu": "cpu", "gpu": "metal", "coreml": "coreml"}[kind]
        settings: dict[str, Any] = {"format": "tflite", "delegate": delegate, "threads": accelerator.threads}
        if "gpu_precision_loss_allowed" in accelerator.options:
            settings["gpu_precision_loss_allowed"] = bool(accelerator.options["gpu_precision_loss_allowed"])
        return settings
    raise SuiteError(
        f"accelerator {accelerator.name!r} (kind {kind}) cannot run a {variant_format} model on an "
        "iPhone (allowed: mlpackage with coreml; tflite with cpu, gpu or coreml)"
    )


# --- reading results -----------------------------------------------------------------------------


def _text_of(path_or_text: str | bytes | os.PathLike[str], what: str) -> tuple[str, str]:
    """Return (text, where) for a path or for JSON text given directly."""
    if isinstance(path_or_text, bytes):
        return path_or_text.decode("utf-8"), what
    if isinstance(path_or_text, str) and path_or_text.lstrip().startswith("{"):
        return path_or_text, what
    path = Path(path_or_text)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"cannot read {what} {path}: {exc}") from exc


def _load_versioned(path_or_text: str | bytes | os.PathLike[str], what: str) -> tuple[dict[str, Any], str]:
    text, where = _text_of(path_or_text, what)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{where}: not JSON ({exc}); is it a half-written {what}?") from exc
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: a {what} is a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version is None:
        raise ProtocolError(f"{where}: no schema_version; this is not a benchlab runner {what}")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ProtocolError(
            f"{where}: {what} schema_version {version!r} is not supported "
            f"(this benchlab reads {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})",
            hint="install the runner app built from this checkout (ios_runner/app/README.md) "
            "or update benchlab to the version that matches the app",
        )
    return data, where


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(file)"
        parts.append(f"{location}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def read_result(path_or_text: str | bytes | os.PathLike[str]) -> RunnerResult:
    """Return the result in a file (a path) or in JSON text (a string starting with ``{``).

    Raises ProtocolError when it cannot be read, is not JSON, has a schema version this benchlab
    does not read (the message names both versions and how to fix it) or breaks the format
    (the message names each bad field).
    """
    data, where = _load_versioned(path_or_text, "result")
    try:
        return RunnerResult.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(f"{where}: not a valid runner result: {_validation_message(exc)}") from exc


def read_status(path_or_text: str | bytes | os.PathLike[str]) -> RunnerStatus:
    """Return the app's heartbeat from ``runner_status.json`` (a path) or its text.

    Raises ProtocolError like ``read_result``.
    """
    data, where = _load_versioned(path_or_text, "status")
    try:
        return RunnerStatus.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(f"{where}: not a valid runner status: {_validation_message(exc)}") from exc


@dataclass(frozen=True)
class RunnerSamples:
    """A result in the shape of ``benchlab.records.Measurement`` fields (microseconds, MiB).

    ``init_us`` is ``load_us``: what an app that ships a compiled model pays at start-up;
    ``compile_us`` (Core ML's on-device compile of an mlpackage) is kept apart. ``samples_us``
    holds one repeat. ``memory_init_mb`` is the footprint growth while loading;
    ``peak_memory_mb`` the job's footprint peak when the app could tell it, else None.
    """

    status: str
    error: str | None
    runner: str
    runner_version: str
    init_us: float | None
    compile_us: float | None
    first_us: float | None
    warmup_us: tuple[float, ...]
    samples_us: tuple[tuple[float, ...], ...]
    memory_init_mb: float | None
    peak_memory_mb: float | None
    conditions_before: Conditions
    conditions_after: Conditions
    started_at: str
    finished_at: str
    outputs: tuple[TensorFile, ...]
    delegated_nodes: int | None
    total_nodes: int | None
    delegate_applied: str | None
    op_profile: tuple[dict[str, Any], ...]
    op_profile_note: str | None


def delegation(result: RunnerResult) -> tuple[int | None, int | None, str | None]:
    """Return (delegated, total, applied) for a result: how much of the model left the CPU.

    LiteRT: the nodes the delegate replaced, of all nodes. Core ML with compute units other
    than cpuOnly: the operations whose preferred device is the GPU or the Neural Engine, of all
    operations with a device. ``applied`` is "yes" (all), "partial", "no" (none: everything ran
    on the CPU), or None when the result does not say (cpuOnly, or no plan before iOS 17.4).
    """
    delegated, total = result.delegated_nodes, result.total_nodes
    if result.op_placement is not None and result.compute_units not in (None, "cpuOnly"):
        total = len(result.op_placement)
        delegated = sum(1 for op in result.op_placement if op.device != "cpu")
    if delegated is None or not total:
        return delegated, total, None
    applied = "yes" if delegated == total else "partial" if delegated else "no"
    return delegated, total, applied


#: Core ML's compute devices as op profile rows name where an op ran (Android's say "CPU", "GPU", "NNAPI").
_RAN_ON = {"cpu": "CPU", "gpu": "GPU", "neuralEngine": "Neural Engine", "other": "other"}
#: Why a Core ML result has no placement when the app does not say (an app from before op_placement).
PLACEMENT_NOT_AVAILABLE = "not available (needs iOS 17.4+ MLComputePlan)"
#: Why a LiteRT result on a delegate has none: the app reads placement from Core ML's plan only.
LITERT_PLACEMENT_NOT_AVAILABLE = "not available for LiteRT models on iPhones (the app reads Core ML's MLComputePlan)"


def op_profile(result: RunnerResult) -> tuple[tuple[dict[str, Any], ...], str | None]:
    """Return a result's op placement as Measurement.op_profile rows (benchlab.records.OP_PROFILE_KEYS),
    and why there are none.

    Core ML: one row per operation with a compute device, in program order (``node`` is its
    position, ``#0`` on), ``ran_on`` the device Core ML plans for it and ``on_cpu`` whether that
    is the CPU; ``avg_ms`` and ``time_pct`` are None, since the plan has no times. cpuOnly gives no
    rows and no note: every op is on the CPU as asked, so nothing fell back. Without a plan the
    note is the app's reason (iOS before 17.4, the plan's error), else PLACEMENT_NOT_AVAILABLE.
    LiteRT: no rows; on a delegate, LITERT_PLACEMENT_NOT_AVAILABLE. A result that names no format
    (the app refused the job before reading it) has neither.
    """
    if result.format == "tflite" and result.delegate not in (None, "cpu"):
        return (), LITERT_PLACEMENT_NOT_AVAILABLE
    if result.format != "mlpackage" or result.compute_units == "cpuOnly":
        return (), None
    if result.op_placement is None:
        return (), result.op_placement_note or PLACEMENT_NOT_AVAILABLE
    rows = tuple({"op": placement.op, "node": f"#{index}", "ran_on": _RAN_ON[placement.device],
                  "on_cpu": placement.device == "cpu", "avg_ms": None, "time_pct": None}
                 for index, placement in enumerate(result.op_placement))
    return rows, None


def _conditions(at: datetime, thermal_state: int, low_power_mode: bool | None) -> Conditions:
    """The app's thermal state (raw, and as the same-named level) and Low Power Mode at one moment."""
    return Conditions(timestamp=at.timestamp(), thermal_status=thermal_state, thermal_scale=THERMAL_SCALE,
                      thermal_level=thermal_state, low_power_mode=low_power_mode)


def status_conditions(status: RunnerStatus, now: float) -> Conditions:
    """Conditions at ``now`` from the app's heartbeat (the host reads the battery itself)."""
    return replace(_conditions(status.updated_at, status.thermal_state, status.low_power_mode), timestamp=now)


def result_to_samples(result: RunnerResult, job: RunnerJob | None = None) -> RunnerSamples:
    """Return ``result`` as Measurement-ready values.

    With ``job``, checks that the result answers it: same job id, and for an ok result as many
    warmup runs and iterations as asked. Raises ProtocolError when it does not.
    """
    if job is not None:
        if result.job_id != job.job_id:
            raise ProtocolError(f"result is for job {result.job_id!r}, expected {job.job_id!r}")
        if result.status == "ok" and (
            len(result.iterations_us) != job.iterations or len(result.warmup_us) != job.warmup
        ):
            raise ProtocolError(
                f"job {job.job_id}: the app ran {len(result.warmup_us)} warmup and "
                f"{len(result.iterations_us)} timed iterations, the job asked for {job.warmup} and "
                f"{job.iterations}"
            )
    memory_init_mb = None
    if result.memory_after_load_bytes is not None and result.memory_before_bytes is not None:
        memory_init_mb = max(0, result.memory_after_load_bytes - result.memory_before_bytes) / _MIB
    peak_memory_mb = None if result.memory_peak_bytes is None else result.memory_peak_bytes / _MIB
    delegated, total, applied = delegation(result)
    placement, placement_note = op_profile(result)
    return RunnerSamples(
        status=result.status,
        error=result.error,
        runner=RUNNER_NAME,
        runner_version=result.app_version,
        init_us=result.load_us,
        compile_us=result.compile_us,
        first_us=result.first_prediction_us,
        warmup_us=tuple(result.warmup_us),
        samples_us=(tuple(result.iterations_us),) if result.iterations_us else (),
        memory_init_mb=memory_init_mb,
        peak_memory_mb=peak_memory_mb,
        conditions_before=_conditions(result.started_at, result.thermal_state_before, result.low_power_mode_before),
        conditions_after=_conditions(result.finished_at, result.thermal_state_after, result.low_power_mode_after),
        started_at=result.started_at.isoformat(),
        finished_at=result.finished_at.isoformat(),
        outputs=tuple(result.outputs),
        delegated_nodes=delegated,
        total_nodes=total,
        delegate_applied=applied,
        op_profile=placement,
        op_profile_note=placement_note,
    )


# --- tensor files --------------------------------------------------------------------------------


def read_tensor_file(path: Path, tensor: TensorFile) -> Any:
    """Return the tensors in a raw tensor file as a numpy array of ``(samples, *shape)`` in its dtype.

    Raises ProtocolError when the file's size does not match ``tensor``.
    """
    import numpy as np

    data = Path(path).read_bytes()
    if len(data) != tensor.byte_size:
        raise ProtocolError(
            f"{path}: {len(data)} bytes, expected {tensor.byte_size} for {tensor.samples} x {list(tensor.shape)} "
            f"{tensor.dtype}"
        )
    return np.frombuffer(data, dtype=tensor.numpy_dtype).reshape((tensor.samples, *tensor.shape))


