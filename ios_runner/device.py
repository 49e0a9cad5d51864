"""An iPhone as a benchlab Device: models and jobs go into the runner app's Documents folder, the app
runs them (Core ML or LiteRT on the phone) and writes results that come back as Measurements.

The phone is reached through a ``PhoneServices`` (``ios_runner.services``). When developer
services can launch the app (DVT process control: the developer disk image before iOS 17, a
tunneld tunnel from iOS 17), the driver launches it whenever its heartbeat is stale; otherwise it
works in **inbox mode**: the jobs wait in the app's inbox and someone must keep the app open in
the foreground. It says so once in a log warning, and in the error of a job nobody picked up.

Every repeat gives the app the job's evaluation inputs, so it times their first sample (dynamic
dimensions resized to the data's) rather than made-up values: all samples for the repeat that
evaluates, sample 0 alone for the others (each tensor file pushed once per phone, named by content).

Every failure of a job (phone not reachable, app missing or refusing the model, compute units the
phone lacks, app killed or phone locked mid-job, timeout) is a Measurement with status and a
one-line reason and hint, and a cause by the class of the error (benchlab.execute.failures): what
the phone or the app failed to do (a DeviceError: no result in time, a refused launch, a lost
connection) is a device failure, which ``--resume`` retries, and never counted against the model;
a result this benchlab cannot read (ProtocolError) is the harness's; a model file or data that
does not fit it (ModelError) and a setting iPhones lack (SuiteError) are the model's. Only
discovery raises, and a phone lost mid-run (DeviceLost) for the executor.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchlab.settings import IOS_BUNDLE_ID, IOS_PICKUP_TIMEOUT, IOS_RUNNER_IPA, read
from benchlab.errors import BenchlabError, DeviceLost, SuiteError
from benchlab.execute.failures import failure_cause
from benchlab.file_hash import path_sha256
from benchlab.plan.profile_match import derived_profile, match_profile
from benchlab.plan.profiles import DeviceProfile, load_profiles
from benchlab.records import (
    Capabilities,
    Conditions,
    DeviceInfo,
    Job,
    Measurement,
    now_iso,
)
from benchlab.tensors import Feeds, ModelIO, load_feeds
from ios_runner import energy_impact, jobs
from ios_runner.jobs import (
    INPUTS,
    MODELS,
    ContainerFiles,
    WaitOutcome,
    heartbeat_age,
    wait_for_result,
)
from ios_runner.model_io import DataMismatch, ModelFileError, app_inputs, declared_io, model_outputs
from ios_runner.platform import IOS
from ios_runner.product_types import lookup
from ios_runner.protocol import (
    RUNNER_NAME,
    RunnerJob,
    RunnerResult,
    TensorFile,
    job_settings,
    read_tensor_file,
    result_to_samples,
    status_conditions,
)
from ios_runner.services import (
    AppInstallFailed,
    AppNoResult,
    BatteryReading,
    ImpactRecording,
    InstalledApp,
    LaunchUnavailable,
    PhoneError,
    PhoneListing,
    PhoneServices,
    canonical_udid,
)

log = logging.getLogger(__name__)

#: Formats the runner app does not run yet, with the line a job of one gets.
NOT_YET = (("pte", "the iPhone runner app has no ExecuTorch runtime yet; .pte variants run on the host and on "
                   "Android phones (executor_runner)"),
           ("aimodel", "the iPhone runner app has no Core AI (iOS 27) runtime yet; .aimodel variants are built and "
                       "checked on the host"))
#: How long a job may wait in the inbox before the app is considered not open (inbox mode).
DEFAULT_PICKUP_TIMEOUT_S = 60.0
INSTALL_TIMEOUT_S = 600.0
LAUNCH_TIMEOUT_S = 60.0
#: The flag for a job whose delegate (or Core ML compute units) left part of the model on the CPU.
DELEGATE_FALLBACK = "delegate-fallback"

# Hints for the app's own errors: (text in the error, what to do).
_APP_ERROR_HINTS = (
    ("could not compile", "the model may need a newer iOS than this phone's; build the variant with an "
                          "older minimum deployment target"),
    ("stopped while this job ran", "iOS ended the app mid-job (often for memory); try a smaller model "
                                   "or close other apps"),
    ("built without LiteRT", "rebuild the runner app with the TensorFlowLiteC package (ios_runner/app/README.md)"),
    ("schema_version", "install the runner app built from this benchlab checkout"),
)


def _with_hint(reason: str, hint: str | None) -> str:
    """One line: the reason, then what to do."""
    text = " ".join(reason.split())
    return f"{text}; {hint}" if hint else text


def _error_text(exc: BenchlabError) -> str:
    return _with_hint(str(exc), exc.hint)


def app_error_hint(error: str) -> str | None:
    """Return what to do about an error the runner app reported, when benchlab knows."""
    return next((hint for text, hint in _APP_ERROR_HINTS if text in error), None)


def runner_version(result: RunnerResult) -> str:
    """The app's version and the runtime's: LiteRT's own version, or the iOS build for Core ML."""
    if result.runtime_version:
        runtime = f"LiteRT {result.runtime_version}"
    else:
        runtime = f"Core ML (iOS {result.os_version} {result.os_build or ''})".replace(" )", ")")
    return f"app {result.app_version}, {runtime}"


def _merge(app: Conditions, battery: BatteryReading | None) -> Conditions:
    """The app's thermal state with the battery read over USB at about the same time."""
    if battery is None:
        return app
    return replace(app, battery_level=battery.level, battery_temperature_c=battery.temperature_c,
                   charging=battery.charging)


def _outputs_array(raw: np.ndarray, tensor: TensorFile) -> np.ndarray:
    """``(samples, *shape)`` → one row per sample without the batch axis, as the host stores them.

    A scalar output (shape ``()``) and a batch of one value (shape ``(1,)``) are one value per
    sample: ``(samples,)``, as ``Measurement.outputs`` holds ``(N, *sample_shape)``.
    """
    if tensor.shape and tensor.shape[0] == 1:
        return raw.reshape((tensor.samples, *tensor.shape[1:]))
    return raw


def _variant_text(job: Job) -> str:
    """How messages about a job's data name it: "model tiny, variant fp32"."""
    return f"model {job.variant.model}, variant {job.variant.name}"


class IPhoneDevice:
    """A paired iPhone with the runner app (or its .ipa to install), reached through PhoneServices."""

    def __init__(self, services: PhoneServices, listing: PhoneListing, bundle_id: str,
                 app: InstalledApp | None, ipa: Path | None = None, ipa_app: InstalledApp | None = None,
                 profiles: Sequence[DeviceProfile] | None = None) -> None:
        """``app`` is the installed runner app (None: install ``ipa`` in prepare); ``ipa_app`` the
        version inside the .ipa (a different installed version is upgraded)."""
        self.services = services
        self.udid = listing.udid
        self.name = listing.device_name or listing.product_type or listing.udid
        self.bundle_id = bundle_id
        self.app = app
        self.ipa = ipa
        self.ipa_app = ipa_app
        product = lookup(listing.product_type) if listing.product_type else None
        self.product = product
        chip = product.chip if product else None
        profile = match_profile(profiles if profiles is not None else load_profiles(), "ios",
                                listing.product_type, chip)
        if profile is None:
            profile = derived_profile("ios", listing.product_type, chip)
            log.warning("%s (%s, %s) has no device profile: tier unknown, generic accelerators; add one "
                        "under device_profiles/ios/", self.name, listing.product_type, self.udid)
        self.profile = profile
        self.thermal_limits = profile.thermal
        version = listing.product_version or "?"
        self.info = DeviceInfo(
            id=canonical_udid(self.udid), platform="ios", maker="Apple",
            model=product.name if product else listing.product_type, soc=chip,
            os_version=f"iOS {version} ({listing.build_version or 'build ?'})", abi="arm64",
            tier=profile.tier, transport=services.transport(self.udid), profile=profile.name,
        )
        self.pickup_timeout_s = float(read(IOS_PICKUP_TIMEOUT) or DEFAULT_PICKUP_TIMEOUT_S)
        self._sha256: dict[str, str] = {}  # local path → sha256 (variants are content-addressed)
        self._on_phone: set[tuple[str, str]] = set()  # (remote path, sha256) pushed or checked
        self._inbox_mode: str | None = None  # why the app cannot be launched, once known
        self._clock_offset_s: float | None = None
        self._swept = False
        self._energy_said = False  # "energy: not available" is said once per run
        self._impact_off: str | None = None  # why Xcode's energy gauge cannot be read, once known
        self._io: dict[str, ModelIO] = {}  # sha256:format → the model's declared inputs and outputs
        # (model sha256:format, evaluation inputs path) → sample 0 of every input as the app takes it,
        # worked out once and sent to every timed repeat of the variant.
        self._first_samples: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = {}

    # --- Device protocol -----------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        """Core ML (.mlpackage) and LiteRT (.tflite: cpu, gpu = Metal) as the profile lists them."""
        return IOS.capabilities(kinds={"cpu", "coreml"} | {a.kind for a in self.profile.accelerators}, not_yet=NOT_YET)

    def conditions(self) -> Conditions:
        """Battery from the diagnostics relay; thermal state from the app's heartbeat while it is fresh."""
        now = time.time()
        app = Conditions(timestamp=now)
        try:
            with self.services.open_container(self.udid, self.bundle_id) as container:
                status = ContainerFiles(container).status()
            age = heartbeat_age(status, jobs.WALL_CLOCK() + self._clock_offset())
            if status is not None and age is not None and age <= jobs.STALE_HEARTBEAT_SECONDS:
                app = status_conditions(status, now)
        except PhoneError as exc:
            log.debug("%s: no heartbeat read: %s", self.name, exc)
        return _merge(app, self._battery())

    def prepare(self, artifacts: Sequence[Path]) -> None:
        """Install the runner app if needed, then push each model unless the phone has the same sha256.

        Raises PhoneError (a DeviceError) with a one-line reason and hint when it cannot.
        """
        self._ensure_app()
        with self.services.open_container(self.udid, self.bundle_id) as container:
            files = ContainerFiles(container)
            for artifact in artifacts:
                self._ensure_model(files, Path(artifact))

    def run(self, job: Job) -> Measurement:
        """Run the job in the app (one app job per repeat) and return its Measurement; never raises."""
        base = Measurement(job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant,
                           device=self.info, accelerator=job.accelerator, status="ok", runner=RUNNER_NAME,
                           started_at=now_iso())
        refusal = self._refusal(job)
        if refusal is not None:
            return replace(base, status="unsupported", error=refusal, finished_at=now_iso())
        if job.scenario.energy and not self._energy_said:
            # iOS gives no energy in joules; Xcode's energy gauge gives a unitless energy impact, which
            # is recorded as a metric of its own (benchlab.metrics.energy_impact): say both once per run.
            self._energy_said = True
            log.warning("%s: energy: not available on this phone (iPhones give no energy in joules); Apple's "
                        "unitless energy impact is recorded instead where developer services can read it",
                        self.udid)
        try:
            settings = job_settings(job.variant.format, job.accelerator)
            self._ensure_app()
            before = self._battery()
            with self.services.open_container(self.udid, self.bundle_id) as container:
                results, outputs, recordings = self._run_repeats(ContainerFiles(container), job, settings)
            return self._measurement(base, results, outputs, before, self._battery(), recordings)
        except DeviceLost:
            raise  # unplugged or rebooted: the executor quarantines the phone for the rest of the run
        except BenchlabError as exc:  # SuiteError: a setting iPhones lack; else the phone or the app failed
            status = "unsupported" if isinstance(exc, SuiteError) else "failed"
            return replace(base, status=status, error=_error_text(exc), failure_cause=failure_cause(exc),
                           finished_at=now_iso())

    def abort(self) -> None:
        """Nothing to kill from here: the app finishes its job and the host stops waiting for it."""

    def close(self) -> None:
        """Nothing per phone stays open (containers are opened per call); the services belong to discovery."""

    def _run_repeats(self, files: ContainerFiles, job: Job, settings: dict[str, Any]
                     ) -> tuple[list[tuple[RunnerJob, RunnerResult]], Feeds | None, list[ImpactRecording]]:
        """Push what the job needs, run one app job per repeat (stopping at the first that is not ok),
        and return each (app job, result) with the first repeat's outputs and, with energy on, what
        Xcode's energy gauge answered during each app job.

        Raises PhoneError/ProtocolError."""
        if not self._swept:
            self._swept = True
            if files.sweep():
                log.info("%s: removed jobs and results left by earlier runs", self.name)
        local = Path(job.variant.path or "")
        model = self._ensure_model(files, local)
        io = self._declared_io(local, job.variant.format)
        # The app times sample 0 of the inputs it is given, then runs every sample once for the
        # outputs: the repeat that evaluates gets every sample, the others sample 0 alone (the one
        # output it then writes is not kept), so every repeat times the same real first sample.
        results: list[tuple[RunnerJob, RunnerResult]] = []
        outputs = None
        recordings: list[ImpactRecording] = []
        for repeat in range(job.scenario.repeats):
            evaluating = job.evaluate and repeat == 0
            inputs = self._ensure_inputs(files, self._input_arrays(job, io, local, every_sample=evaluating))
            runner_job = RunnerJob(job_id=f"{uuid.uuid4().hex[:8]}-r{repeat}-{job.job_id}"[:128], model=model,
                                   warmup=job.scenario.warmup, iterations=job.scenario.iterations, inputs=inputs,
                                   **settings)
            try:
                result = self._run_in_app(files, runner_job, job, recordings if job.scenario.energy else None)
                if evaluating and result.status == "ok" and result.outputs:
                    outputs = self._pull_outputs(files, result, io, job)
            finally:
                with contextlib.suppress(PhoneError):  # never hide why the job failed
                    files.cleanup(runner_job.job_id)
            results.append((runner_job, result))
            if result.status != "ok":
                break
        return results, outputs, recordings

    # --- the app ---------------------------------------------------------------------------------

    def _ensure_app(self) -> None:
        """Install the .ipa when the app is missing or the .ipa holds another version.

        Raises PhoneError (reason and hint) when the app is missing and there is no .ipa, or the
        install fails (``not signed`` when the phone is not in the .ipa's provisioning profile).
        """
        outdated = self.app is not None and self.ipa_app is not None and self.ipa_app.version != self.app.version
        if self.app is not None and not outdated:
            return
        if self.ipa is None:
            raise PhoneError(f"runner app missing: {self.bundle_id} is not installed on {self.name}",
                             hint=f"install it (ios_runner/app/README.md) or set {IOS_RUNNER_IPA.name} to its .ipa")
        log.info("%s: installing %s", self.name, self.ipa.name)
        try:
            self.services.install_app(self.udid, self.ipa, INSTALL_TIMEOUT_S)
        except AppInstallFailed as exc:
            if exc.not_signed:
                raise PhoneError(f"the runner app is not signed for {self.name} ({self.udid}): {exc}",
                                 hint="add the phone's UDID to the team's devices and export the .ipa again "
                                      "(ios_runner/app/README.md, steps 7 and 9)") from exc
            raise
        self.app = self.services.installed_app(self.udid, self.bundle_id)
        if self.app is None:
            raise PhoneError(f"{self.ipa.name} installed, but {self.bundle_id} is not on {self.name}",
                             hint=f"set {IOS_BUNDLE_ID.name} to the bundle id the .ipa was built with")
        self.ipa_app = self.app

    def _clock_offset(self) -> float:
        """The phone's clock minus this machine's (read once), to age the app's heartbeat."""
        if self._clock_offset_s is None:
            self._clock_offset_s = self.services.device_time(self.udid) - jobs.WALL_CLOCK()
        return self._clock_offset_s

    def _app_is_up(self, files: ContainerFiles) -> bool:
        """Whether the app's heartbeat is fresh. With none to read, look once more a poll later: an
        app before the fix left a moment without the file at each rewrite, and a needless launch
        kills the running app (and any job it has started)."""
        status = files.status()
        if status is None:
            time.sleep(jobs.POLL_SECONDS)
            status = files.status()
        age = heartbeat_age(status, jobs.WALL_CLOCK() + self._clock_offset())
        return age is not None and age <= jobs.STALE_HEARTBEAT_SECONDS

    def _launch(self) -> None:
        """Launch the app unless the phone is known to be in inbox mode; switch to it on LaunchUnavailable."""
        if self._inbox_mode is not None:
            return
        try:
            self.services.launch_app(self.udid, self.bundle_id, LAUNCH_TIMEOUT_S)
        except LaunchUnavailable as exc:
            self._inbox_mode = _error_text(exc)
            log.warning("inbox mode on %s: benchlab cannot launch the runner app (%s); open the benchlab runner "
                        "app on %s and keep it in the foreground", self.name, self._inbox_mode, self.name)

    def _run_in_app(self, files: ContainerFiles, runner_job: RunnerJob, job: Job,
                    recordings: list[ImpactRecording] | None = None) -> RunnerResult:
        """Submit one app job, launch the app if it is not up, wait for the result and return it; with
        `recordings`, Xcode's energy gauge is read while waiting and its recording appended there.

        Raises AppNoResult when no result comes (not picked up, app stopped, timeout).
        """
        files.submit(runner_job)
        if not self._app_is_up(files):
            self._launch()
        timeout = job.scenario.timeout_seconds
        with self._energy_impact(recordings):
            outcome = wait_for_result(files, runner_job.job_id, timeout_s=timeout,
                                      pickup_timeout_s=min(timeout, self.pickup_timeout_s),
                                      clock_offset_s=self._clock_offset())
        if outcome.state == "done":
            result = files.result(runner_job.job_id)
            if result is not None:
                return result
        raise AppNoResult(self._no_result_reason(outcome, timeout))

    @contextlib.contextmanager
    def _energy_impact(self, recordings: list[ImpactRecording] | None) -> Iterator[None]:
        """Read Xcode's energy gauge for the app while the block runs and append the recording to
        `recordings` (None: energy is off). The gauge starts once the app runs, which may be a moment
        after it picked the job up: the repeat's figure is a mean level, which that moment barely moves.
        When the gauge cannot be read, this says why once per run and stops asking; a recording that
        broke off mid-job is left out (it would not cover the repeat)."""
        recording = None
        with contextlib.ExitStack() as stack:
            if recordings is not None and self._impact_off is None:
                try:
                    recording = stack.enter_context(self.services.energy_impact(self.udid, self.bundle_id))
                except PhoneError as exc:
                    self._impact_off = _error_text(exc)
                    log.warning("%s: Apple's energy impact not available on this phone: %s", self.name,
                                self._impact_off)
            yield
        if recording is None or recordings is None:
            return
        if recording.error is not None:
            log.warning("%s: energy impact of this repeat not recorded: %s", self.name, recording.error)
        else:
            recordings.append(recording)

    def _no_result_reason(self, outcome: WaitOutcome, timeout: float) -> str:
        waited = f"{outcome.waited_s:.0f} s"
        if outcome.state == "not-picked-up":
            if self._inbox_mode is not None:
                return (f"inbox mode: open the benchlab runner app on {self.name} and keep it in the foreground "
                        f"(the job waited {waited} in its inbox; benchlab cannot launch the app: {self._inbox_mode})")
            return (f"the runner app on {self.name} did not pick up the job within {waited} of being launched; "
                    "unlock the phone and keep the app in the foreground")
        if outcome.state == "app-stopped":
            age = f"{outcome.heartbeat_age_s:.0f} s" if outcome.heartbeat_age_s is not None else "long"
            return (f"the runner app on {self.name} stopped answering mid-job (last heartbeat {age} ago): the phone "
                    "locked, the app left the foreground, or iOS ended it; keep the phone unlocked "
                    "(Auto-Lock: Never) with the app in front")
        return (f"the runner app on {self.name} did not finish the job within {timeout:.0f} s; raise the "
                "scenario's timeout_seconds for large models, or lower iterations")

    # --- files ---------------------------------------------------------------------------------

    def _sha(self, local: Path) -> str:
        key = str(local.resolve())
        if key not in self._sha256:
            self._sha256[key] = path_sha256(local)
        return self._sha256[key]

    def _ensure_model(self, files: ContainerFiles, local: Path) -> str:
        """Return the model's Documents-relative path, pushing it (file or .mlpackage folder) if needed."""
        if not local.name or not local.exists():
            raise PhoneError(f"model {local} does not exist on this machine")
        sha = self._sha(local)
        remote = f"{MODELS}/{sha[:16]}/{local.name}"
        if (remote, sha) not in self._on_phone:
            if files.ensure(local, remote, sha):
                log.info("%s: pushed %s", self.name, local.name)
            self._on_phone.add((remote, sha))
        return remote

    def _declared_io(self, local: Path, model_format: str) -> ModelIO:
        """The model's inputs and outputs (read once per model file); none when unreadable here,
        so that the phone, not this machine, says what is wrong with the model."""
        key = f"{self._sha(local)}:{model_format}"
        if key not in self._io:
            try:
                self._io[key] = declared_io(local, model_format)
            except ModelFileError as exc:
                log.warning("%s: inputs and outputs not read (%s); the app's own names are used", local.name, exc)
                self._io[key] = ModelIO(inputs=(), outputs=())
        return self._io[key]

    def _input_arrays(self, job: Job, io: ModelIO, local: Path, every_sample: bool) -> list[tuple[str, np.ndarray]]:
        """The job's evaluation inputs per model input, in the model's order: the name the app knows
        the input by and its samples in the type the app takes (``model_io.app_inputs``). Every
        sample, or sample 0 alone (read once per model file and inputs, then kept); [] when the job
        has no evaluation inputs.

        Raises DataMismatch when the data cannot be read or does not fit the variant's inputs.
        """
        if not job.eval_inputs_path:
            return []
        key = (f"{self._sha(local)}:{job.variant.format}", job.eval_inputs_path)
        if not every_sample and key in self._first_samples:
            return self._first_samples[key]
        where = _variant_text(job)
        try:
            feeds = load_feeds(job.eval_inputs_path)
        except (OSError, ValueError) as exc:
            raise DataMismatch(f"{where}: evaluation inputs {job.eval_inputs_path} cannot be read: {exc}") from exc
        arrays = app_inputs(feeds, io, job.variant.format, where)
        self._first_samples[key] = [(name, samples[:1]) for name, samples in arrays]
        return arrays if every_sample else self._first_samples[key]

    def _ensure_inputs(self, files: ContainerFiles, arrays: list[tuple[str, np.ndarray]]) -> tuple[TensorFile, ...]:
        """Push one tensor file per model input holding its `arrays` samples (batch 1 each), named by
        content and pushed once per phone; () for no arrays. Raises PhoneError on a push.
        """
        tensors = []
        with tempfile.TemporaryDirectory(prefix="benchlab-ios-inputs-") as tmp:
            for name, samples in arrays:
                local = Path(tmp) / "input.bin"
                local.write_bytes(np.ascontiguousarray(samples, dtype=samples.dtype.newbyteorder("<")).tobytes())
                sha = path_sha256(local)
                remote = f"{INPUTS}/{sha[:16]}.{samples.dtype.name}"
                if (remote, sha) not in self._on_phone:
                    files.ensure(local, remote, sha)
                    self._on_phone.add((remote, sha))
                tensors.append(TensorFile(name=name, file=remote, shape=(1, *samples.shape[1:]),
                                          samples=len(samples), dtype=samples.dtype.name))
        return tuple(tensors)

    def _pull_outputs(self, files: ContainerFiles, result: RunnerResult, io: ModelIO, job: Job) -> Feeds:
        """Every output on every evaluation sample, ``(samples, ...)`` by the model's output name
        (``model_io.model_outputs``: quantized ones as float32).

        Raises ProtocolError for a file that does not match its record, DataMismatch when an
        output the model declares is missing."""
        pulled = {}
        with tempfile.TemporaryDirectory(prefix="benchlab-ios-outputs-") as tmp:
            for tensor in result.outputs:
                local = Path(tmp) / tensor.file
                files.pull_output(tensor.file, local)
                pulled[tensor.name] = _outputs_array(np.array(read_tensor_file(local, tensor)), tensor)
        return model_outputs(pulled, io, _variant_text(job))

    # --- results -------------------------------------------------------------------------------

    def _refusal(self, job: Job) -> str | None:
        """Why this phone cannot run the job at all, before anything is pushed; None when it can."""
        units = job.accelerator.options.get("compute_units")
        if job.variant.format == "mlpackage" and units == "cpuAndNeuralEngine" and self.product is not None \
                and not self.product.neural_engine:
            return (f"compute units cpuAndNeuralEngine: {self.product.name} ({self.product.chip}) has no Neural "
                    "Engine Core ML can use, so Core ML would fall back to the CPU; measure cpuOnly instead")
        return None

    def _battery(self) -> BatteryReading | None:
        try:
            return self.services.battery(self.udid)
        except PhoneError as exc:
            log.debug("%s: battery not read: %s", self.name, exc)
            return None

    def _measurement(self, base: Measurement, results: list[tuple[RunnerJob, RunnerResult]],
                     outputs: Feeds | None, before: BatteryReading | None,
                     after: BatteryReading | None, recordings: Sequence[ImpactRecording] = ()) -> Measurement:
        """One Measurement from the app's result for each repeat: every iteration of each kept.

        ``outputs`` holds every output of the first repeat by the model's output name (each
        ``(samples, ...)``); the app's own result, with each output file's name, shape and dtype,
        stays in ``runner_output``. Delegation is the first repeat's (each repeat builds the same graph); a delegate or Core
        ML compute units that left part of the model on the CPU flag ``delegate-fallback`` (as on
        Android, not for ``cpu``, where XNNPACK leaving some nodes to LiteRT's kernels is normal).
        Xcode's energy gauge readings, when recorded, give the repeat's energy impact
        (``metric_values``, ios_runner.energy_impact) and are kept raw in ``runner_output``, one JSON
        line ``{"energy_impact": [{"pid": ..., "replies": [...]}]}`` after the app's results.
        """
        samples = [result_to_samples(result, runner_job) for runner_job, result in results]
        first, last = samples[0], samples[-1]
        runner_output = "\n".join(result.model_dump_json() for _, result in results)
        if recordings:
            runner_output += "\n" + json.dumps({"energy_impact": [{"pid": r.pid, "replies": r.replies}
                                                                  for r in recordings]}, default=str)
        measured = replace(
            base, runner_version=runner_version(results[0][1]), runner_output=runner_output,
            init_us=first.init_us, first_us=first.first_us, warmup_us=first.warmup_us,
            samples_us=tuple(repeat for s in samples for repeat in s.samples_us),
            memory_init_mb=first.memory_init_mb,
            peak_memory_mb=max((s.peak_memory_mb for s in samples if s.peak_memory_mb is not None), default=None),
            conditions_before=_merge(first.conditions_before, before),
            conditions_after=_merge(last.conditions_after, after),
            compile_us=first.compile_us, delegated_nodes=first.delegated_nodes, total_nodes=first.total_nodes,
            delegate_applied=first.delegate_applied, op_profile=first.op_profile, op_profile_note=first.op_profile_note,
            flags=(DELEGATE_FALLBACK,) if base.accelerator.kind != "cpu" and first.delegate_applied in ("partial", "no")
            else (),
            outputs=outputs, finished_at=now_iso(),
            metric_values=energy_impact.repeat_values([(r.pid, r.replies) for r in recordings]),
        )
        if last.status != "ok":
            error = last.error or f"the runner app answered {last.status}"
            return replace(measured, status=last.status, error=_with_hint(error, app_error_hint(error)),  # type: ignore[arg-type]
                           outputs=None)
        return measured
