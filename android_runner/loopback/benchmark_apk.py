"""Stand-in for LiteRT's benchmark APK on the loopback Android device: ``am``, ``logcat`` and ``pm``.

``install_benchmark_apk(device)`` puts three commands on the loopback shell's PATH (files in the
device's support folder; nothing in the loopback device itself changes) and marks the APK
installed; ``install_benchmark_apk(device, installed=False)`` gives a phone with the commands but
without the APK, for a harness to install:

- ``pm path org.tensorflow.lite.benchmark`` prints ``package:/data/app/.../base.apk`` when
  "installed" (else nothing, exit 1, as pm does);
- ``pm install [-r] [-d] [-g] FILE`` checks FILE as pm's parser would at its first step (it must be
  a zip archive with an ``AndroidManifest.xml``: else ``Failure [INSTALL_PARSE_FAILED_NOT_APK: ...]``;
  a missing file: ``Error: Can't open file``; installed already without ``-r``:
  ``Failure [INSTALL_FAILED_ALREADY_EXISTS: ...]``), then copies it to the package's
  ``/data/app/.../base.apk``, marks it installed and prints ``Success``;
- ``am start [-S] -n org.tensorflow.lite.benchmark/.BenchmarkModelActivity --es args 'FLAGS'``
  prints am's ``Starting: Intent {...}`` line and returns at once, while the "app" runs in the
  background: it logs the Activity's ``Running TensorFlow Lite benchmark with args:`` line, runs
  the real stand-in benchmark_model (``fake_benchmark_model.py``: real LiteRT inference on this
  machine) with FLAGS split on whitespace as the APK's JNI splits them, and writes every line it
  prints into the device log in ``logcat -v threadtime`` form under tag ``tflite`` (``ERROR:`` lines
  at level E, the tool's prefixes dropped as the APK's Android logger does). A run that succeeds
  ends with the JNI listener's ERROR-level line ``Average inference timings in us: Warmup: ..,
  Init: .., Inference: ..Overall <memory>`` (benchmark_model_jni.cc, memory_info.cc formats), with
  the numbers the tool printed and this process's measured peak RSS; a run that fails logs no
  end line (the JNI ignores the tool's status); a run killed by a signal logs libc's
  ``Fatal signal`` line at level F. Another component gets am's "does not exist" error.
- ``am force-stop org.tensorflow.lite.benchmark`` kills the app's process group;
- ``logcat -c`` clears the log, ``logcat -d [-v threadtime] [-s TAG:LEVEL ...]`` prints it,
  filtered as logcat filters (default level of a bare tag: V).

``replay_logcat(device, text)`` makes every later app run log a recorded real APK run instead of
running the stand-in: after its own start line, the recorded lines' messages under their recorded
tags and levels, with this app process's pid and the time of logging (the recorded pid belongs to
a phone's process, and a reader keeps only the lines of the process that logged the start line).

``uninstall_benchmark_apk(device)`` makes pm and am answer as on a phone without the APK;
``stop_benchmark_apk(device)`` kills a run left behind (test teardown).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .device import LoopbackAdbDevice

PACKAGE = "org.tensorflow.lite.benchmark"
#: Where the installed package's APK lives on the device (Android 8+ adds a random part to it).
BASE_APK = f"/data/app/{PACKAGE}-1/base.apk"
ACTIVITY_SHORT = f"{PACKAGE}/.BenchmarkModelActivity"
ACTIVITY_LONG = f"{PACKAGE}/{PACKAGE}.BenchmarkModelActivity"
_HERE = Path(__file__).resolve().parent
_FAKE_TOOL = _HERE / "fake_benchmark_model.py"
_LEVELS = "VDIWEFA"
_PREFIX_LEVEL = {"INFO": "I", "WARNING": "W", "WARN": "W", "ERROR": "E", "VERBOSE": "V", "DEBUG": "D",
                 "FATAL": "F"}
_PREFIX = re.compile(r"^(?P<prefix>INFO|WARNING|WARN|ERROR|VERBOSE|DEBUG|FATAL): ?")
# A real phone's threadtime line: "05-30 15:16:44.857  3380  3380 I tflite  : message".
_RECORDED = re.compile(r"^\d\d-\d\d\s+\S+\s+\d+\s+\d+\s+(?P<level>[VDIWEFA])\s+(?P<tag>[^:]*?)\s*: ")
_STORED = re.compile(r"^\S+ \S+\s+\d+\s+\d+ (?P<level>[VDIWEFA]) (?P<tag>[^:]*?)\s*: ")
_SUMMARY = re.compile(r"Inference timings in us: Init: (?P<init>\S+), First inference: \S+, "
                      r"Warmup \(avg\): (?P<warmup>\S+), Inference \(avg\): (?P<avg>\S+)")


def _state_dir(support: Path) -> Path:
    return support / "benchmark_apk"


def install_benchmark_apk(device: "LoopbackAdbDevice", installed: bool = True) -> None:
    """Put ``am``, ``pm`` and ``logcat`` on the device's shell PATH and, with ``installed``, mark
    the APK installed (its base.apk is then not on the device: only ``pm install`` copies one)."""
    state = _state_dir(device.support_dir)
    state.mkdir(exist_ok=True)
    (state / "root").write_text(str(device.root_dir), encoding="utf-8")
    if installed:
        (state / "installed").touch()
    (state / "logcat.txt").touch()
    for command in ("am", "pm", "logcat"):
        script = device.support_dir / "bin" / command
        script.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{Path(__file__).resolve()}' "
                          f"'{state}' {command} \"$@\"\n", encoding="utf-8")
        script.chmod(0o755)


def uninstall_benchmark_apk(device: "LoopbackAdbDevice") -> None:
    """Make the device answer as one without the APK (pm finds nothing, am cannot start it)."""
    (_state_dir(device.support_dir) / "installed").unlink(missing_ok=True)


def replay_logcat(device: "LoopbackAdbDevice", recorded: str) -> None:
    """Make later app runs log ``recorded`` (``logcat -v threadtime`` lines of a real run)."""
    (_state_dir(device.support_dir) / "replay.txt").write_text(recorded, encoding="utf-8")


def stop_benchmark_apk(device: "LoopbackAdbDevice") -> None:
    """Kill an app run that is still going (what ``am force-stop`` does)."""
    _force_stop(_state_dir(device.support_dir))


def device_log(device: "LoopbackAdbDevice") -> str:
    """Return the whole device log as stored (for assertions)."""
    return (_state_dir(device.support_dir) / "logcat.txt").read_text(encoding="utf-8")


# --- the commands ---------------------------------------------------------------------------------


def _append(state: Path, level: str, tag: str, message: str) -> None:
    """Add one line to the device log, in logcat's threadtime layout, in one write."""
    now = time.time()
    stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    pid = os.getpid()
    line = f"{stamp} {pid:5d} {pid:5d} {level} {tag:<8}: {message}\n"
    fd = os.open(state / "logcat.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def _force_stop(state: Path) -> None:
    pid_file = state / "app.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    pid_file.unlink(missing_ok=True)


def _am(state: Path, argv: list[str]) -> int:
    if argv[:1] == ["force-stop"]:
        if argv[1:2] == [PACKAGE]:
            _force_stop(state)
        return 0
    if argv[:1] != ["start"]:
        print(f"am: unsupported on the loopback device: {' '.join(argv)}", file=sys.stderr)
        return 1
    component, extras, index = None, {}, 1
    while index < len(argv):
        arg = argv[index]
        if arg == "-n":
            component, index = argv[index + 1], index + 2
        elif arg == "--es":
            extras[argv[index + 1]], index = argv[index + 2], index + 3
        else:
            index += 1  # -S, -W ...
    print(f"Starting: Intent {{ cmp={component}{' (has extras)' if extras else ''} }}")
    if component not in (ACTIVITY_SHORT, ACTIVITY_LONG) or not (state / "installed").exists():
        full = component.replace("/.", f"/{component.split('/')[0]}.") if component else component
        print("Error type 3")
        print(f"Error: Activity class {{{full}}} does not exist.")
        return 1
    if "-S" in argv:
        _force_stop(state)
    app = subprocess.Popen([sys.executable, __file__, str(state), "_app", extras.get("args", "")],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)  # survives the shell that ran am, as an app does
    (state / "app.pid").write_text(str(app.pid))
    return 0


def _app(state: Path, args: str) -> int:
    """The app process: the Activity's onCreate running the benchmark, logging to logcat."""
    _append(state, "I", "tflite_BenchmarkModelActivity", f"Running TensorFlow Lite benchmark with args: {args}")
    replay = state / "replay.txt"
    if replay.exists():
        for line in replay.read_text(encoding="utf-8").splitlines():
            recorded = _RECORDED.match(line)
            if recorded:
                _append(state, recorded["level"], recorded["tag"], line[recorded.end():])
        return 0
    tool = subprocess.Popen([sys.executable, str(_FAKE_TOOL), *args.split()], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert tool.stdout is not None
    summary = None
    for raw in tool.stdout:
        line = raw.rstrip("\n")
        match = _PREFIX.match(line)
        level = _PREFIX_LEVEL[match["prefix"]] if match else "I"
        message = line[match.end():] if match else line
        summary = _SUMMARY.search(message) or summary
        _append(state, level, "tflite", message)
    status = tool.wait()
    if status < 0:
        sig = signal.Signals(-status)
        _append(state, "F", "libc", f"Fatal signal {-status} ({sig.name}), code 1 (SEGV_MAPERR), fault addr 0x0 "
                                    f"in tid {os.getpid()} (org.tensorflow.l), pid {os.getpid()} (org.tensorflow.l)")
    elif status == 0 and summary is not None:
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        # The heap figures come from mallinfo in the app; this process cannot see the tool's, so
        # they are printed as TFLite prints an unavailable value (-1 bytes).
        _append(state, "E", "tflite",
                f"Average inference timings in us: Warmup: {summary['warmup']}, Init: {summary['init']}, "
                f"Inference: {summary['avg']}Overall max resident set size/physical footprint = "
                f"{peak_kb / 1000.0} MB, total non-mmapped heap size = -1e-06 MB, in-use heap size = -1e-06 MB")
    return 0


def _pm(state: Path, argv: list[str]) -> int:
    if argv == ["path", PACKAGE]:
        if (state / "installed").exists():
            print(f"package:{BASE_APK}")
            return 0
        return 1
    if argv[:1] == ["install"] and len(argv) > 1:
        return _pm_install(state, argv[-1], replace="-r" in argv[1:-1])
    print(f"pm: unsupported on the loopback device: {' '.join(argv)}", file=sys.stderr)
    return 1


def _pm_install(state: Path, apk: str, replace: bool) -> int:
    """``pm install``: the shell already moved the device path into the root (a host path here)."""
    source = Path(apk)
    if not source.is_file():
        print(f"Error: Can't open file: {apk}")
        return 1
    try:
        with zipfile.ZipFile(source) as archive:
            archive.getinfo("AndroidManifest.xml")
    except (zipfile.BadZipFile, KeyError) as exc:
        print(f"Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed parse during installPackageLI: {apk} ({exc})]")
        return 1
    if (state / "installed").exists() and not replace:
        print(f"Failure [INSTALL_FAILED_ALREADY_EXISTS: Attempt to re-install {PACKAGE} without first uninstalling.]")
        return 1
    root = Path((state / "root").read_text(encoding="utf-8"))
    target = root / BASE_APK.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    (state / "installed").touch()
    print("Success")
    return 0


def _logcat(state: Path, argv: list[str]) -> int:
    log = state / "logcat.txt"
    if "-c" in argv:
        log.write_text("", encoding="utf-8")
        return 0
    if "-d" not in argv:
        print("logcat: only -c and -d are supported on the loopback device", file=sys.stderr)
        return 1
    filters: dict[str, str] = {}
    if "-s" in argv:
        for spec in argv[argv.index("-s") + 1:]:
            if spec.startswith("-"):
                break
            tag, _, level = spec.partition(":")
            filters[tag] = level or "V"
    for line in log.read_text(encoding="utf-8").splitlines():
        match = _STORED.match(line)
        if match is None:
            continue
        wanted = filters.get(match["tag"]) if filters else "V"
        if wanted is not None and _LEVELS.index(match["level"]) >= _LEVELS.index(wanted):
            print(line)
    return 0


def main(argv: list[str]) -> int:
    """``benchmark_apk.py STATE_DIR am|pm|logcat|_app ARGS...``."""
    state, command, rest = Path(argv[0]), argv[1], argv[2:]
    if command == "_app":
        return _app(state, rest[0] if rest else "")
    return {"am": _am, "pm": _pm, "logcat": _logcat}[command](state, rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
