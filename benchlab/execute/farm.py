"""Device farms on Dask distributed: workers that own their phones, one client that owns the store.

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
import os
import pickle
import platform
import shutil
import tarfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from distributed.diagnostics.plugin import WorkerPlugin

from benchlab.execute.devices import Device, discover_devices
from benchlab.errors import BenchlabError, DeviceError
from benchlab.execute.executor import ABORT_POLL_SECONDS, Sink, StopControl, not_run, run_device_schedule
from benchlab.records import (
    Capabilities,
    Conditions,
    DeviceInfo,
    FailureCause,
    Job,
    Measurement,
    MeasurementStatus,
)

if TYPE_CHECKING:
    from distributed import Client, Event, Future, Queue, Worker

log = logging.getLogger(__name__)

#: Where `--cluster` is read from when not given.
CLUSTER_ENV = "BENCHLAB_CLUSTER"
PLUGIN_NAME = "benchlab-farm"
DEVICE_RESOURCE = "benchlab-device:"
#: How often an idle worker looks for phones plugged in or pulled.
REDISCOVER_SECONDS = 10.0
#: How long the client waits for the scheduler to answer.
CONNECT_TIMEOUT_SECONDS = 10.0
#: How long a worker's first discovery may take before the client lists what it has.
DISCOVERY_TIMEOUT_SECONDS = 60.0


class FarmError(BenchlabError):
    """The cluster cannot be reached, or a device on it cannot be used as planned."""


def device_resource(device_id: str) -> str:
    """Return the Dask resource name a worker advertises for one of its devices."""
    return f"{DEVICE_RESOURCE}{device_id}"


def cluster_address(given: str | None) -> str | None:
    """Return the scheduler address from `--cluster`, else $BENCHLAB_CLUSTER, else None (no cluster)."""
    return given or os.environ.get(CLUSTER_ENV) or None


# --- the worker side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Advertised:
    """What a worker says about one device it owns."""

    info: DeviceInfo
    capabilities: Capabilities
    worker_name: str


class FarmPlugin(WorkerPlugin):
    """Keeps a worker's real devices, advertises them as resources, rediscovers while idle.

    Registered on the worker at start (`benchlab worker`). Devices are looked up by their
    advertised id: a phone's serial or UDID, and ``host@<worker name>`` for the host itself (every
    farm host has one, so the plain "host" would be ambiguous across the cluster).
    """

    name = PLUGIN_NAME

    def __init__(self, rediscover_seconds: float = REDISCOVER_SECONDS) -> None:
        self.rediscover_seconds = rediscover_seconds
        self.devices: dict[str, Device] = {}
        self.advertised: dict[str, Advertised] = {}
        self.busy: set[str] = set()
        self.lock = threading.Lock()
        self.discovered = threading.Event()
        self._closing = threading.Event()
        self._worker: Worker | None = None
        self._thread: threading.Thread | None = None

    def setup(self, worker: Worker) -> None:
        """Start discovering in a thread (ADB and usbmux calls must not block the worker's loop)."""
        self._worker = worker
        self._thread = threading.Thread(target=self._discover_loop, name="benchlab-discovery", daemon=True)
        self._thread.start()

    def teardown(self, worker: Worker) -> None:
        """Stop discovering and close every device."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=DISCOVERY_TIMEOUT_SECONDS)
        with self.lock:
            for device in self.devices.values():
                device.close()
            self.devices.clear()

    def _discover_loop(self) -> None:
        while not self._closing.is_set():
            with self.lock:
                idle = not self.busy
            if idle:
                try:
                    self.rediscover()
                except Exception:  # a discovery bug must not kill the worker: its devices stay as they were
                    log.exception("device discovery failed on this worker")
            self.discovered.set()
            self._closing.wait(self.rediscover_seconds)

    def rediscover(self) -> None:
        """Replace this worker's devices with those attached now and advertise them (those that
        left with 0)."""
        assert self._worker is not None
        worker_name = str(self._worker.name)
        found: dict[str, Device] = {}
        for device in discover_devices():
            advertised_id = f"host@{worker_name}" if device.info.platform == "host" else device.info.id
            found[advertised_id] = device
        with self.lock:
            if self.busy:  # a run started while we probed: keep what it uses, drop the new objects
                for device in found.values():
                    device.close()
                return
            for old in self.devices.values():
                old.close()
            before = _resources(self.advertised.values())
            self.devices = found
            self.advertised = {
                device_id: Advertised(
                    info=replace(device.info, id=device_id,
                                 transport=f"{device.info.transport or 'local'} via {worker_name}"),
                    capabilities=device.capabilities(), worker_name=worker_name)
                for device_id, device in found.items()
            }
            # What is no longer here goes to 0, so the client stops listing it and no task waits on it.
            resources = {**dict.fromkeys(before, 0.0), **_resources(self.advertised.values())}
        from distributed.utils import sync

        sync(self._worker.loop, self._worker.set_resources, **resources)


def _resources(advertised: Iterable[Advertised]) -> dict[str, float]:
    """Return the resources to advertise: 1 per device, and a count per platform and per tier."""
    resources: dict[str, float] = {}
    for entry in advertised:
        resources[device_resource(entry.info.id)] = 1.0
        for label in (f"benchlab-platform:{entry.info.platform}", f"benchlab-tier:{entry.info.tier or 'unknown'}"):
            resources[label] = resources.get(label, 0.0) + 1.0
    return resources


def _plugin(worker: Worker) -> FarmPlugin:
    plugin = worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, FarmPlugin):
        raise FarmError(f"worker {worker.name} is not a benchlab worker (start it with `benchlab worker`)")
    return plugin


async def _advertised_devices(dask_worker: Worker) -> list[Advertised]:
    """Run on each worker by the client: the devices it owns, after its first discovery.

    A coroutine, so waiting for discovery does not block the worker's event loop (which the
    discovery thread needs to advertise).
    """
    import asyncio

    try:
        plugin = _plugin(dask_worker)
    except FarmError:
        return []  # a plain Dask worker in the same cluster owns no devices
    await asyncio.to_thread(plugin.discovered.wait, DISCOVERY_TIMEOUT_SECONDS)
    with plugin.lock:
        return list(plugin.advertised.values())


async def _device_conditions(device_id: str, dask_worker: Worker) -> Conditions:
    """Run on the owning worker: a device's conditions, read off the event loop (ADB calls block)."""
    import asyncio

    plugin = _plugin(dask_worker)
    with plugin.lock:
        device = plugin.devices.get(device_id)
    if device is None:
        raise DeviceError(f"{device_id} is no longer attached to worker {dask_worker.name}")
    return await asyncio.to_thread(device.conditions)


def _file_cache() -> Path:
    from benchlab.optimize.cache import cache_dir

    return cache_dir() / "farm-files"


def _cached_path(sha256: str) -> Path | None:
    """Return the cached file (or folder) of this content hash on this worker, if any."""
    folder = _file_cache() / sha256
    entries = list(folder.iterdir()) if folder.is_dir() else []
    return entries[0] if entries else None


def _missing_files(hashes: Sequence[str]) -> list[str]:
    """Run on a worker: which of these content hashes it does not hold yet."""
    return [h for h in hashes if _cached_path(h) is None]


def _receive_file(sha256: str, name: str, payload: bytes, is_dir: bool) -> None:
    """Run on a worker: store one shipped file (or a folder sent as tar) under its content hash.

    Raises FarmError when the bytes that arrived do not have the hash they were sent under.
    """
    from benchlab.optimize.cache import path_sha256

    staging = _file_cache() / f".{sha256}.{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        target = staging / name
        if is_dir:
            with tarfile.open(fileobj=io.BytesIO(payload)) as archive:
                archive.extractall(target, filter="data")
        else:
            target.write_bytes(payload)
        if path_sha256(target) != sha256:
            raise FarmError(f"{name} arrived damaged (content hash differs from {sha256[:12]})")
        try:
            staging.rename(_file_cache() / sha256)  # atomic: a reader sees all of it or nothing
        except OSError:
            pass  # another run shipped the same content at the same time: theirs is as good
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_schedule_on_owner(device_id: str, owner: str, schedule: Sequence[Job], files: dict[str, str],
                          run_key: str) -> int:
    """The task a client submits per device: run its schedule here, stream each repeat back.

    `files` maps the client's path of each variant or evaluation file to its content hash (already
    shipped to this worker). Returns how many repeats ran, or -1 when this is not the worker the
    device was planned on (a rescheduled task must never measure twice). Raises FarmError when the
    device is no longer attached here.
    """
    from distributed import Queue, get_worker

    worker = get_worker()
    if worker.address != owner:
        return -1
    plugin = _plugin(worker)
    with plugin.lock:
        device = plugin.devices.get(device_id)
        advertised = plugin.advertised.get(device_id)
        if device is None or advertised is None:
            raise FarmError(f"{device_id} is no longer attached to worker {worker.name}")
        plugin.busy.add(device_id)
    originals = {(job.job_id, job.repeat): job for job in schedule}
    queue = Queue(f"{run_key}-measurements")
    sent = 0

    def send(measurement: Measurement) -> Measurement:
        nonlocal sent
        original = originals[(measurement.job_id, measurement.repeat)]
        measurement = replace(measurement, variant=original.variant, device=advertised.info)
        queue.put(pickle.dumps(measurement))
        sent += 1
        return measurement

    stop = StopControl()
    finished = threading.Event()
    watcher = threading.Thread(target=_mirror_stop, args=(run_key, stop, finished, device), daemon=True)
    watcher.start()
    try:
        run_device_schedule(device, [_localized(job, files) for job in schedule], send, stop)
    finally:
        finished.set()
        watcher.join()
        with plugin.lock:
            plugin.busy.discard(device_id)
        queue.close()
    return sent


def _mirror_stop(run_key: str, stop: StopControl, finished: threading.Event, device: Device) -> None:
    """Copy the client's stop and abort requests (Dask Events) to this task's StopControl."""
    from distributed import Event

    stop_requested, abort_requested = Event(f"{run_key}-stop"), Event(f"{run_key}-abort")
    while not finished.wait(ABORT_POLL_SECONDS):
        if abort_requested.is_set():
            stop.abort.set()
            device.abort()
            return
        if stop_requested.is_set():
            stop.stop_dispatch.set()


def _localized(job: Job, files: dict[str, str]) -> Job:
    """Return the job with the client's file paths replaced by this worker's cached copies."""
    def local(path: str | None) -> str | None:
        if path is None or path not in files:
            return path
        cached = _cached_path(files[path])
        if cached is None:
            raise FarmError(f"{Path(path).name} was not shipped to this worker")
        return str(cached)

    return replace(job, variant=replace(job.variant, path=local(job.variant.path)),
                   eval_inputs_path=local(job.eval_inputs_path))


def serve_worker(scheduler: str, name: str | None = None, nthreads: int = 32,
                 rediscover_seconds: float = REDISCOVER_SECONDS) -> None:
    """Run a Dask worker that owns this host's devices until SIGINT or SIGTERM closes it.

    Closing tells the scheduler (the client then records this worker's unfinished repeats as
    interrupted) and closes every device. `nthreads` bounds how many devices measure at once here
    (one thread per device schedule).
    """
    import asyncio
    import signal

    from distributed import Worker

    async def serve() -> None:
        async with Worker(scheduler, name=name or platform.node(), nthreads=nthreads,
                          plugins={FarmPlugin(rediscover_seconds)}) as worker:
            for number in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(number, lambda: asyncio.ensure_future(worker.close()))
            await worker.finished()

    asyncio.run(serve())


# --- the client side ----------------------------------------------------------------------------


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
        answers = self._client.run(_device_conditions, self.info.id, workers=[self.worker_address])
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
    answers: dict[str, list[Advertised]] = client.run(_advertised_devices)
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
            abort_event.set()  # a second Ctrl-C or a client failure: the workers stop at once
            raise
        finally:
            for run in runs:
                run.future.cancel()
            queue.close()
            for event in (stop_event, abort_event):
                event.clear()  # the scheduler forgets a run's events once cleared

    def _follow(self, runs: list[_DeviceRun], queue: Queue, sink: Sink, stop: StopControl,
                stop_event: Event, abort_event: Event) -> None:
        """Pass records on until every run ended; account for runs whose worker left."""
        by_id = {run.device.info.id: run for run in runs}
        pending = list(runs)
        while pending:
            self._drain(queue, by_id, sink, wait_seconds=ABORT_POLL_SECONDS)
            if stop.abort.is_set():
                abort_event.set()
            elif stop.stop_dispatch.is_set():
                stop_event.set()
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
        cause = "device" if isinstance(exc, DeviceError) else "harness"
        self._account_rest(run, sink, "failed", cause, f"on worker {run.device.worker_name}: {exc}")

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
            if measurement.status in ("failed", "unsupported") and measurement.failure_cause in (None, "model"):
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
        from benchlab.optimize.cache import path_sha256

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
                missing = set(self.client.run(_missing_files, wanted, workers=[address])[address])
                for path, sha in files.items():
                    if sha in missing:
                        missing.discard(sha)
                        self.client.run(_receive_file, sha, Path(path).name, _payload(Path(path)),
                                        Path(path).is_dir(), workers=[address])
            except OSError as exc:  # the worker left (Dask's comm errors are OSErrors)
                unreachable[address] = str(exc)
        return files, unreachable


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
