"""Two ways to reach a phone's adbd, with one interface: shell (with exit code), push, pull.

* DirectTransport speaks the ADB protocol itself through `adb-shell`, over USB (libusb) or TCP
  (adbd over Wi-Fi, a device farm's remote-ADB endpoint). No adb server needed.
* ServerTransport goes through a running adb server (the one Android Studio starts) with
  `adbutils`. A server that holds the USB interface makes direct USB access fail with "busy", so
  discovery uses the server whenever one answers on its port.

Every call has a timeout; every library error becomes a DeviceError with a one-line reason.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from benchlab.errors import DeviceError, DeviceLost

EXIT_MARKER = "__BENCHLAB_EXIT="
AUTH_TIMEOUT_ENV = "BENCHLAB_ADB_AUTH_TIMEOUT_S"
#: The adb server's port, as the stock client and adbutils read it.
SERVER_PORT_ENV = "ANDROID_ADB_SERVER_PORT"


def server_port() -> int:
    """Return the adb server port: $ANDROID_ADB_SERVER_PORT, else 5037."""
    return int(os.environ.get(SERVER_PORT_ENV, "5037"))


class DeviceUnauthorized(DeviceError):
    """The phone has not accepted this machine's key."""


class DeviceDisconnected(DeviceLost):
    """The connection dropped (cable pulled, adbd restarted, Wi-Fi lost)."""


class DeviceTimeout(DeviceError):
    """The phone did not answer in time."""


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


class DirectTransport:
    """ADB over USB or TCP with adb-shell, authenticating with benchlab's key."""

    def __init__(self, serial: str, connect_timeout_s: float = 10.0, auth_timeout_s: float | None = None) -> None:
        from adb_shell import exceptions
        from adb_shell.adb_device import AdbDeviceTcp, AdbDeviceUsb

        from android_runner.keys import signer

        self.serial = serial
        self._errors = exceptions
        # How long a person has to accept the "Allow USB debugging?" prompt.
        auth_timeout_s = auth_timeout_s or float(os.environ.get(AUTH_TIMEOUT_ENV, "30"))
        asked_user: list[bool] = []  # set when adb-shell falls back to offering our public key
        host, sep, port = serial.rpartition(":")
        try:
            if sep and port.isdigit():
                self._device = AdbDeviceTcp(host, int(port), default_transport_timeout_s=connect_timeout_s)
            else:
                self._device = AdbDeviceUsb(serial=serial, default_transport_timeout_s=connect_timeout_s)
            self._device.connect(rsa_keys=[signer()], auth_timeout_s=auth_timeout_s,
                                 auth_callback=lambda _device: asked_user.append(True))
        except exceptions.DeviceAuthError:
            raise DeviceUnauthorized(f"{serial} refused this machine's key",
                                     hint=f"accept the USB debugging prompt on the phone ({serial})") from None
        except (OSError, exceptions.TcpTimeoutException, exceptions.UsbDeviceNotFoundError,
                exceptions.InvalidResponseError, exceptions.AdbConnectionError) as exc:
            if asked_user:  # the phone saw our key and nobody accepted it in time
                raise DeviceUnauthorized(f"{serial} did not accept this machine's key within {auth_timeout_s:g} s",
                                         hint=f"accept the USB debugging prompt on the phone ({serial})") from None
            busy = "busy" in str(exc).lower() or "access" in str(exc).lower()
            hint = ("an adb server (Android Studio?) holds the phone: benchlab goes through it when it "
                    "answers on $ANDROID_ADB_SERVER_PORT (5037), or stop it with `adb kill-server`") if busy else None
            raise DeviceDisconnected(f"cannot connect to {serial}: {_reason(exc)}", hint=hint) from None

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
        """Push a file with the sync protocol; the device's own FAIL reason is kept."""
        try:
            self._device.push(str(local), remote, read_timeout_s=timeout_s, transport_timeout_s=timeout_s)
        except self._errors.PushFailedError as exc:
            raise DeviceError(f"{self.serial}: push of {local.name} failed: {_reason(exc)}") from None
        except (OSError, self._errors.TcpTimeoutException, self._errors.InvalidResponseError,
                self._errors.AdbConnectionError, self._errors.UsbWriteFailedError) as exc:
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


class ServerTransport:
    """ADB through a running adb server, with adbutils."""

    def __init__(self, serial: str, host: str = "127.0.0.1") -> None:
        import adbutils

        self.serial = serial
        self._adbutils = adbutils
        self._device = adbutils.AdbClient(host=host, port=server_port()).device(serial)

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
        """Push a file through the server's sync service."""
        try:
            self._device.sync.push(str(local), remote)
        except (OSError, self._adbutils.AdbError) as exc:
            raise _server_error(self.serial, exc) from None

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
