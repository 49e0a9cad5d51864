"""The worker side of a device farm: a Dask worker that owns the phones of its host.

`benchlab worker --scheduler tcp://HOST:8786` runs `serve_worker`: the worker discovers the
devices attached to its host (and the host itself) with the same `discover_devices` a laptop
uses, keeps the real Device objects in a WorkerPlugin, and advertises each as a Dask worker
resource: ``benchlab-device:<id>`` = 1, plus ``benchlab-tier:<tier>`` and
``benchlab-platform:<platform>`` counts as labels. It discovers again every few seconds while
none of its devices is measuring (a probe would disturb a benchmark), so phones plugged in or
pulled between runs are re-advertised. Files arrive by content hash into a cache of the worker's
own, and `run_schedule_on_owner` runs one device's interleaved schedule there, sending each
finished repeat back to the client. The client side is benchlab.execute.farm.
"""

from __future__ import annotations

import io
import logging
import pickle
import platform
import shutil
import tarfile
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from distributed.diagnostics.plugin import WorkerPlugin

from benchlab.execute.farm_address import check_scheduler_address
from benchlab.execute.devices import Device, discover_devices
from benchlab.errors import BenchlabError, DeviceError
from benchlab.execute.executor import StopControl, run_device_schedule
from benchlab.records import (
    Capabilities,
    Conditions,
    DeviceInfo,
    Job,
    Measurement,
)

if TYPE_CHECKING:
    from distributed import Worker

log = logging.getLogger(__name__)

#: Where `--cluster` is read from when not given.
PLUGIN_NAME = "benchlab-farm"
DEVICE_RESOURCE = "benchlab-device:"
#: How often an idle worker looks for phones plugged in or pulled.
REDISCOVER_SECONDS = 10.0
#: How long the client waits for the scheduler to answer.
CONNECT_TIMEOUT_SECONDS = 10.0
#: How long one long poll of a task's stop watcher waits on the scheduler (a stop answers it at once).
STOP_WATCH_SECONDS = 5.0
#: How long a worker's first discovery may take before the client lists what it has.
DISCOVERY_TIMEOUT_SECONDS = 60.0


class FarmError(BenchlabError):
    """The cluster cannot be reached, or a device on it cannot be used as planned."""


def device_resource(device_id: str) -> str:
    """Return the Dask resource name a worker advertises for one of its devices."""
    return f"{DEVICE_RESOURCE}{device_id}"


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


async def advertised_devices(dask_worker: Worker) -> list[Advertised]:
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


async def device_conditions(device_id: str, dask_worker: Worker) -> Conditions:
    """Run on the owning worker: a device's conditions, read off the event loop (ADB calls block)."""
    import asyncio

    plugin = _plugin(dask_worker)
    with plugin.lock:
        device = plugin.devices.get(device_id)
    if device is None:
        raise DeviceError(f"{device_id} is no longer attached to worker {dask_worker.name}")
    return await asyncio.to_thread(device.conditions)


def _file_cache() -> Path:
    from benchlab.cache_dir import cache_dir

    return cache_dir() / "farm-files"


def _cached_path(sha256: str) -> Path | None:
    """Return the cached file (or folder) of this content hash on this worker, if any."""
    folder = _file_cache() / sha256
    entries = list(folder.iterdir()) if folder.is_dir() else []
    return entries[0] if entries else None


def missing_files(hashes: Sequence[str]) -> list[str]:
    """Run on a worker: which of these content hashes it does not hold yet."""
    return [h for h in hashes if _cached_path(h) is None]


def receive_file(sha256: str, name: str, payload: bytes, is_dir: bool) -> None:
    """Run on a worker: store one shipped file (or a folder sent as tar) under its content hash.

    Raises FarmError when the bytes that arrived do not have the hash they were sent under.
    """
    from benchlab.file_hash import path_sha256

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


@contextmanager
def _owned_device(device_id: str, owner: str,
                  run_key: str) -> Iterator[tuple[Device, Advertised, StopControl] | None]:
    """Claim the device for one task on this worker: yield it, as advertised, with a StopControl that
    mirrors the client's stop and abort requests; None when this is not the worker the device was
    planned on (a rescheduled task must never measure twice). Raises FarmError when the device is
    no longer attached here."""
    from distributed import get_worker

    worker = get_worker()
    if worker.address != owner:
        yield None
        return
    plugin = _plugin(worker)
    with plugin.lock:
        device = plugin.devices.get(device_id)
        advertised = plugin.advertised.get(device_id)
        if device is None or advertised is None:
            raise FarmError(f"{device_id} is no longer attached to worker {worker.name}")
        plugin.busy.add(device_id)
    stop = StopControl()
    finished = threading.Event()
    watcher = threading.Thread(target=_mirror_stop, args=(run_key, stop, finished, device), daemon=True)
    watcher.start()
    try:
        yield device, advertised, stop
    finally:
        finished.set()  # the watcher sees it when its long poll returns, and does nothing more
        with plugin.lock:
            plugin.busy.discard(device_id)


def run_schedule_on_owner(device_id: str, owner: str, schedule: Sequence[Job], files: dict[str, str],
                          run_key: str) -> int:
    """The task a client submits per device: run its schedule here, stream each repeat back.

    `files` maps the client's path of each variant or evaluation file to its content hash (already
    shipped to this worker). Returns how many repeats ran, or -1 when this is not the worker the
    device was planned on (a rescheduled task must never measure twice). Raises FarmError when the
    device is no longer attached here.
    """
    from distributed import Queue

    originals = {(job.job_id, job.repeat): job for job in schedule}
    sent = 0
    with _owned_device(device_id, owner, run_key) as owned:
        if owned is None:
            return -1
        device, advertised, stop = owned
        queue = Queue(f"{run_key}-measurements")

        def send(measurement: Measurement) -> Measurement:
            nonlocal sent
            original = originals[(measurement.job_id, measurement.repeat)]
            measurement = replace(measurement, variant=original.variant, device=advertised.info)
            queue.put(pickle.dumps(measurement))
            sent += 1
            return measurement

        try:
            run_device_schedule(device, [_localized(job, files) for job in schedule], send, stop)
        finally:
            queue.close()
    return sent


def run_sustained_on_owner(device_id: str, owner: str, jobs: Sequence[Job], files: dict[str, str], run_key: str,
                           latencies_us: dict[str, float]) -> int:
    """The task a client submits per device for sustained mode: run its jobs' sessions here
    (benchlab.execute.sustained), stream each window back as it finishes, named by the device's
    advertised id. Returns how many windows were sent, -1 on the wrong worker (as run_schedule_on_owner)."""
    from distributed import Queue

    from benchlab.execute.sustained import SustainedWindow, run_sustained

    sent = 0
    with _owned_device(device_id, owner, run_key) as owned:
        if owned is None:
            return -1
        device, advertised, stop = owned
        queue = Queue(f"{run_key}-windows")

        def send(window: SustainedWindow) -> None:
            nonlocal sent
            queue.put(pickle.dumps(replace(window, device_id=advertised.info.id)))
            sent += 1

        # The worker's device may know itself by another id than the one advertised ("host" as "host@w1").
        local = [replace(_localized(job, files), device_id=device.info.id) for job in jobs]
        try:
            run_sustained(local, [device], send, stop, latencies_us, say=log.info)
        finally:
            queue.close()
    return sent


def _mirror_stop(run_key: str, stop: StopControl, finished: threading.Event, device: Device) -> None:
    """Copy the client's stop and abort requests (Dask Events) to this task's StopControl.

    One long poll at a time on the scheduler, answered the moment the client sets the event: first
    the stop (the client sets it for an abort too), then the abort. Asking `is_set()` every
    0.2 s instead cost the scheduler two requests per device five times a second
    (640 a second at 64 phones), which delayed every task's start on a busy scheduler.
    """
    from distributed import Event

    for requested, act in ((Event(f"{run_key}-stop"), stop.stop_dispatch.set),
                           (Event(f"{run_key}-abort"), lambda: (stop.abort.set(), device.abort()))):
        while not requested.wait(STOP_WATCH_SECONDS):
            if finished.is_set():
                return
        if finished.is_set():
            return
        act()


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
    (one thread per device schedule). Raises UsageError for a scheduler address Dask cannot use.
    """
    import asyncio
    import signal

    import dask
    from distributed import Worker

    check_scheduler_address(scheduler)
    # A farm host may be measuring itself (host@NAME), and a farm task mostly waits on its phone, so
    # an idle worker should cost next to nothing: no statistical profiler (it samples every thread's
    # stack 100 times a second), and Dask's housekeeping wakes seldom (by default the event-loop
    # watchdog ticks every 20 ms, the memory monitor every 100 ms, the system monitor every 500 ms).
    dask.config.set({"distributed.worker.profile.enabled": False,
                     "distributed.admin.tick.interval": "1s",
                     "distributed.worker.memory.monitor-interval": "1s",
                     "distributed.admin.system-monitor.interval": "2s"})

    async def serve() -> None:
        async with Worker(scheduler, name=name or platform.node(), nthreads=nthreads,
                          plugins={FarmPlugin(rediscover_seconds)}) as worker:
            for number in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(number, lambda: asyncio.ensure_future(worker.close()))
            await worker.finished()

    asyncio.run(serve())


# --- the client side ----------------------------------------------------------------------------
