"""Two ways to reach a phone's adbd, with one interface: shell (with exit code), push, pull.

* DirectTransport speaks the ADB protocol itself through `adb-shell`, over USB (libusb) or TCP
  (adbd over Wi-Fi, a device farm's remote-ADB endpoint). No adb server needed.
* ServerTransport goes through a running adb server (the one Android Studio starts) with
  `adbutils`. A server that holds the USB interface makes direct USB access fail with "busy", so
  discovery uses the server whenever one answers on its port.

Every call has a timeout; every library error becomes a DeviceError with a one-line reason.
"""

from __future__ import annotations

import itertools
import re
import select
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from benchlab.settings import ADB_AUTH_TIMEOUT, ADB_SERVER_PORT, read
from benchlab.errors import DeviceError, DeviceLost

EXIT_MARKER = "__BENCHLAB_EXIT="
#: The adb server's port, as the stock client and adbutils read it.


def server_port() -> int:
    """Return the adb server port: $ANDROID_ADB_SERVER_PORT, else 5037."""
    return int(read(ADB_SERVER_PORT) or "5037")


class DeviceUnauthorized(DeviceError):
    """The phone has not accepted this machine's key."""


class DeviceDisconnected(DeviceLost):
    """The connection dropped (cable pulled, adbd restarted, Wi-Fi lost)."""


class DeviceTimeout(DeviceError):
    """The phone did not answer in time."""


class PushRefused(DeviceError):
    """The phone answered a push with a sync FAIL (disk full, read-only path ...): it is still
    connected and can take other work. ``reason`` is adbd's own text."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ShellResult:
    """What a shell command printed (stdout and stderr merged) and its exit code."""

    output: str
    exit_code: int


class AdbTransport(Protocol):
    """The calls the Android device needs from any transport."""

    serial: str

    def shell(self, command: str, timeout_s: float) -> ShellResult:
        """Run a command; return its output and exit code."""
        ...

    def push(self, local: Path, remote: str, timeout_s: float) -> None:
        """Copy a local file to the phone."""
        ...

    def pull(self, remote: str, local: Path, timeout_s: float) -> None:
        """Copy a file from the phone."""
        ...

    def reconnect(self) -> None:
        """Open a fresh connection to the phone (after a reboot or a replug).

        Raises DeviceDisconnected while the phone is not reachable.
        """
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def split_exit_code(output: str) -> ShellResult:
    """Separate the exit-code marker appended by `with_exit_code` from a shell v1 output."""
    match = re.search(rf"{EXIT_MARKER}(\d+)\s*$", output)
    if match is None:
        raise DeviceDisconnected("shell output ended before the command finished (connection lost?)")
    return ShellResult(output[: match.start()], int(match.group(1)))


def with_exit_code(command: str) -> str:
    """Wrap a command so shell protocol v1 (no exit status) still reports it."""
    return f"{command}; echo {EXIT_MARKER}$?"


def adb_server_running(host: str = "127.0.0.1") -> bool:
    """Return whether an adb server answers on host and the configured port."""
    try:
        with socket.create_connection((host, server_port()), timeout=0.5):
            return True
    except OSError:
        return False


def no_delay_tcp_transport(host: str, port: int) -> Any:
    """adb-shell's TCP transport with Nagle's algorithm off.

    ADB sends each message as a 24-byte header then its payload: with Nagle on, the payload waits for
    the peer's delayed ACK of the header (about 40 ms on Linux), so every shell command to a TCP phone
    (Wi-Fi debugging, a device farm's adb-over-TCP, the loopback phone) cost ~55 ms instead of ~7 ms.
    """
    from adb_shell.transport.tcp_transport import TcpTransport

    class _NoDelay(TcpTransport):  # type: ignore[misc]
        def connect(self, transport_timeout_s: float | None) -> None:
            super().connect(transport_timeout_s)
            self._connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    return _NoDelay(host, port)


class DirectTransport:
    """ADB over USB or TCP with adb-shell, authenticating with benchlab's key."""

    def __init__(self, serial: str, connect_timeout_s: float = 10.0, auth_timeout_s: float | None = None) -> None:
        from adb_shell import exceptions

        self.serial = serial
        self._errors = exceptions
        self._connect_timeout_s = connect_timeout_s
        # How long a person has to accept the "Allow USB debugging?" prompt.
        self._auth_timeout_s = auth_timeout_s or float(read(ADB_AUTH_TIMEOUT) or "30")
        self._device: Any = None
        self._connect()

    def _connect(self) -> None:
        from adb_shell.adb_device import AdbDevice, AdbDeviceUsb

        from android_runner.keys import signer

        exceptions, serial = self._errors, self.serial
        asked_user: list[bool] = []  # set when adb-shell falls back to offering our public key
        host, sep, port = serial.rpartition(":")
        try:
            if sep and port.isdigit():
                self._device = AdbDevice(no_delay_tcp_transport(host, int(port)),
                                         default_transport_timeout_s=self._connect_timeout_s)
            else:
                self._device = AdbDeviceUsb(serial=serial, default_transport_timeout_s=self._connect_timeout_s)
            self._device.connect(rsa_keys=[signer()], auth_timeout_s=self._auth_timeout_s,
                                 auth_callback=lambda _device: asked_user.append(True))
        except exceptions.DeviceAuthError:
            raise DeviceUnauthorized(f"{serial} refused this machine's key",
                                     hint=f"accept the USB debugging prompt on the phone ({serial})") from None
        except (OSError, exceptions.TcpTimeoutException, exceptions.UsbDeviceNotFoundError,
                exceptions.InvalidResponseError, exceptions.AdbConnectionError) as exc:
            if asked_user:  # the phone saw our key and nobody accepted it in time
                raise DeviceUnauthorized(f"{serial} did not accept this machine's key within {self._auth_timeout_s:g} s",
                                         hint=f"accept the USB debugging prompt on the phone ({serial})") from None
            busy = "busy" in str(exc).lower() or "access" in str(exc).lower()
            hint = ("an adb server (Android Studio?) holds the phone: benchlab goes through it when it "
                    "answers on $ANDROID_ADB_SERVER_PORT (5037), or stop it with `adb kill-server`") if busy else None
            raise DeviceDisconnected(f"cannot connect to {serial}: {_reason(exc)}", hint=hint) from None

    def reconnect(self) -> None:
        """Drop the old connection and connect again; raises DeviceDisconnected if the phone is away."""
        try:
            self._device.close()
        except OSError:
            pass
        self._connect()

    def shell(self, command: str, timeout_s: float) -> ShellResult:
        """Run a command through shell v1, recovering its exit code from a marker."""
        started = time.monotonic()
        try:
            output = self._device.shell(with_exit_code(command), timeout_s=timeout_s, read_timeout_s=timeout_s,
                                        transport_timeout_s=timeout_s)
        except (self._errors.AdbTimeoutError, self._errors.TcpTimeoutException):
            # A silent phone looks the same as a hung command; the caller kills the command and a
            # phone that is really gone fails its next command with a connection error.
            raise DeviceTimeout(f"{self.serial}: command did not finish within {timeout_s:g} s") from None
        except (OSError, self._errors.InvalidResponseError, self._errors.AdbConnectionError,
                self._errors.UsbReadFailedError) as exc:
            raise DeviceDisconnected(f"{self.serial}: connection lost during a command: {_reason(exc)}") from None
        if EXIT_MARKER not in output and time.monotonic() - started >= timeout_s:
            # adb-shell returns what it has when timeout_s passes, without raising.
            raise DeviceTimeout(f"{self.serial}: command did not finish within {timeout_s:g} s")
        return split_exit_code(output)

    def push(self, local: Path, remote: str, timeout_s: float) -> None:
        """Push a file with sync v1 over this connection (see SyncPush).

        Raises PushRefused with the phone's reason when adbd answers FAIL (disk full ...), and
        DeviceDisconnected when the connection drops or the phone stops answering for timeout_s.
        """
        try:
            SyncPush(self._device, timeout_s).send_file(local, remote)
        except SyncFail as exc:
            raise PushRefused(f"{self.serial}: push of {local.name} failed: {exc.reason}", exc.reason) from None
        except (self._errors.AdbTimeoutError, self._errors.TcpTimeoutException):
            raise DeviceDisconnected(f"{self.serial}: connection lost while pushing {local.name}: no answer "
                                     f"within {timeout_s:g} s") from None
        except (OSError, self._errors.InvalidResponseError, self._errors.AdbConnectionError,
                self._errors.UsbWriteFailedError, self._errors.UsbReadFailedError,
                self._errors.InvalidChecksumError, self._errors.InvalidCommandError) as exc:
            raise DeviceDisconnected(f"{self.serial}: connection lost while pushing {local.name}: {_reason(exc)}") from None

    def pull(self, remote: str, local: Path, timeout_s: float) -> None:
        """Pull a file with the sync protocol."""
        try:
            self._device.pull(remote, str(local), read_timeout_s=timeout_s, transport_timeout_s=timeout_s)
        except (OSError, self._errors.TcpTimeoutException, self._errors.InvalidResponseError,
                self._errors.AdbConnectionError, self._errors.AdbCommandFailureException) as exc:
            raise DeviceDisconnected(f"{self.serial}: pulling {remote} failed: {_reason(exc)}") from None

    def close(self) -> None:
        """Close the connection."""
        self._device.close()


class SyncFail(Exception):
    """adbd answered a sync request with FAIL; ``reason`` is its text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: Sync DATA chunks may not exceed 64 KiB (SYNC_DATA_MAX in adb's file_sync_protocol.h).
SYNC_DATA_MAX = 64 * 1024
_SYNC_HEADER = struct.Struct("<4sI")
_PACKET_HEADER = struct.Struct("<6I")
_WRTE = struct.unpack("<I", b"WRTE")[0]


def _byte_sum(data: bytes | memoryview) -> int:
    """The ADB packet 'checksum' (the byte sum mod 2**32), computed in C rather than in a Python loop."""
    return int(np.frombuffer(data, dtype=np.uint8).sum(dtype=np.uint64)) & 0xFFFFFFFF


def _wrte_header(info: Any, data: bytes | memoryview) -> bytes:
    """The 24-byte header of a WRTE carrying `data` on the stream `info`."""
    return _PACKET_HEADER.pack(_WRTE, info.local_id, info.remote_id, len(data), _byte_sum(data), _WRTE ^ 0xFFFFFFFF)


class SyncPush:
    """One file pushed with sync v1 on an adb-shell connection, instead of adb-shell's push().

    Why (cProfile of a 25 MB push to the loopback phone, client thread): adb-shell 0.4.4's push()
    spent 0.59 s of 2.7 s in its pure-Python ``checksum()`` (``sum()`` over every payload byte;
    it negotiates protocol 0x01000000, so every packet must carry the byte sum, unlike the stock
    client's 0x01000001), 0.63 s in ``send()`` and most of the rest in ``select()`` waiting for
    the phone's OKAY, which the loopback phone delayed with the same Python ``sum()`` to verify it
    (now numpy, as adbd's is C). It also loses a sync FAIL that adbd sends while data is still
    coming (adbd reports a write error at once, then drains DATA until DONE), so a full phone
    looked like a hung push. Here each WRTE carries up to the negotiated max payload of whole
    64 KiB DATA chunks read straight into a buffer, the byte sum is computed by numpy (17 ms for
    25 MB), the next packet is read and summed while the phone takes the last one, and every
    reply on the stream is read between packets so a FAIL surfaces at once with adbd's text.
    benchmarks/android_push.py (phone in its own process), as a fraction of stock `adb push`:
    adb-shell's push 0.42x, this one 0.70x on a lightly loaded machine; 0.63x and 0.61-1.09x under
    load (README: one WRTE in flight per stream makes this path latency-bound, not CPU-bound).

    Uses adb-shell's stream primitives (``_open``, ``_io_manager``), pinned by pyproject (<0.5).
    """

    def __init__(self, device: Any, timeout_s: float) -> None:
        from adb_shell import constants

        self._device = device
        self._io = device._io_manager
        self._constants = constants
        self._timeout_s = timeout_s
        # CNXN's maxdata is what the phone accepts per packet (1 MiB since Android 9, 4 KiB before).
        self._max_payload = max(4096, int(device._maxdata))
        self._received = bytearray()  # sync replies the phone sent on this stream

    def send_file(self, local: Path, remote: str) -> None:
        """Send ``local`` to ``remote`` (mode 0644, mtime now). Raises SyncFail or adb-shell errors."""
        info = self._device._open(b"sync:", self._timeout_s, self._timeout_s, None)
        try:
            spec = f"{remote},{0o100644}".encode()
            self._write(info, _SYNC_HEADER.pack(b"SEND", len(spec)) + spec)
            chunk = min(SYNC_DATA_MAX, self._max_payload - _SYNC_HEADER.size)
            per_packet = max(1, self._max_payload // (chunk + _SYNC_HEADER.size))
            # Two buffers: the next packet is read and summed while the phone takes the last one.
            buffers = [bytearray(per_packet * (chunk + _SYNC_HEADER.size)) for _ in range(2)]
            in_flight = False
            with open(local, "rb", buffering=0) as handle:
                for turn in itertools.count():
                    packet = _fill_data_packet(handle, buffers[turn % 2], chunk, per_packet)
                    header = _wrte_header(info, packet) if packet else b""
                    if in_flight:
                        self._await_okay(info)
                    if not packet:
                        break
                    self._send(header, packet)
                    in_flight = True
            self._write(info, _SYNC_HEADER.pack(b"DONE", int(time.time())))
            status, message = self._read_status(info)
            if status != b"OKAY":
                raise SyncFail(message or status.decode(errors="replace"))
        except BaseException:
            self._abandon(info)
            raise
        self._device._clse(info)  # close the stream and read the phone's CLSE

    def _write(self, info: Any, data: bytes | memoryview) -> None:
        """Send one WRTE and wait for its OKAY; a sync FAIL arriving meanwhile is raised."""
        self._send(_wrte_header(info, data), data)
        self._await_okay(info)

    def _send(self, header: bytes, data: bytes | memoryview) -> None:
        with self._io._transport_lock:
            _write_all(self._io._transport, header, self._timeout_s)
            _write_all(self._io._transport, data, self._timeout_s)

    def _await_okay(self, info: Any) -> None:
        """Wait for the phone's OKAY to our last WRTE; a sync FAIL arriving first is raised."""
        constants = self._constants
        while True:
            command, _, _, payload = self._io.read([constants.OKAY, constants.WRTE, constants.CLSE], info,
                                                   allow_zeros=True)
            if command == constants.OKAY:
                return
            self._take_reply(info, command, payload)
            status, message = self._parse_status()
            if status == b"FAIL":
                raise SyncFail(message)

    def _read_status(self, info: Any) -> tuple[bytes, str]:
        """Read the phone's answer to DONE: (b"OKAY", "") or (b"FAIL", reason)."""
        constants = self._constants
        while True:
            parsed = self._parse_status()
            if parsed[0]:
                return parsed
            command, _, _, payload = self._io.read([constants.WRTE, constants.CLSE], info, allow_zeros=True)
            self._take_reply(info, command, payload)

    def _take_reply(self, info: Any, command: bytes, payload: bytes) -> None:
        constants = self._constants
        if command == constants.CLSE:
            parsed = self._parse_status()
            raise SyncFail(parsed[1] if parsed[0] == b"FAIL" else "the phone closed the sync stream")
        self._received += payload
        self._device._okay(info)  # acknowledge the phone's WRTE so it may send more

    def _parse_status(self) -> tuple[bytes, str]:
        """Return the complete status message received so far, or (b"", "") while incomplete."""
        if len(self._received) < _SYNC_HEADER.size:
            return b"", ""
        status, length = _SYNC_HEADER.unpack_from(self._received)
        if status == b"OKAY":
            return status, ""
        if len(self._received) < _SYNC_HEADER.size + length:
            return b"", ""
        return status, bytes(self._received[_SYNC_HEADER.size:_SYNC_HEADER.size + length]).decode(errors="replace")

    def _abandon(self, info: Any) -> None:
        """Close our end of a failed stream without waiting: the phone may be gone."""
        from adb_shell import exceptions
        from adb_shell.adb_message import AdbMessage

        try:
            self._io.send(AdbMessage(self._constants.CLSE, info.local_id, info.remote_id), info)
        except (OSError, exceptions.TcpTimeoutException, exceptions.UsbWriteFailedError):
            pass  # the connection is already gone: nothing left to close


def _fill_data_packet(handle: Any, buffer: bytearray, chunk: int, per_packet: int) -> memoryview:
    """Read up to `per_packet` DATA chunks of the file straight into `buffer`, each behind its
    8-byte sync header; return the filled part (empty at the end of the file)."""
    view, used = memoryview(buffer), 0
    for _ in range(per_packet):
        size = handle.readinto(view[used + _SYNC_HEADER.size: used + _SYNC_HEADER.size + chunk])
        if not size:
            break
        _SYNC_HEADER.pack_into(buffer, used, b"DATA", size)
        used += _SYNC_HEADER.size + size
    return view[:used]


def _write_all(transport: Any, data: bytes | memoryview, timeout_s: float) -> None:
    """Write every byte: adb-shell's TCP bulk_write is one send() on a non-blocking socket and may
    write only part of a large packet."""
    view = memoryview(data)
    while view:
        sent = transport.bulk_write(view, timeout_s)
        if sent is None:  # a transport that writes everything or raises (USB)
            return
        view = view[sent:]


class ServerTransport:
    """ADB through a running adb server, with adbutils."""

    def __init__(self, serial: str, host: str = "127.0.0.1") -> None:
        import adbutils

        self.serial = serial
        self._adbutils = adbutils
        self._client = adbutils.AdbClient(host=host, port=server_port())
        self._device = self._client.device(serial)

    def reconnect(self) -> None:
        """Ask the server for the phone again (`adb connect` first for a host:port serial).

        Raises DeviceDisconnected until the server lists it in state "device".
        """
        try:
            if re.fullmatch(r"[^:]+:\d+", self.serial):
                self._client.connect(self.serial, timeout=5)
            state = self._client.device(self.serial).get_state()
        except (OSError, self._adbutils.AdbError) as exc:
            raise DeviceDisconnected(f"{self.serial}: not back: {_reason(exc)}") from None
        if state != "device":
            raise DeviceDisconnected(f"{self.serial}: not back (state {state})")
        self._device = self._client.device(self.serial)

    def shell(self, command: str, timeout_s: float) -> ShellResult:
        """Run a command; the marker gives the exit code on servers and devices without shell v2."""
        try:
            output = self._device.shell(with_exit_code(command), timeout=timeout_s)
        except self._adbutils.AdbTimeout:
            raise DeviceTimeout(f"{self.serial}: command did not finish within {timeout_s:g} s") from None
        except (OSError, self._adbutils.AdbError) as exc:
            raise _server_error(self.serial, exc) from None
        return split_exit_code(output if isinstance(output, str) else output.decode(errors="replace"))

    def push(self, local: Path, remote: str, timeout_s: float) -> None:
        """Push a file with sync v1 through the server (the server relays the stream to adbd).

        adbutils' own push sends 4 KiB DATA chunks and keeps only the word "FAIL" of adbd's
        answer; here DATA chunks are 64 KiB, and a FAIL that adbd sends while data still flows
        is read before the next chunk. Raises PushRefused with adbd's reason, DeviceDisconnected
        when the phone stops answering for timeout_s, DeviceError for other server errors.
        """
        spec = f"{remote},{0o100644}"
        try:
            with self._device.sync._prepare_sync(spec, "SEND") as connection:
                sock = connection.conn
                sock.settimeout(timeout_s)
                with open(local, "rb") as handle:
                    while chunk := handle.read(SYNC_DATA_MAX):
                        if select.select([sock], [], [], 0)[0]:
                            break  # adbd answered before DONE: a FAIL is waiting
                        sock.sendall(_SYNC_HEADER.pack(b"DATA", len(chunk)) + chunk)
                    else:
                        sock.sendall(_SYNC_HEADER.pack(b"DONE", int(time.time())))
                status, length = _SYNC_HEADER.unpack(connection.read(_SYNC_HEADER.size))
                reason = connection.read(length).decode(errors="replace") if status == b"FAIL" else ""
        except (socket.timeout, self._adbutils.AdbTimeout):
            raise DeviceDisconnected(f"{self.serial}: connection lost while pushing {local.name}: no answer "
                                     f"within {timeout_s:g} s") from None
        except (OSError, self._adbutils.AdbError) as exc:
            raise _server_error(self.serial, exc) from None
        if status != b"OKAY":
            reason = reason or status.decode(errors="replace")
            raise PushRefused(f"{self.serial}: push of {local.name} failed: {reason}", reason)

    def pull(self, remote: str, local: Path, timeout_s: float) -> None:
        """Pull a file through the server's sync service."""
        try:
            self._device.sync.pull(remote, str(local))
        except (OSError, self._adbutils.AdbError) as exc:
            raise _server_error(self.serial, exc) from None

    def close(self) -> None:
        """Nothing to close: each call opens its own connection to the server."""


def _server_error(serial: str, exc: Exception) -> DeviceError:
    text = _reason(exc)
    if "unauthorized" in text:
        return DeviceUnauthorized(f"{serial} is unauthorized", hint=f"accept the USB debugging prompt on {serial}")
    if "not found" in text or "offline" in text:
        return DeviceDisconnected(f"{serial}: {text}")
    return DeviceError(f"{serial}: {text}")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__
