"""Farm hosts on this machine: where a LoopbackFarm's workers and their phones run.

A real farm's hosts are machines of their own: each worker reaches the scheduler over the
network and sees only the phones on its own USB bus. Two ways to play that here:

- `NamespaceHosts`: each host is a Linux network namespace with an address of its own. One
  bridge in this machine's namespace holds the scheduler's address (the bridge's), and each host
  joins it by a veth pair (its end named eth0 inside). A host's phones listen on the namespace's
  own 127.0.0.1, so only the worker started in that namespace reaches them; everything the
  scheduler and workers say crosses the veths, and nothing leaves the machine. Needs root and
  iproute2's `ip`; everything it makes (namespaces ``benchlab-PID-HOST``, bridge ``blfPID``,
  veths ``blfPIDhN``) it removes again, and a later run removes what a killed one left.
- `SharedHosts`: every host's processes share this machine's namespace and its 127.0.0.1 (the
  fallback without root; the same code path otherwise).

Both say how to start a command on a host (`command`), where the scheduler listens
(`scheduler_host`) and which port each phone of a host listens on (`phone_ports`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from benchlab.temp_dirs import process_alive

#: Each phone's ADB port in a namespace: adb's own numbering (5555, 5557, ...), counted across the
#: farm so every phone's serial (127.0.0.1:PORT) is unique even though each host has its own 127.0.0.1.
FIRST_ADB_PORT = 5555
#: How long processes left in a namespace get after SIGTERM before SIGKILL.
STOP_SECONDS = 10.0
_NAMESPACE = re.compile(r"^benchlab-(?P<pid>\d+)-\S+")


class HostsError(RuntimeError):
    """The hosts cannot be made here (not root, no `ip`, or `ip` refused)."""


class SharedHosts:
    """Every host's processes in this machine's own network namespace, phones on ephemeral ports."""

    isolated = False
    scheduler_host = "127.0.0.1"

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        """Return how to start `argv` on `host`: as it is."""
        return list(argv)

    def phone_ports(self, host: str, count: int) -> list[int]:
        """Return the port of each of the host's phones: 0, any free one."""
        return [0] * count

    def close(self) -> None:
        """Nothing to remove."""

    def __enter__(self) -> SharedHosts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def die_with_parent() -> None:
    """`preexec_fn` for a farm process: the kernel SIGTERMs it when the process that started it
    dies, even by SIGKILL, so no worker or phone outlives its farm (PR_SET_PDEATHSIG; it survives
    the exec of `ip netns exec`)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def namespace_problem() -> str | None:
    """Return why network namespaces cannot be made here (one line), or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2's `ip`, which is not on PATH"
    return None


class NamespaceHosts:
    """Each host a network namespace on one bridge; see the module docstring.

    Use as a context manager (or call `close`): it is made on enter and removed on exit, and
    `close` is safe to call again (from atexit or a signal handler). Raises HostsError on enter
    when not root, `ip` is missing or refuses.
    """

    isolated = True

    def __init__(self, names: Sequence[str]) -> None:
        if len(names) > 250:
            raise ValueError("at most 250 hosts fit one /24 bridge")
        self.names = list(names)
        self.pid = os.getpid()
        self.bridge = f"blf{self.pid}"
        self.namespaces = {name: f"benchlab-{self.pid}-{name}" for name in self.names}
        self.network: ipaddress.IPv4Network | None = None
        self.scheduler_host = ""
        self.addresses: dict[str, str] = {}
        self._made: list[tuple[str, ...]] = []  # what close() removes, in the order made

    def __enter__(self) -> NamespaceHosts:
        problem = namespace_problem()
        if problem is not None:
            raise HostsError(problem)
        sweep_stale()
        try:
            self._make()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make(self) -> None:
        self.network = _free_network()
        hosts = list(self.network.hosts())
        self.scheduler_host = str(hosts[0])
        _ip("link", "add", "name", self.bridge, "type", "bridge")
        self._made.append(("link", self.bridge))
        _ip("addr", "add", f"{self.scheduler_host}/{self.network.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for index, name in enumerate(self.names):
            namespace, veth = self.namespaces[name], f"{self.bridge}h{index}"
            _ip("netns", "add", namespace)
            self._made.append(("netns", namespace))
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            self._made.append(("link", veth))  # removing this end removes its peer
            _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")
            self.addresses[name] = str(hosts[index + 1])
            _ip("-n", namespace, "addr", "add", f"{self.addresses[name]}/{self.network.prefixlen}", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        """Return how to start `argv` inside `host`'s namespace."""
        return ["ip", "netns", "exec", self.namespaces[host], *argv]

    def phone_ports(self, host: str, count: int) -> list[int]:
        """Return the ADB port of each of the host's `count` phones, unique across the farm."""
        first = FIRST_ADB_PORT + 2 * count * self.names.index(host)
        return [first + 2 * k for k in range(count)]

    def close(self) -> None:
        """Stop what still runs in the namespaces, then remove them, the veths and the bridge.

        Idempotent; Ctrl-C and SIGTERM wait until it is done (a half-removed farm would be left).
        """
        if not self._made:
            return
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            _stop_processes([entry[1] for entry in self._made if entry[0] == "netns"])
            for kind, name in reversed(self._made):
                _remove(kind, name)
            self._made.clear()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def sweep_stale() -> None:
    """Remove namespaces, veths and bridges a killed run left (their creating process is gone).

    A namespace that still holds processes is left alone (with a warning): they are not ours to end.
    """
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        match = _NAMESPACE.match(line.split()[0]) if line.strip() else None
        if match is None or process_alive(int(match["pid"])):
            continue
        namespace = line.split()[0]
        if _namespace_pids(namespace):
            print(f"left {namespace} in place: processes still run in it", file=sys.stderr)
            continue
        _remove("netns", namespace)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for pid, name in {(int(m[1]), m[0]) for m in re.findall(r"^\d+: (blf(\d+)(?:h\d+)?)[@:]", links, re.M)}:
        if not process_alive(pid):
            _remove("link", name)



def _namespace_pids(namespace: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()]


def _stop_processes(namespaces: Sequence[str]) -> None:
    """SIGTERM what still runs in these namespaces (this run started it), SIGKILL it if it stays."""
    pids = [pid for namespace in namespaces for pid in _namespace_pids(namespace)]
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and any(process_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def _remove(kind: str, name: str) -> None:
    if kind == "netns":
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    else:
        subprocess.run(["ip", "link", "delete", name], capture_output=True)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise HostsError(f"ip {' '.join(args)}: {done.stderr.strip() or f'exit {done.returncode}'}")


def _free_network() -> ipaddress.IPv4Network:
    """Return a /24 in 10.213.0.0/16 that no address or route of this machine overlaps."""
    used = [ipaddress.ip_network(word, strict=False)
            for command in (["ip", "-4", "-o", "addr", "show"], ["ip", "-4", "route", "show"])
            for word in subprocess.run(command, capture_output=True, text=True).stdout.split()
            if re.fullmatch(r"\d+\.\d+\.\d+\.\d+(/\d+)?", word)]
    for candidate in ipaddress.ip_network("10.213.0.0/16").subnets(new_prefix=24):
        if not any(candidate.overlaps(network) for network in used):
            return candidate
    raise HostsError("no free /24 in 10.213.0.0/16 for the farm's bridge")
