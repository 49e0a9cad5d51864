"""Device farms on Dask distributed: the client side, which plans, ships, dispatches and owns the store.

A lab runs one Dask scheduler and one `benchlab worker` per USB host. Each worker discovers the
devices attached to its host (and the host itself) with the same `discover_devices` a laptop
uses, keeps the real Device objects in a WorkerPlugin, and advertises each as a Dask worker
resource: ``benchlab-device:<id>`` = 1, plus ``benchlab-tier:<tier>`` and
``benchlab-platform:<platform>`` counts as labels. It discovers again every few seconds while
none of its devices is measuring (a probe would disturb a benchmark), so phones plugged in or
pulled between runs are re-advertised.

The client (`benchlab run --cluster`) sees remote devices as `RemoteDevice` records (the
advertised DeviceInfo and Capabilities, and which worker owns it), so target selection and
planning are the local ones unchanged. `DaskExecutor` then ships the variant and evaluation files
each owning worker lacks (by content hash, cached on the worker), and submits **one task per
device** holding that device's whole interleaved schedule, with the device's resource and the
owning worker as a hard restriction. On the worker the task runs `run_device_schedule` itself, so
gating, the interleaved order, model failures ending a job and a lost phone's quarantine are
exactly those of the local executor. Each finished repeat is pickled into a `distributed.Queue`
at once; the client takes them out and is the only writer of the store.

One task per device rather than one per repeat: per-repeat tasks would need the client to
re-implement "a model failure runs no further repeats" and quarantine, and the scheduler's
choice among ready tasks of one resource would be free to break the interleaved order.

A worker that dies (killed, host lost) takes its task with it: the client sees the worker leave
the scheduler, drains what it had already sent, and records each of that device's repeats that
never came back as *interrupted* (cause "interrupted"), which `--resume` runs again; the other
workers go on. A task that lands on any other worker than the one it was planned for (the
scheduler reschedules a dead worker's tasks, e.g. onto its restarted process) returns without
running, so no repeat is ever measured twice.
"""

from __future__ import annotations

import io
import logging
import pickle
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.execute.devices import Device
from benchlab.execute.failures import failure_cause
from benchlab.execute.executor import ABORT_POLL_SECONDS, Sink, StopControl, not_run
from benchlab.execute.farm_worker import (
    CONNECT_TIMEOUT_SECONDS,
    Advertised,
    FarmError,
    advertised_devices,
    device_conditions,
    device_resource,
    missing_files,
    receive_file,
    run_schedule_on_owner,
    run_sustained_on_owner,
)
from benchlab.records import Capabilities, Conditions, FailureCause, Job, Measurement, MeasurementStatus

if TYPE_CHECKING:
    from distributed import Client, Event, Future, Queue

    from benchlab.execute.sustained import WindowSink

log = logging.getLogger(__name__)


class RemoteDevice:
    """A device owned by a farm worker, as the client sees it: enough to select, plan and record.

    Its repeats run only through `DaskExecutor` (the worker holds the real device); the gate runs
    there too, so `thermal_limits` is None here.
    """

    thermal_limits = None

    def __init__(self, advertised: Advertised, worker_address: str, client: Client) -> None:
        self.info = advertised.info
        self.worker_name = advertised.worker_name
        self.worker_address = worker_address
        self.resource = device_resource(advertised.info.id)
        self._capabilities = advertised.capabilities
        self._client = client

    def capabilities(self) -> Capabilities:
        """Return what the worker advertised."""
        return self._capabilities

    def conditions(self) -> Conditions:
        """Read thermal and battery state on the owning worker now. Raises DeviceError when gone."""
        answers = self._client.run(device_conditions, self.info.id, workers=[self.worker_address])
        return answers[self.worker_address]

    def prepare(self, artifacts: Sequence[Path]) -> None:
        """Refuse: files reach a farm device with its schedule (DaskExecutor ships them by hash)."""
        raise FarmError(f"{self.info.id} is on worker {self.worker_name}: run it through DaskExecutor")

    def run(self, job: Job) -> Measurement:
        """Refuse: a farm device's repeats run on its worker (DaskExecutor)."""
        raise FarmError(f"{self.info.id} is on worker {self.worker_name}: run it through DaskExecutor")

    def abort(self) -> None:
        """Nothing runs from here; DaskExecutor aborts through the run's abort event."""

    def close(self) -> None:
        """Nothing is held here; the worker keeps its device open for the next run."""


def connect(address: str) -> Client:
    """Return a Dask client of the scheduler at `address`. Raises FarmError when unreachable."""
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise FarmError(f"cannot reach the Dask scheduler at {address}: {exc}",
                        hint="start it with `dask scheduler` and pass its tcp://HOST:8786 address") from None


@contextmanager
def cluster_session(address: str) -> Iterator[tuple[list[RemoteDevice], DaskExecutor]]:
    """Connect to a farm; yield its devices and an executor for them; disconnect at the end.

    Raises FarmError when the scheduler cannot be reached or two workers claim one device.
    """
    client = connect(address)
    try:
        yield cluster_devices(client), DaskExecutor(client)
    finally:
        client.close()


def cluster_devices(client: Client) -> list[RemoteDevice]:
    """Return every device every benchlab worker of the cluster advertises, ordered by worker then id.

    Raises FarmError when two workers claim the same device (a phone reachable from two hosts):
    its repeats would run twice, so the lab must attach it to one.
    """
    answers: dict[str, list[Advertised]] = client.run(advertised_devices)
    devices: list[RemoteDevice] = []
    owners: dict[str, str] = {}
    for address in sorted(answers, key=lambda a: (str(answers[a][0].worker_name) if answers[a] else "", a)):
        for advertised in sorted(answers[address], key=lambda a: a.info.id):
            if advertised.info.id in owners:
                raise FarmError(f"{advertised.info.id} is advertised by workers {owners[advertised.info.id]} "
                                f"and {advertised.worker_name}",
                                hint="attach each phone to one farm host (or one worker's BENCHLAB_ANDROID_CONNECT)")
            owners[advertised.info.id] = advertised.worker_name
            devices.append(RemoteDevice(advertised, address, client))
    return devices


@dataclass
class _DeviceRun:
    """The client's view of one device's task: its schedule, what came back, how it ended."""

    device: RemoteDevice
    schedule: list[Job]
    future: Future | None
    delivered: set[tuple[str, int]]
    dead: set[str]


class DaskExecutor:
    """Runs each device's schedule on the worker that owns it; the client stays the store's writer."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def execute(self, repeats: Sequence[Job], devices: Sequence[Device], sink: Sink,
                stop: StopControl | None = None) -> None:
        """Ship files, submit one task per device, hand each repeat to the sink as it arrives.

        Returns when every device's task ended or its worker left (its missing repeats are then
        recorded as interrupted). Raises FarmError for a device that is not on the cluster.
        """
        from distributed import Event, Queue

        stop = stop or StopControl()
        remote = [_remote(d) for d in devices]
        run_key = f"benchlab-{uuid.uuid4().hex}"
        queue = Queue(f"{run_key}-measurements", client=self.client)
        stop_event = Event(f"{run_key}-stop", client=self.client)
        abort_event = Event(f"{run_key}-abort", client=self.client)
        files, unreachable = self._ship_files(repeats, remote)
        runs: list[_DeviceRun] = []
        for device in remote:
            schedule = [r for r in repeats if r.device_id == device.info.id]
            if not schedule:
                continue
            if device.worker_address in unreachable:  # it left between listing and shipping
                self._account_rest(_DeviceRun(device, schedule, None, set(), set()), sink, "interrupted",
                                   "interrupted", f"interrupted: worker {device.worker_name} unreachable: "
                                                  f"{unreachable[device.worker_address]}")
                continue
            future = self.client.submit(
                run_schedule_on_owner, device.info.id, device.worker_address, schedule, files, run_key,
                key=f"{run_key}-{device.info.id}", resources={device.resource: 1},
                workers=[device.worker_address], allow_other_workers=False, pure=False)
            runs.append(_DeviceRun(device, schedule, future, set(), set()))
        try:
            self._follow(runs, queue, sink, stop, stop_event, abort_event)
        except BaseException:
            _tell_workers(None, stop_event, abort_event)  # a second Ctrl-C or a client failure
            raise
        finally:
            for run in runs:
                run.future.cancel()
            queue.close()
            for event in (stop_event, abort_event):
                event.clear()  # the scheduler forgets a run's events once cleared

    def sustain(self, jobs: Sequence[Job], devices: Sequence[Device], sink: WindowSink, stop: StopControl,
                latencies_us: Mapping[str, float], say: Callable[[str], None]) -> None:
        """Run each device's sustained sessions on the worker that owns it (run_sustained_on_owner) and
        hand each window to `sink` as it arrives; the client stays the store's only writer.

        A worker that leaves mid-session ends its device's sessions here (said once): the windows it sent
        are kept, and `--resume` runs an incomplete session again whole. Files are shipped as for the
        repeats (already there, by content hash, after them).
        """
        from distributed import Event, Queue

        remote = [_remote(d) for d in devices]
        run_key = f"benchlab-{uuid.uuid4().hex}"
        queue = Queue(f"{run_key}-windows", client=self.client)
        stop_event = Event(f"{run_key}-stop", client=self.client)
        abort_event = Event(f"{run_key}-abort", client=self.client)
        files, unreachable = self._ship_files(jobs, remote)
        futures: dict[str, tuple[RemoteDevice, Future]] = {}
        for device in remote:
            mine = [job for job in jobs if job.device_id == device.info.id]
            if not mine:
                continue
            if device.worker_address in unreachable:
                say(f"sustained: {device.info.id} not run: worker {device.worker_name} unreachable: "
                    f"{unreachable[device.worker_address]}")
                continue
            futures[device.info.id] = (device, self.client.submit(
                run_sustained_on_owner, device.info.id, device.worker_address, mine, files, run_key,
                dict(latencies_us), key=f"{run_key}-sustained-{device.info.id}", resources={device.resource: 1},
                workers=[device.worker_address], allow_other_workers=False, pure=False))
        try:
            pending = dict(futures)
            while pending:
                self._drain_windows(queue, sink, wait_seconds=ABORT_POLL_SECONDS)
                _tell_workers(stop, stop_event, abort_event)
                live = self._live_workers()
                for device_id, (device, future) in list(pending.items()):
                    if future.done() or device.worker_address not in live:
                        del pending[device_id]
                        self._drain_windows(queue, sink)  # what it sent before it ended
                        error = None if future.done() and future.status == "finished" else (
                            f"worker {device.worker_name} left the cluster" if not future.done()
                            else f"on worker {device.worker_name}: {future.exception()}")
                        if error is not None:
                            say(f"sustained: {device_id}'s sessions end here: {error}")
        except BaseException:
            _tell_workers(None, stop_event, abort_event)  # a second Ctrl-C or a client failure
            raise
        finally:
            for _, future in futures.values():
                future.cancel()
            queue.close()
            for event in (stop_event, abort_event):
                event.clear()

    @staticmethod
    def _drain_windows(queue: Queue, sink: WindowSink, wait_seconds: float = 0.0) -> None:
        """Hand every window in the queue to the sink; when there is none, wait `wait_seconds`."""
        payloads = queue.get(batch=True)
        if not payloads:
            time.sleep(wait_seconds)
        for payload in payloads:
            sink(pickle.loads(payload))

    def _follow(self, runs: list[_DeviceRun], queue: Queue, sink: Sink, stop: StopControl,
                stop_event: Event, abort_event: Event) -> None:
        """Pass records on until every run ended; account for runs whose worker left."""
        by_id = {run.device.info.id: run for run in runs}
        pending = list(runs)
        while pending:
            self._drain(queue, by_id, sink, wait_seconds=ABORT_POLL_SECONDS)
            _tell_workers(stop, stop_event, abort_event)
            live = self._live_workers()
            for run in list(pending):
                if run.future.done():
                    pending.remove(run)
                    self._drain(queue, by_id, sink)  # it sent every record before it returned
                    self._ended(run, sink)
                elif run.device.worker_address not in live:
                    pending.remove(run)
                    run.future.cancel()
                    self._drain(queue, by_id, sink)  # what it sent before dying is in the queue
                    if not stop.stopping:
                        self._account_rest(run, sink, "interrupted", "interrupted",
                                           f"interrupted: worker {run.device.worker_name} left the cluster mid-run")

    def _live_workers(self) -> set[str]:
        """Return the addresses of the workers the scheduler knows now.

        Asked of the scheduler directly: `Client.scheduler_info()` returns an attribute that the
        client's own periodic refresh overwrites with a worker-less summary, so it can read empty.
        """
        return set(self.client.sync(self.client.scheduler.identity, n_workers=-1)["workers"])

    def _ended(self, run: _DeviceRun, sink: Sink) -> None:
        """Account for a run whose task finished: a task that raised leaves its rest as failed rows."""
        from distributed import CancelledError
        from distributed.scheduler import KilledWorker

        try:
            exc = run.future.exception()
        except CancelledError:
            exc = None
        if isinstance(exc, KilledWorker):  # the scheduler gave up on its worker(s) before we noticed
            self._account_rest(run, sink, "interrupted", "interrupted",
                               f"interrupted: worker {run.device.worker_name} died mid-run")
            return
        if exc is None:
            if run.future.status == "finished" and run.future.result() == -1:
                self._account_rest(run, sink, "interrupted", "interrupted",
                                   f"interrupted: worker {run.device.worker_name} was replaced mid-run")
            return
        self._account_rest(run, sink, "failed", failure_cause(exc), f"on worker {run.device.worker_name}: {exc}")

    @staticmethod
    def _drain(queue: Queue, by_id: dict[str, _DeviceRun], sink: Sink, wait_seconds: float = 0.0) -> None:
        """Hand every record in the queue to the sink; when there is none, wait `wait_seconds`.

        Polled without a timeout on the scheduler's side: a `get(timeout=...)` that expires is
        logged there as an error, five times a second.
        """
        payloads = queue.get(batch=True)
        if not payloads:
            time.sleep(wait_seconds)
        for payload in payloads:
            measurement: Measurement = pickle.loads(payload)
            run = by_id[measurement.device.id]
            run.delivered.add((measurement.job_id, measurement.repeat))
            if measurement.status in ("failed", "unsupported") and not measurement.retryable:  # the model's
                run.dead.add(measurement.job_id)
            sink(measurement)

    @staticmethod
    def _account_rest(run: _DeviceRun, sink: Sink, status: MeasurementStatus, cause: FailureCause,
                      error: str) -> None:
        """Record every repeat of the run that never came back (jobs already ended by the model aside)."""
        for job in run.schedule:
            if (job.job_id, job.repeat) not in run.delivered and job.job_id not in run.dead:
                run.delivered.add((job.job_id, job.repeat))
                sink(not_run(job, run.device, status, error, cause))

    def _ship_files(self, repeats: Sequence[Job],
                    devices: Sequence[RemoteDevice]) -> tuple[dict[str, str], dict[str, str]]:
        """Send each owning worker the variant and evaluation files it lacks.

        Returns the content hash of each file path, and the workers that could not be reached
        (address -> reason). Raises FarmError when a file arrives damaged.
        """
        from benchlab.file_hash import path_sha256

        paths = {p for r in repeats for p in (r.variant.path, r.eval_inputs_path) if p and Path(p).exists()}
        files = {path: path_sha256(Path(path)) for path in sorted(paths)}
        unreachable: dict[str, str] = {}
        live = self._live_workers()
        for address in dict.fromkeys(d.worker_address for d in devices):
            if address not in live:
                unreachable[address] = "it left the cluster"
                continue
            wanted = sorted({files[p] for r in repeats if _owner(r, devices) == address
                             for p in (r.variant.path, r.eval_inputs_path) if p in files})
            if not wanted:
                continue
            try:
                missing = set(self.client.run(missing_files, wanted, workers=[address])[address])
                for path, sha in files.items():
                    if sha in missing:
                        missing.discard(sha)
                        self.client.run(receive_file, sha, Path(path).name, _payload(Path(path)),
                                        Path(path).is_dir(), workers=[address])
            except OSError as exc:  # the worker left (Dask's comm errors are OSErrors)
                unreachable[address] = str(exc)
        return files, unreachable


def _tell_workers(stop: StopControl | None, stop_event: Event, abort_event: Event) -> None:
    """Pass the client's stop or abort on to the workers' tasks (`stop` None: abort, after a second
    Ctrl-C or a client failure). An abort sets the stop too: a task's watcher waits on the stop
    first, then on the abort (farm_worker._mirror_stop)."""
    if stop is None or stop.abort.is_set():
        abort_event.set()
        stop_event.set()
    elif stop.stop_dispatch.is_set():
        stop_event.set()


def _owner(job: Job, devices: Sequence[RemoteDevice]) -> str | None:
    return next((d.worker_address for d in devices if d.info.id == job.device_id), None)


def _payload(path: Path) -> bytes:
    """Return a file's bytes, or a folder (a Core ML .mlpackage) as an uncompressed tar."""
    if path.is_file():
        return path.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for child in sorted(path.iterdir()):
            archive.add(child, arcname=child.name)
    return buffer.getvalue()


def _remote(device: Device) -> RemoteDevice:
    if not isinstance(device, RemoteDevice):
        raise FarmError(f"{device.info.id} is not a farm device: run it without --cluster")
    return device
