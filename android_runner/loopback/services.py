"""The loopback device's services: shell/exec, sync, and the device's file layout.

The device's ``/`` is a folder on this machine (``root_dir``). Two rules connect the two:

- **sync** maps every absolute device path into the root (``/data/local/tmp/m.tflite`` →
  ``ROOT/data/local/tmp/m.tflite``); ``..`` cannot climb out of it.
- **shell** runs the command line with this machine's ``/bin/sh`` (dash; Android's is mksh) in
  ``ROOT`` after rewriting absolute device paths that start with one of ``SHELL_PREFIXES``
  (/data, /sdcard, /storage, /system, /vendor, /sys/devices/system/cpu, /proc/cpuinfo,
  /proc/meminfo) to their place in the root. Other paths (``/bin/ls``, ``/proc/self``) are this
  machine's. Output has ``ROOT`` turned back into ``/``, so ``sha256sum /data/local/tmp/x`` prints
  the device path. stdout and stderr are merged, as shell protocol v1 does.

Commands that answer from the personality are small scripts on the shell's ``PATH`` (and under
``/system/bin``), so they compose with pipes and ``;`` like the real ones:

- ``getprop`` (all properties, sorted) and ``getprop KEY [DEFAULT]``;
- ``dumpsys thermalservice`` and ``dumpsys battery`` (other services: "Can't find service: X");
  ``dumpsys android.hardware.power.stats.IPowerStats/default`` on a phone with power rails
  (power_rails.py);
- ``taskset [-a] MASK CMD ...`` checks the mask against the phone's core count, then runs CMD
  unpinned (this machine has other cores);
- ``cat /sys/devices/system/cpu/cpuN/cpufreq/cpuinfo_max_freq``, ``cat /proc/cpuinfo`` and
  ``cat /proc/meminfo`` read files laid out in the root.

A command line made only of such answers from recordings — ``dumpsys SERVICE``, ``getprop
[KEY [DEFAULT]]`` and ``echo WORD...`` (its only expansion a final ``$?``), joined by ``;``, with
no quoting, globbing or redirection: what a harness sends to read a phone's conditions — is
answered by the device itself with the same bytes those scripts print (`answer_in_process`), as
adbd's shell would not, but a phone computes its answers on its own chip: here the three processes
of ``sh -c`` + script + ``cat`` cost about 3 ms of this machine's CPU, most of a 64-phone farm's
(benchmarks/farm.py). Anything else, or a line a fault switch names, still runs in ``sh``.

``df`` reports the bytes left while the disk-full fault is on. ``sha256sum``, ``stat``, ``df``, ``rm``, ``mkdir -p``, ``chmod``, ``ls`` ... are this machine's
coreutils (toybox prints the same formats for what a harness uses).

A command word ending in ``benchmark_model`` (or ``litert_lm_main``, ``executor_runner``, ``llama_main``) that names a
file pushed to the device (present and executable — otherwise the shell reports "not found" /
"Permission denied" as a phone would) runs ``fake_benchmark_model.py`` (``fake_litert_lm_main.py``,
``fake_executor_runner.py``, ``fake_llama_main.py``) with this Python; a phone that replays a
recorded run runs its own ``/bin/sh`` benchmark_model instead, which sleeps rather than computes
(replay.py).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import select
import shlex
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import power_rails, protocol

if TYPE_CHECKING:
    from .device import LoopbackAdbDevice, Stream

_TICK_S = 0.2
_HERE = Path(__file__).resolve().parent
FAKE_BENCHMARK_MODEL = _HERE / "fake_benchmark_model.py"
FAKE_LITERT_LM_MAIN = _HERE / "fake_litert_lm_main.py"
#: The stand-in for ExecuTorch's executor_runner (real inference with executorch.runtime on this machine).
FAKE_EXECUTOR_RUNNER = _HERE / "fake_executor_runner.py"
#: The stand-in for ExecuTorch's llama_main (real generation with TextLLMRunner on this machine).
FAKE_LLAMA_MAIN = _HERE / "fake_llama_main.py"
#: The stand-in for each tool a harness pushes, by the tool's file name.
STAND_INS = {"benchmark_model": FAKE_BENCHMARK_MODEL, "litert_lm_main": FAKE_LITERT_LM_MAIN,
             "executor_runner": FAKE_EXECUTOR_RUNNER, "llama_main": FAKE_LLAMA_MAIN}
#: The file name of a phone's own benchmark_model script in its support bin folder (replay.py).
REPLAY_SCRIPT = "benchmark_model-replay"

SHELL_PREFIXES = (
    "/data", "/sdcard", "/storage", "/system", "/vendor",
    "/sys/devices/system/cpu", "/proc/cpuinfo", "/proc/meminfo",
)
# A prefix counts only at the start of a path: not preceded by a path or word character (so
# /tmp/x/data stays), and followed by "/" or the end of the word.
_PREFIX_RE = re.compile(
    r"(?<![\w.~$@%+/-])("
    + "|".join(re.escape(p) for p in sorted(SHELL_PREFIXES, key=len, reverse=True))
    + r")(?=/|$|[\s'\";&|)<>:,=`])"
)
# The stand-in tool in command position only: at the start, after a separator, a `{` or a shell keyword,
# or after `taskset MASK` (so `sha256sum .../benchmark_model` still hashes the pushed file).
_TOOL_RE = re.compile(
    r"(^|[;&|(`]\s*|(?<![^\s;&|(])\{\s+|\b(?:do|then|else)\s+|\btaskset\s+\S+\s+)"
    r"((?:[^\s;&|()<>'\"`]*/)?(benchmark_model|litert_lm_main|executor_runner|llama_main))(?=[\s;&|)<>`]|$)"
)

_SIGNAL_MESSAGES = {
    signal.SIGSEGV: "Segmentation fault",
    signal.SIGABRT: "Aborted",
    signal.SIGBUS: "Bus error",
    signal.SIGILL: "Illegal instruction",
    signal.SIGFPE: "Floating point exception",
    signal.SIGKILL: "Killed",
    signal.SIGTERM: "Terminated",
}


# --- paths ----------------------------------------------------------------------------------------


def device_to_host(root: Path, device_path: str) -> Path:
    """Return the host path of ``device_path`` inside ``root`` (relative paths start at ``/``)."""
    normalized = posixpath.normpath("/" + device_path.lstrip("/"))
    relative = normalized.lstrip("/")
    return root / relative if relative else root


def stand_in_commands(support: Path) -> dict[str, str]:
    """Return the shell words that run each tool's stand-in on the device whose support folder
    is `support`: the Python stand-ins, or the phone's own benchmark_model script when
    lay_out_device wrote one (a replaying phone, replay.py)."""
    commands = {tool: f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}" for tool, script in STAND_INS.items()}
    own = support / "bin" / REPLAY_SCRIPT
    if own.exists():
        commands["benchmark_model"] = shlex.quote(str(own))
    return commands


def rewrite_command(root: Path, command: str, stand_ins: dict[str, str]) -> str:
    """Return ``command`` with device paths under SHELL_PREFIXES moved into ``root``, and the
    stand-in substituted for a pushed benchmark_model binary (`stand_ins`: the shell words per
    tool, from `stand_in_commands`)."""
    mapped = _PREFIX_RE.sub(lambda m: str(root) + m.group(1), command)

    def tool(match: re.Match[str]) -> str:
        prefix, word = match.group(1), match.group(2)
        if "/" not in word:
            return prefix + word  # not on an Android PATH either: let the shell say "not found"
        if word.startswith("/"):
            target = Path(word)
            if not (target.is_file() and os.access(target, os.X_OK)):
                return prefix + word  # not pushed / not executable: the shell reports it as a phone would
        return f"{prefix}{stand_ins[match.group(3)]}"

    return _TOOL_RE.sub(tool, mapped)


class OutputMapper:
    """Turn host paths inside ``root`` back into device paths in a byte stream.

    ``ROOT/x`` becomes ``/x`` and a bare ``ROOT`` becomes ``/``. A chunk that ends with the start
    of ``ROOT`` keeps that tail until the next chunk shows whether it is one.
    """

    def __init__(self, root: Path):
        self._root = str(root).encode()
        # ROOT/x -> /x and ROOT -> /, but not ROOT2 (a sibling folder whose name extends ROOT).
        self._pattern = re.compile(re.escape(self._root) + rb"(?![\w.\-])/?")
        self._held = b""

    def _map(self, data: bytes) -> bytes:
        return self._pattern.sub(b"/", data)

    def feed(self, chunk: bytes) -> bytes:
        """Return the mapped bytes of ``chunk`` that are safe to send now."""
        data = self._held + chunk
        self._held = b""
        # Hold back a tail that could be the start of ROOT (at most len(ROOT) bytes).
        for size in range(min(len(self._root), len(data)), 0, -1):
            if self._root.startswith(data[-size:]):
                self._held = data[-size:]
                data = data[:-size]
                break
        return self._map(data)

    def flush(self) -> bytes:
        """Return whatever is still held back (end of output)."""
        data, self._held = self._held, b""
        return self._map(data)


# --- the device's files ---------------------------------------------------------------------------

_GETPROP = """#!/bin/sh
# getprop [KEY [DEFAULT]] for the loopback device: properties live in one file per key.
case $# in
  0) exec cat '{support}/getprop.txt' ;;
esac
case "$1" in
  */*|.*) printf '%s\\n' "$2"; exit 0 ;;
esac
if [ -f '{support}/props/'"$1" ]; then cat '{support}/props/'"$1"; echo; else printf '%s\\n' "$2"; fi
"""

_DUMPSYS = """#!/bin/sh
# dumpsys SERVICE for the loopback device: thermalservice and battery answer from recordings.
if [ $# -eq 0 ]; then
  echo 'Currently running services:'
  for s in '{support}'/dumpsys/*; do echo "  ${{s##*/}}"; done
  exit 0
fi
case "$1" in
  {rails_service}) if [ -n "${rails_env}" ]; then exec '{python}' '{rails_script}'; fi ;;
esac
case "$1" in
  */*|.*|-*) echo "Can't find service: $1"; exit 0 ;;
esac
if [ -f '{support}/dumpsys/'"$1" ]; then exec cat '{support}/dumpsys/'"$1"; fi
echo "Can't find service: $1"
"""

_TASKSET = """#!/bin/sh
# taskset [-a] MASK COMMAND... for the loopback device: the mask is checked against the phone's
# {cores} cores, then COMMAND runs unpinned (this machine's cores are not the phone's).
while [ $# -gt 0 ]; do
  case "$1" in
    -a) shift ;;
    -p|-ap|-pa) echo 'taskset: -p is not supported on the loopback device' >&2; exit 1 ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then echo 'usage: taskset [-ap] [mask] [PID | cmd [args...]]' >&2; exit 1; fi
mask=${{1#0x}}
case "$mask" in
  ''|*[!0-9a-fA-F]*) echo "taskset: bad mask '$1'" >&2; exit 1 ;;
esac
if [ $(( 0x$mask & {all_cores} )) -eq 0 ]; then
  echo "taskset: sched_setaffinity: Invalid argument" >&2; exit 1
fi
shift
exec "$@"
"""


_DF = """#!/bin/sh
# df for the loopback device: while the disk-full fault is on, /data reports the bytes left as
# toybox's `df -k` would; otherwise this machine's df answers.
if [ -n "$LOOPBACK_DISK_FREE_KB" ]; then
  echo 'Filesystem        1K-blocks     Used Available Use% Mounted on'
  echo "/dev/block/dm-46  115249236 $((115249236 - LOOPBACK_DISK_FREE_KB)) $LOOPBACK_DISK_FREE_KB  99% /data"
  exit 0
fi
exec /bin/df "$@"
"""


def read_props(support: Path) -> dict[str, str]:
    """Return the properties the device reports now."""
    folder = support / "props"
    return {item.name: item.read_text(encoding="utf-8") for item in folder.iterdir()}


def write_props(support: Path, props: dict[str, str]) -> None:
    """Store ``props`` as the device's properties (one file per key plus the getprop listing)."""
    folder = support / "props"
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in props.items():
        (folder / key).write_text(value, encoding="utf-8")
    listing = "".join(f"[{key}]: [{props[key]}]\n" for key in sorted(props))
    (support / "getprop.txt").write_text(listing, encoding="utf-8")


def _write_script(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)


def _ensure_symlink(link: Path, target: str) -> None:
    if not link.is_symlink() and not link.exists():
        link.symlink_to(target)


def lay_out_device(device: "LoopbackAdbDevice") -> None:
    """Create the device's folders and personality files under its root, and its helper scripts.

    Existing files under the root (e.g. a previous run's pushes) are kept.
    """
    root, support, p = device.root_dir, device.support_dir, device.personality
    for folder in ("data/local/tmp", "storage/emulated/0/Download", "system/bin", "vendor/lib64",
                   "proc", "sys/devices/system/cpu"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    _ensure_symlink(root / "sdcard", "storage/emulated/0")

    (root / "proc" / "cpuinfo").write_text(p.proc_cpuinfo, encoding="utf-8")
    (root / "proc" / "meminfo").write_text(p.proc_meminfo, encoding="utf-8")
    cpu_root = root / "sys" / "devices" / "system" / "cpu"
    last = p.num_cores - 1
    for name in ("possible", "present", "online"):
        (cpu_root / name).write_text(f"0-{last}\n", encoding="utf-8")
    for index, max_freq in enumerate(p.max_freqs_khz):
        cluster = [i for i, f in enumerate(p.max_freqs_khz) if f == max_freq]
        cpufreq = cpu_root / f"cpu{index}" / "cpufreq"
        cpufreq.mkdir(parents=True, exist_ok=True)
        files = {
            "cpuinfo_max_freq": max_freq, "scaling_max_freq": max_freq,
            "cpuinfo_min_freq": 300000, "scaling_min_freq": 300000, "scaling_cur_freq": max_freq,
            "scaling_governor": "schedutil", "related_cpus": " ".join(map(str, cluster)),
        }
        for name, value in files.items():
            (cpufreq / name).write_text(f"{value}\n", encoding="utf-8")
    for device_file in p.device_files:
        target = device_to_host(root, device_file)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(exist_ok=True)

    bin_dir = support / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (support / "dumpsys").mkdir(exist_ok=True)
    (support / "dumpsys" / "thermalservice").write_text(p.thermal_dump, encoding="utf-8")
    (support / "dumpsys" / "battery").write_text(p.battery_dump, encoding="utf-8")
    write_props(support, dict(p.props))
    _write_script(bin_dir / "getprop", _GETPROP.format(support=support))
    _write_script(bin_dir / "dumpsys", _DUMPSYS.format(
        support=support, rails_service=power_rails.SERVICE, rails_env=power_rails.RAILS_ENV,
        python=sys.executable, rails_script=Path(power_rails.__file__)))
    if p.power_rails:  # the counters start at the device's "boot"
        (support / "rails-start").write_text(str(power_rails.uptime_s()), encoding="utf-8")
    _write_script(bin_dir / "taskset", _TASKSET.format(cores=p.num_cores,
                                                       all_cores=(1 << p.num_cores) - 1))
    _write_script(bin_dir / "df", _DF)
    script = p.benchmark_model_script()
    if script is not None:
        _write_script(bin_dir / REPLAY_SCRIPT, script)
    system_bin = root / "system" / "bin"
    for name in ("getprop", "dumpsys", "taskset", "df"):
        link = system_bin / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(bin_dir / name)
    _ensure_symlink(system_bin / "sh", "/bin/sh")


# --- processes ------------------------------------------------------------------------------------


def kill_process_group(process: subprocess.Popen) -> None:
    """SIGKILL ``process`` and everything it started (it leads its own session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _shell_env(device: "LoopbackAdbDevice") -> dict[str, str]:
    root, support = device.root_dir, device.support_dir
    config = device.personality.benchmark_config()
    config["crash"] = device.faults.crash_benchmark
    config["hang"] = device.faults.hang_benchmark
    config["support_dir"] = str(support)  # where a thermal model keeps the phone's state (thermal.py)
    disk_free = device.faults.disk_full_after_bytes
    return {
        **({"LOOPBACK_DISK_FREE_KB": str(disk_free // 1024)} if disk_free is not None else {}),
        "PATH": f"{support / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(root),
        "TMPDIR": str(root / "data" / "local" / "tmp"),
        "LOOPBACK_ADB_DEVICE": json.dumps(config),
        **(power_rails.shell_env(device.personality.power_rails, support / "rails-ledger",
                                 float((support / "rails-start").read_text()))
           if device.personality.power_rails else {}),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def _matches(pattern: str | None, command: str) -> bool:
    return pattern is not None and pattern in command


#: A command line `answer_in_process` may answer: plain words (no quotes, globs, expansions,
#: redirections or paths), `;` between commands, and `$?` only at its very end.
_PLAIN_LINE_RE = re.compile(r"[\w.,:=+@ ;-]*(?:\$\?)?")


def answer_in_process(device: "LoopbackAdbDevice", command: str) -> bytes | None:
    """Return what ``sh -c COMMAND`` prints on this device when the line only reads recordings
    (see the module docstring: ``dumpsys SERVICE``, ``getprop [KEY [DEFAULT]]``, ``echo WORD...``
    joined by ``;``), read from the files the scripts read now; None for any other line (the shell
    runs it). Every such command exits 0, so a final ``$?`` is 0."""
    if not _PLAIN_LINE_RE.fullmatch(command):
        return None
    support = device.support_dir
    out: list[bytes] = []
    for part in command.split(";"):
        words = part.split()
        if not words:
            return None  # `;;` or a leading `;` is the shell's syntax error to report
        name, args = words[0], words[1:]
        if name == "echo" and not any(w.startswith("-") for w in args):  # dash's echo takes -n
            out.append(" ".join(w.replace("$?", "0") for w in args).encode() + b"\n")
        elif "$" in part:
            return None
        elif name == "dumpsys" and args and not args[0].startswith(("-", ".")):
            recording = support / "dumpsys" / args[0]
            out.append(recording.read_bytes() if recording.is_file() else f"Can't find service: {args[0]}\n".encode())
        elif name == "getprop" and not args:
            out.append((support / "getprop.txt").read_bytes())
        elif name == "getprop" and len(args) <= 2 and not args[0].startswith("."):
            value = support / "props" / args[0]
            out.append((value.read_bytes() if value.is_file() else " ".join(args[1:]).encode()) + b"\n")
        else:
            return None
    return b"".join(out)


def shell_service(device: "LoopbackAdbDevice", command: str | None) -> Callable[["Stream"], None]:
    """Return the service for ``shell:CMD`` / ``exec:CMD`` (or an interactive ``shell:``)."""

    def serve(stream: "Stream") -> None:
        faults = device.faults
        text = command if command is not None else ""
        device.commands.append(text)
        if command is not None and _matches(faults.reboot_during_shell, text):
            faults.reboot_during_shell = None  # one reboot, not one per command
            device.reboot(faults.reboot_down_s)
            return
        if command is not None and _matches(faults.hang_shell, text):
            while not stream.wait_closed(_TICK_S):  # accepted, never answered
                if device.stopping or stream.connection.dead:
                    return
            return
        if command is not None and not _matches(faults.drop_during_shell, text):
            answer = answer_in_process(device, text)
            if answer is not None:
                stream.write(answer)
                return
        argv = ["/bin/sh"]
        if command is not None:
            argv += ["-c", rewrite_command(device.root_dir, text, stand_in_commands(device.support_dir))]
        process = subprocess.Popen(
            argv, cwd=device.root_dir, env=_shell_env(device), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        device.register_process(process)
        try:
            _pump(device, stream, process, interactive=command is None,
                  drop=command is not None and _matches(faults.drop_during_shell, text))
        finally:
            kill_process_group(process)
            process.wait(timeout=5)
            device.unregister_process(process)

    return serve


def _feed_stdin(device: "LoopbackAdbDevice", stream: "Stream", process: subprocess.Popen,
                interactive: bool) -> None:
    assert process.stdin is not None
    try:
        while True:
            data = stream.read()  # None once the stream closes, which the service does when the process ends
            if data is None:
                break
            if interactive:
                data = rewrite_command(device.root_dir, data.decode("utf-8", "surrogateescape"),
                                       stand_in_commands(device.support_dir)).encode(
                    "utf-8", "surrogateescape")
            process.stdin.write(data)
            process.stdin.flush()
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            process.stdin.close()
        except OSError:
            pass


def _pump(device: "LoopbackAdbDevice", stream: "Stream", process: subprocess.Popen,
          interactive: bool, drop: bool) -> None:
    threading.Thread(target=_feed_stdin, args=(device, stream, process, interactive),
                     daemon=True).start()
    assert process.stdout is not None
    fd = process.stdout.fileno()
    mapper = OutputMapper(device.root_dir)
    started = time.monotonic()
    sent_output = False
    while True:
        if stream.closed or device.stopping:
            return  # the client hung up: the caller kills the process, as adbd's SIGHUP would
        if drop and (sent_output or time.monotonic() - started > 0.3):
            stream.connection.abort()
            return
        readable, _, _ = select.select([fd], [], [], _TICK_S if not drop else 0.05)
        if not readable:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        out = mapper.feed(chunk)
        if out:
            if not stream.write(out):
                return
            sent_output = True
    tail = mapper.flush()
    try:
        status = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        status = 0
    if status < 0:
        # The command was the shell's last word, so sh exec'd it and cannot report its death;
        # mksh on a phone would, so say it here.
        tail += (_SIGNAL_MESSAGES.get(-status, f"Signal {-status}") + "\n").encode()
    if tail:
        stream.write(tail)


def root_refusal_service(message: str) -> Callable[["Stream"], None]:
    """Return a service that prints ``message`` and closes (``root:`` on a user build)."""

    def serve(stream: "Stream") -> None:
        stream.write(message.encode())

    return serve


# --- sync -----------------------------------------------------------------------------------------


def _u32(data: bytes) -> int:
    return struct.unpack("<I", data)[0]


def sync_service(device: "LoopbackAdbDevice") -> Callable[["Stream"], None]:
    """Return the ``sync:`` service (file transfer v1)."""

    def serve(stream: "Stream") -> None:
        while True:
            header = stream.read_exact(8)
            if header is None:
                return
            request, length = header[:4], _u32(header[4:])
            if request == protocol.ID_QUIT:
                return
            if request not in (protocol.ID_STAT, protocol.ID_LIST, protocol.ID_SEND, protocol.ID_RECV):
                stream.write(protocol.pack_sync_status(
                    protocol.ID_FAIL, f"unknown command {_u32(request):08x}".encode()))
                return
            if length > protocol.SYNC_PATH_MAX:
                stream.write(protocol.pack_sync_status(protocol.ID_FAIL, b"path too long"))
                return
            argument = stream.read_exact(length)
            if argument is None:
                return
            path = argument.decode("utf-8", "surrogateescape")
            if request == protocol.ID_STAT:
                _sync_stat(device, stream, path)
            elif request == protocol.ID_LIST:
                _sync_list(device, stream, path)
            elif request == protocol.ID_RECV:
                if not _sync_recv(device, stream, path):
                    return
            elif not _sync_send(device, stream, path):
                return

    return serve


def _sync_stat(device: "LoopbackAdbDevice", stream: "Stream", path: str) -> None:
    try:
        st = os.lstat(device_to_host(device.root_dir, path))
        reply = protocol.pack_sync_stat_v1(st.st_mode, st.st_size, int(st.st_mtime))
    except OSError:
        reply = protocol.pack_sync_stat_v1(0, 0, 0)  # adbd's "does not exist"
    stream.write(reply)


def _sync_list(device: "LoopbackAdbDevice", stream: "Stream", path: str) -> None:
    host = device_to_host(device.root_dir, path)
    out = bytearray()
    try:
        names = [".", ".."] + sorted(os.listdir(host))
    except OSError:
        names = []  # adbd sends just DONE when opendir fails
    for name in names:
        if name == ".":
            entry = host
        elif name == "..":
            entry = host.parent if host != device.root_dir else host
        else:
            entry = host / name
        try:
            st = os.lstat(entry)
        except OSError:
            continue
        out += protocol.pack_sync_dent_v1(st.st_mode, st.st_size, int(st.st_mtime),
                                          name.encode("utf-8", "surrogateescape"))
    out += protocol.pack_sync_list_done()
    stream.write(bytes(out))


def _sync_recv(device: "LoopbackAdbDevice", stream: "Stream", path: str) -> bool:
    host = device_to_host(device.root_dir, path)
    try:
        handle = open(host, "rb")
    except OSError as exc:
        stream.write(protocol.pack_sync_status(protocol.ID_FAIL,
                                               f"open failed: {exc.strerror}".encode()))
        return False
    with handle:
        out = bytearray()
        while True:
            chunk = handle.read(protocol.SYNC_DATA_MAX)
            if not chunk:
                break
            out += protocol.pack_sync_data(chunk)
            if len(out) >= stream.connection.max_payload:
                if not stream.write(bytes(out)):
                    return False
                out.clear()
    out += protocol.pack_sync_status(protocol.ID_DONE)
    return stream.write(bytes(out))


def _open_for_send(host: Path, mode: int):
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(host, flags, mode & 0o7777)
    except FileNotFoundError:
        host.parent.mkdir(parents=True, exist_ok=True)  # adbd's secure_mkdirs
        fd = os.open(host, flags, mode & 0o7777)
    os.chmod(host, mode & 0o7777)
    return os.fdopen(fd, "wb")


def _sync_send(device: "LoopbackAdbDevice", stream: "Stream", spec: str) -> bool:
    """Receive one file (SEND path,mode; DATA...; DONE mtime). Return False to end the stream.

    Failures follow adbd's handle_send_file (file_sync_service.cpp): a file that cannot be created
    or a write that fails ("write failed: No space left on device") is answered with FAIL at once,
    while the client is still sending; adbd then reads and discards DATA until DONE and ends the
    sync service. adbd removes the partial file after the drain; here it goes before the FAIL,
    so a test that checks for it right after the FAIL does not race the drain.
    """
    faults = device.faults
    path, comma, mode_text = spec.rpartition(",")
    if not comma:
        path, mode_text = spec, "33188"  # 0100644: clients before 2013 sent no mode
    try:
        mode = int(mode_text)
    except ValueError:
        stream.write(protocol.pack_sync_status(protocol.ID_FAIL, b"invalid mode"))
        return False
    host = device_to_host(device.root_dir, path)
    is_link = stat.S_ISLNK(mode)
    failure: str | None = None
    handle = None
    link_target = bytearray()

    def fail(reason: str) -> None:
        nonlocal failure, handle
        failure = reason
        if handle is not None:
            handle.close()
            handle = None
            host.unlink(missing_ok=True)
        stream.write(protocol.pack_sync_status(protocol.ID_FAIL, reason.encode()))

    if not is_link:
        try:
            if host.is_dir():
                raise IsADirectoryError(21, os.strerror(21))
            handle = _open_for_send(host, mode)
        except OSError as exc:
            fail(f"couldn't create file: {exc.strerror}")
    received = written = 0
    try:
        while True:
            header = stream.read_exact(8)
            if header is None:
                return False
            chunk_id, size = header[:4], _u32(header[4:])
            if chunk_id == protocol.ID_DONE:
                mtime = size
                break
            if chunk_id != protocol.ID_DATA or size > protocol.SYNC_DATA_MAX:
                if failure is None:
                    stream.write(protocol.pack_sync_status(protocol.ID_FAIL, b"invalid data message"))
                return False
            data = stream.read_exact(size)
            if data is None:
                return False
            received += size
            drop_at = faults.drop_after_push_bytes
            if drop_at is not None and received >= drop_at:
                if handle is not None:
                    handle.write(data[: max(0, size - (received - drop_at))])
                    handle.flush()
                stream.connection.abort()  # the cable is pulled: the partial file stays
                return False
            if failure is not None:
                continue  # adbd drains DATA until DONE once it has reported the failure
            if is_link:
                link_target += data
            elif handle is not None:
                limit = faults.disk_full_after_bytes
                if limit is not None and written + size > limit:
                    handle.write(data[: max(0, limit - written)])
                    fail("write failed: No space left on device")
                else:
                    handle.write(data)
                    written += size
        if failure is not None:
            return False
        if is_link:
            try:
                if host.is_symlink() or host.exists():
                    host.unlink()
                host.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(bytes(link_target).decode("utf-8", "surrogateescape"), host)
            except OSError as exc:
                stream.write(protocol.pack_sync_status(
                    protocol.ID_FAIL, f"symlink failed: {exc.strerror}".encode()))
                return False
        else:
            assert handle is not None
            handle.close()
            handle = None
            os.utime(host, (mtime, mtime))
        return stream.write(protocol.pack_sync_status(protocol.ID_OKAY))
    finally:
        if handle is not None:
            handle.close()


# --- dispatch -------------------------------------------------------------------------------------


def resolve(device: "LoopbackAdbDevice", destination: str) -> Callable[["Stream"], None] | None:
    """Return the service for an OPEN destination, or None when the device does not offer it."""
    if destination.startswith("shell:"):
        command = destination[len("shell:"):]
        return shell_service(device, command if command else None)
    if destination.startswith("exec:"):
        return shell_service(device, destination[len("exec:"):])
    if destination == "sync:":
        return sync_service(device)
    if destination == "root:":
        return root_refusal_service("adbd cannot run as root in production builds\n")
    if destination == "unroot:":
        return root_refusal_service("adbd not running as root\n")
    return None  # shell,v2 / abb / reboot / tcpip / jdwp ...: not offered (not advertised)
