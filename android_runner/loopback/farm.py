"""A device farm on this machine: a real Dask scheduler and `benchlab worker` processes, each
owning its own loopback phones (tests/test_farm.py and benchmarks/farm.py start one).

Each worker is told its phones' addresses with BENCHLAB_ANDROID_CONNECT, as a farm host would
find phones on its own USB bus, and gets its own benchlab cache (so variant files must be shipped
to it) and config folder (so it makes its own ADB key). The phones run in the calling process,
or are served elsewhere (serve_phones.py). Each worker runs on one of `hosts` (hosts.py): this
machine's own namespace, or a network namespace of its own, whose phones only it can reach.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .device import LoopbackAdbDevice
from .hosts import NamespaceHosts, SharedHosts, die_with_parent
from .personalities import Personality
from .ports import free_port

REPO = Path(__file__).resolve().parents[2]
#: Bound on waiting for a process to come up or a worker to advertise (never a timing assertion).
STARTUP_SECONDS = 90


class LoopbackFarm:
    """A scheduler and named workers, `layout` saying which phones each worker owns.

    The phones of `layout` run in this process (a test can switch their faults); `served` names,
    per worker, phones already served elsewhere (serve_phones.py) by their serials. `client_env` is
    what a process that reaches the phones itself (a local run) needs: the same ADB settings the
    workers get. `startup_seconds` bounds the wait for the scheduler and for the workers' phones.
    `hosts` (hosts.py) says where each worker runs; phones of `layout` live in this
    process's namespace, so namespaced hosts own only `served` phones (ValueError otherwise).
    """

    def __init__(self, root: Path, layout: Mapping[str, Sequence[Personality]],
                 rediscover_seconds: float = 10.0, served: Mapping[str, Sequence[str]] | None = None,
                 hosts: SharedHosts | NamespaceHosts | None = None, startup_seconds: float = STARTUP_SECONDS) -> None:
        if hosts is not None and hosts.isolated and any(layout.values()):
            raise ValueError("a namespaced host cannot reach phones served in this process: serve them on it")
        self.root = root
        self.startup_seconds = startup_seconds
        self.rediscover_seconds = rediscover_seconds
        self.served = {name: list(serials) for name, serials in (served or {}).items()}
        self.phones = {name: [LoopbackAdbDevice(p, root / f"{name}-phone{i}", accept_new_keys=True)
                              for i, p in enumerate(personalities)] for name, personalities in layout.items()}
        runner = root / "benchmark_model"
        runner.write_bytes(b"\x7fELF placeholder: the loopback phone runs its benchmark_model stand-in\n")
        self.client_env = {
            "BENCHLAB_ADB_KEY": str(root / "no-sdk-key"),
            "BENCHLAB_ADB_SERVER": "0",
            "BENCHLAB_ANDROID_BENCHMARK_MODEL": str(runner),
        }
        self.hosts = hosts if hosts is not None else SharedHosts([*layout, *self.served])
        self.port = free_port()  # checked on 127.0.0.1; nothing else of this machine binds the farm's bridge
        self.address = f"tcp://{self.hosts.scheduler_host}:{self.port}"
        self.workers: dict[str, subprocess.Popen] = {}
        self._scheduler: subprocess.Popen | None = None

    def __enter__(self) -> LoopbackFarm:
        try:
            for phone in self.all_phones:
                phone.start()
            self._scheduler = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", self.hosts.scheduler_host,
                 "--port", str(self.port), "--no-dashboard"],
                stdout=open(self.root / "scheduler.log", "ab"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
            self._wait_for_scheduler()
            for name in dict.fromkeys([*self.phones, *self.served]):
                self.start_worker(name)
            self.wait_for_devices([s for name in dict.fromkeys([*self.phones, *self.served])
                                   for s in self.serials(name)])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        processes = [*self.workers.values(), *([self._scheduler] if self._scheduler else [])]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for phone in self.all_phones:
            phone.stop()

    def process_ids(self) -> dict[str, int]:
        """Return the pid of the scheduler and of each running worker (by name)."""
        return {**({"scheduler": self._scheduler.pid} if self._scheduler else {}),
                **{name: process.pid for name, process in self.workers.items() if process.poll() is None}}

    @property
    def all_phones(self) -> list[LoopbackAdbDevice]:
        """Every phone of every worker, in layout order."""
        return [p for owned in self.phones.values() for p in owned]

    def serials(self, worker: str) -> list[str]:
        """Return the serials of the phones a worker owns."""
        return [p.serial for p in self.phones.get(worker, [])] + self.served.get(worker, [])

    def owner(self, phone: LoopbackAdbDevice) -> str:
        """Return the name of the worker that owns a phone."""
        return next(name for name, owned in self.phones.items() if phone in owned)

    def start_worker(self, name: str) -> None:
        """Start (or restart) the worker `name` with its phones."""
        env = {
            **os.environ, **self.client_env,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "BENCHLAB_ANDROID_CONNECT": ",".join(self.serials(name)),
            "BENCHLAB_CACHE_DIR": str(self.root / f"cache-{name}"),
            "BENCHLAB_CONFIG_DIR": str(self.root / f"config-{name}"),
        }
        self.workers[name] = subprocess.Popen(
            self.hosts.command(name, [sys.executable, "-m", "benchlab.cli", "worker", "--scheduler", self.address,
                                      "--name", name, "--rediscover-seconds", str(self.rediscover_seconds)]),
            env=env, stdout=open(self.root / f"{name}.log", "ab"), stderr=subprocess.STDOUT, cwd=self.root,
            preexec_fn=die_with_parent)

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker process, as a host that loses power."""
        self.workers[name].send_signal(signal.SIGKILL)
        self.workers[name].wait(timeout=30)

    def wait_for_devices(self, serials: Sequence[str], state: str = "ready") -> None:
        """Wait (bounded) until the cluster advertises exactly these phones, all in `state`.

        Raises RuntimeError naming what it advertises instead.
        """
        from benchlab.execute.farm import cluster_devices, connect

        client = connect(self.address)
        seen: dict[str, str] = {}
        try:
            deadline = time.monotonic() + self.startup_seconds
            while time.monotonic() < deadline:
                seen = {d.info.id: d.info.state for d in cluster_devices(client) if d.info.platform == "android"}
                if seen == dict.fromkeys(serials, state):
                    return
                time.sleep(0.5)
        finally:
            client.close()
        raise RuntimeError(f"the cluster advertises {seen}, expected {set(serials)} {state}; see {self.root}/*.log")

    def _wait_for_scheduler(self) -> None:
        assert self._scheduler is not None
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if self._scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited with {self._scheduler.returncode}")
            try:
                socket.create_connection((self.hosts.scheduler_host, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"dask scheduler did not listen on {self.port} within {self.startup_seconds} s")
