"""What the iPhone driver needs from a phone (``PhoneServices``), and that interface over pymobiledevice3.

The driver (``ios_runner.device``) and discovery only talk to a ``PhoneServices``: list phones,
read lockdown values, pairing and Developer Mode state, the runner app (installed? which
version? install an .ipa), the app's Documents folder over AFC (house_arrest), launching the app
through developer services, and the battery. Tests replace it with an in-memory phone
(``tests/ios/fake_phone.py``); ``Pymobiledevice3Services`` is the real one.

pymobiledevice3 (11.x) is asynchronous. ``Pymobiledevice3Services`` runs one event loop in a
background thread and submits every call to it with a timeout, so the driver stays synchronous
(one worker thread per phone, as on Android). Every connection is opened for one call (or, for
the app's files, for one ``open_container`` block) and closed in ``finally``. What the library
does with blocking calls (tunneld's HTTP listing, downloading the developer disk image) runs in a
worker thread, never on that loop, which every phone shares. Library errors become
``PhoneError`` subclasses with a one-line reason; nothing from pymobiledevice3 leaks out.

Developer services (DVT, which launches the app) exist only while the developer disk image is
mounted, and a restart unmounts it: the first launch on a phone in a session mounts it.

Configuration (environment):

``BENCHLAB_USBMUXD``
    Another usbmuxd: ``host:port`` (a usbmuxd shared over TCP, e.g. with socat from the Mac the
    phones are plugged into) or a unix socket path. Default: the system's usbmuxd.
``BENCHLAB_IOS_TUNNELD``
    ``host:port`` of a running ``pymobiledevice3 remote tunneld``. iOS 17 and later reach
    developer services (launching the app) only through such a tunnel; phones that tunneld
    serves but usbmux does not list are reached through it too (transport ``rsd``).
    Default: 127.0.0.1:49151, tried only when launching on iOS 17+.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import posixpath
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from benchlab.settings import IOS_TUNNELD, USBMUXD, Setting, read
from benchlab.errors import DeviceError, DeviceLost

log = logging.getLogger(__name__)

DEFAULT_TUNNELD = ("127.0.0.1", 49151)
#: Where house_arrest (VendDocuments) shows the app's Documents folder.
DOCUMENTS_ROOT = "/Documents"
#: The default timeout of one call to the phone (a lockdown query, one AFC operation).
CALL_TIMEOUT_S = 30.0
#: Seconds allowed per byte pushed or pulled on top of CALL_TIMEOUT_S (a slow 2 MB/s link).
SECONDS_PER_BYTE = 1 / 2e6
#: Seconds allowed on top of a launch's own timeout when it first mounts the developer disk image:
#: the first mount downloads the image (tens of MB) and has Apple's signing server sign it.
MOUNT_TIMEOUT_S = 300.0
#: Seconds between two questions to Xcode's energy gauge (it updates about once a second; asking
#: costs the phone work).
SAMPLE_INTERVAL_S = 1.0
#: The longest one energy recording may run (a job's own timeout ends it long before).
SAMPLING_LIMIT_S = 6 * 3600.0

DEVELOPER_MODE_HINT = ("turn on Settings > Privacy & Security > Developer Mode (if the switch is not there, "
                       "reveal it with `pymobiledevice3 amfi reveal-developer-mode`; no Xcode needed)")
LAUNCH_REFUSED_HINT = ("unlock the phone; trust the developer in Settings > General > VPN & Device Management "
                       "(a free team's signing lasts 7 days: export and install the app again)")

PairingState = Literal["paired", "trust-pending", "locked", "denied"]
T = TypeVar("T")


# --- errors --------------------------------------------------------------------------------------


class PhoneError(DeviceError):
    """A phone could not be reached, or refused a request; the message is one line."""


class UsbmuxdUnavailable(PhoneError):
    """No usbmuxd answers (not installed or not running, or the remote address is wrong)."""


class PhoneNotFound(PhoneError):
    """usbmux does not list the phone (unplugged, or asleep on Wi-Fi)."""


class PhoneDisconnected(PhoneError, DeviceLost):
    """The connection dropped during a call (cable pulled, phone rebooted): the phone is lost for
    this run, so the executor quarantines it (DeviceLost) instead of failing job after job."""


class PhoneTimeout(PhoneError):
    """The phone did not answer in time."""


class PhoneNotPaired(PhoneError):
    """The phone does not trust this computer."""


class PhoneLocked(PhoneError):
    """The phone must be unlocked first (pairing needs the passcode)."""


class DeveloperModeOff(PhoneError):
    """Developer Mode is off, so development-signed apps do not run and developer services refuse."""


class AppNotInstalled(PhoneError):
    """The runner app (its bundle id) is not installed."""


class AppInstallFailed(PhoneError):
    """Installing the .ipa failed; ``not_signed`` when the phone is not in its provisioning profile."""

    def __init__(self, message: str, hint: str | None = None, not_signed: bool = False) -> None:
        super().__init__(message, hint)
        self.not_signed = not_signed


class LaunchUnavailable(PhoneError):
    """Developer services cannot launch apps on this phone now (no tunnel, no developer disk image)."""


class LaunchRefused(PhoneError):
    """The phone refused to launch the app: it is locked, or its developer is not trusted yet."""


class AppNoResult(PhoneError):
    """The runner app gave no result for a job: nobody picked it up (the app not in front), the app
    stopped mid-job (the phone locked, iOS ended it), or it ran past the job's timeout."""


class EnergyImpactUnavailable(PhoneError):
    """Xcode's energy gauge cannot be read for the app now (the app is not running)."""


class ContainerError(PhoneError):
    """A file operation in the app's Documents folder failed (full disk, missing path ...)."""


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneListing:
    """One phone as listed: ``connection_type`` is usbmux's "USB" / "Network", or "RSD" (tunneld).

    The other fields come from lockdown values readable before pairing; None when unreadable.
    """

    udid: str
    connection_type: str
    product_type: str | None = None
    product_version: str | None = None
    build_version: str | None = None
    device_name: str | None = None
    device_class: str | None = None


@dataclass(frozen=True)
class InstalledApp:
    """An installed app's bundle id and versions (CFBundleShortVersionString, CFBundleVersion)."""

    bundle_id: str
    short_version: str
    build_version: str

    @property
    def version(self) -> str:
        """The version as the app reports it in results: "1.0 (1)"."""
        return f"{self.short_version} ({self.build_version})"


@dataclass(frozen=True)
class BatteryReading:
    """Battery state from the IORegistry's power source entry; None where the phone did not say."""

    level: int | None = None
    temperature_c: float | None = None
    charging: bool | None = None


@dataclass
class ImpactRecording:
    """What Xcode's energy gauge answered about one process while a block ran: each reply as
    pymobiledevice3's ``EnergyMonitor`` yields it (``{pid: {...}}``), in order."""

    pid: int
    replies: list[Any] = field(default_factory=list)
    #: Why sampling stopped before the block ended (one line), None when it did not.
    error: str | None = None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def parse_battery(entry: Mapping[str, Any] | None) -> BatteryReading:
    """Return the battery state in an IORegistry ``IOPMPowerSource`` entry (AppleSmartBattery).

    ``CurrentCapacity`` / ``MaxCapacity`` give the level (recent iOS reports both in percent,
    older ones in mAh: the ratio is right either way); ``Temperature`` is in hundredths of a
    degree Celsius; ``IsCharging`` says whether it charges (else ``ExternalConnected`` and not
    ``FullyCharged``). Missing or odd values give None. Never raises.
    """
    entry = entry or {}
    level = None
    current, maximum = _number(entry.get("CurrentCapacity")), _number(entry.get("MaxCapacity"))
    if current is not None and maximum:
        level = max(0, min(100, round(100.0 * current / maximum)))
    temperature = _number(entry.get("Temperature"))
    temperature_c = round(temperature / 100.0, 2) if temperature is not None else None
    charging: bool | None = None
    if isinstance(entry.get("IsCharging"), bool):
        charging = entry["IsCharging"]
    elif isinstance(entry.get("ExternalConnected"), bool):
        charging = entry["ExternalConnected"] and not entry.get("FullyCharged", False)
    return BatteryReading(level=level, temperature_c=temperature_c, charging=charging)


def udid_key(udid: str) -> str:
    """The UDID as compared: usbmuxd on Linux may report it without the dash that tunneld (keyed
    by lockdown's UniqueDeviceID) keeps, "00008120001A..." for "00008120-001A..."; pymobiledevice3's
    own ``MuxDevice.matches_udid`` ignores the dash too."""
    return udid.replace("-", "").upper()


def canonical_udid(udid: str) -> str:
    """The UDID as Apple writes it (Finder, Xcode, lockdown's UniqueDeviceID): a 24-digit one (A12
    and later) with its dash after the chip id, whether or not usbmuxd kept it; a 40-digit one as it
    is. benchlab names a phone by it, so ``ios:UDID`` targets and stored runs do not depend on the
    host's usbmuxd."""
    digits = udid.replace("-", "")
    return f"{digits[:8]}-{digits[8:]}" if len(digits) == 24 else udid


def same_udid(first: str, second: str) -> bool:
    """Whether two UDIDs name one phone (see ``udid_key``)."""
    return udid_key(first) == udid_key(second)


def documents_path(path: str) -> str:
    """Return a Documents-relative path as house_arrest names it ("inbox/a.json" → "/Documents/inbox/a.json").

    Raises ContainerError for an absolute path or one with "..".
    """
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if path.startswith("/") or ".." in parts:
        raise ContainerError(f"{path!r} is not a path inside the app's Documents folder")
    return posixpath.join(DOCUMENTS_ROOT, *parts)


# --- the interface -------------------------------------------------------------------------------


class AppContainer(Protocol):
    """The runner app's Documents folder; every path is relative to it ("inbox/job.json").

    Every method raises a PhoneError (ContainerError, PhoneDisconnected, PhoneTimeout) on failure.
    """

    def exists(self, path: str) -> bool:
        """Return whether a file or folder exists."""
        ...

    def listdir(self, path: str) -> list[str]:
        """Return a folder's entry names; [] when the folder does not exist."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """Return a file's bytes."""
        ...

    def write_bytes(self, path: str, data: bytes) -> None:
        """Create or replace a file (its folder must exist)."""
        ...

    def push_file(self, local: Path, path: str) -> None:
        """Copy a local file to ``path`` (its folder must exist)."""
        ...

    def pull_file(self, path: str, local: Path) -> None:
        """Copy a file to a local path."""
        ...

    def rename(self, source: str, target: str) -> None:
        """Rename (move) a file or folder; an existing target file is replaced."""
        ...

    def remove(self, path: str) -> None:
        """Remove a file, or a folder with everything in it; nothing happens when it is missing."""
        ...

    def makedirs(self, path: str) -> None:
        """Create a folder and its parents; nothing happens when it exists."""
        ...


def push_folder(container: AppContainer, local: Path, path: str) -> None:
    """Create ``path`` in the container and upload every file below ``local`` into it, keeping
    relative paths (an .mlpackage is a folder)."""
    container.makedirs(path)
    for item in sorted(Path(local).rglob("*")):
        relative = item.relative_to(local).as_posix()
        if item.is_dir():
            container.makedirs(f"{path}/{relative}")
        else:
            container.push_file(item, f"{path}/{relative}")


class PhoneServices(Protocol):
    """Everything the driver asks of iPhones. Methods raise PhoneError subclasses, never library errors."""

    def list_phones(self) -> list[PhoneListing]:
        """Return every phone usbmux (and a configured tunneld) lists."""
        ...

    def transport(self, udid: str) -> str:
        """Return how the phone is reached: "usbmux", "usbmux-remote" (BENCHLAB_USBMUXD) or "rsd"."""
        ...

    def lockdown_values(self, udid: str) -> dict[str, Any]:
        """Return the phone's lockdown values (ProductType, ProductVersion, BuildVersion, DeviceName ...)."""
        ...

    def device_time(self, udid: str) -> float:
        """Return the phone's clock, in seconds since the epoch (to judge the app's heartbeat age)."""
        ...

    def pairing_state(self, udid: str, wait_s: float = 0.0) -> PairingState:
        """Pair if needed (showing the Trust prompt) and return the state after at most ``wait_s``."""
        ...

    def developer_mode(self, udid: str) -> bool | None:
        """Return whether Developer Mode is on; None on iOS before 16, which has none."""
        ...

    def installed_app(self, udid: str, bundle_id: str) -> InstalledApp | None:
        """Return the installed app with this bundle id, or None."""
        ...

    def install_app(self, udid: str, ipa: Path, timeout_s: float) -> None:
        """Install (or upgrade) an .ipa; raises AppInstallFailed (``not_signed`` when not provisioned)."""
        ...

    def open_container(self, udid: str, bundle_id: str) -> AbstractContextManager[AppContainer]:
        """Open the app's Documents folder for a block of file operations; closed on exit."""
        ...

    def launch_app(self, udid: str, bundle_id: str, timeout_s: float) -> None:
        """Launch (or relaunch) the app in the foreground; raises LaunchUnavailable without developer services."""
        ...

    def battery(self, udid: str) -> BatteryReading:
        """Return the battery level, temperature and charging state."""
        ...

    def energy_impact(self, udid: str, bundle_id: str) -> AbstractContextManager[ImpactRecording]:
        """Ask Xcode's energy gauge about the app's running process once a second while the block runs
        (the replies go into the recording as they come); raises PhoneError when developer services
        cannot (no DVT, the app not running). A failure after the start is the recording's ``error``."""
        ...


# --- pymobiledevice3 -----------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _ns_error_text(error: Any) -> str:
    """One line from a DTX NSError: its failure reason (SpringBoard's "... because the device was not,
    or could not be, unlocked"), else its description, else its domain and code."""
    info = error.user_info or {}
    text = info.get("NSLocalizedFailureReason") or info.get("NSLocalizedDescription")
    return " ".join(str(text).split()) if text else f"{error.domain} error {error.code}"


def _not_signed(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in ("applicationverificationfailed", "provision", "signature", "signer"))


def phone_error(exc: BaseException, what: str) -> PhoneError | None:
    """Return the PhoneError for a pymobiledevice3 (or socket) error raised while doing ``what``.

    Returns the error itself when it already is a PhoneError, and None for anything else (a bug
    in benchlab, which should surface as a traceback).
    """
    from pymobiledevice3 import exceptions as pmd
    from pymobiledevice3.dtx import DTXNsError

    if isinstance(exc, PhoneError):
        return exc
    reason = f"{what}: {_one_line(exc)}"
    if isinstance(exc, pmd.ConnectionFailedToUsbmuxdError):
        return UsbmuxdUnavailable(
            f"{what}: no usbmuxd answers",
            hint=f"install and start usbmuxd (Linux: apt-get install usbmuxd), or set {USBMUXD.name}=host:port",
        )
    if isinstance(exc, (pmd.NoDeviceConnectedError, pmd.DeviceNotFoundError)):
        return PhoneNotFound(reason, hint="plug the phone in (and unlock it) and run again")
    if isinstance(exc, (pmd.PasswordRequiredError, pmd.PasscodeRequiredError)):
        return PhoneLocked(reason, hint="unlock the phone and run again")
    if isinstance(exc, (pmd.PairingError, pmd.NotPairedError, pmd.NotTrustedError, pmd.FatalPairingError)):
        return PhoneNotPaired(reason, hint="unlock the phone and tap Trust on the 'Trust This Computer?' prompt")
    if isinstance(exc, pmd.DeveloperModeIsNotEnabledError):
        return DeveloperModeOff(reason, hint=DEVELOPER_MODE_HINT)
    if isinstance(exc, DTXNsError):  # the reply of a DVT call was an NSError: the launch was refused
        return LaunchRefused(f"{what}: the phone refused: {_ns_error_text(exc.error)}", hint=LAUNCH_REFUSED_HINT)
    if isinstance(exc, pmd.AppNotInstalledError):
        return AppNotInstalled(reason)
    if isinstance(exc, pmd.AppInstallError):
        return AppInstallFailed(reason, not_signed=_not_signed(str(exc)))
    if isinstance(exc, pmd.TunneldConnectionError):
        return LaunchUnavailable(
            f"{what}: no pymobiledevice3 tunneld answers (iOS 17+ needs a tunnel for developer services)",
            hint=f"run `sudo pymobiledevice3 remote tunneld` (or set {IOS_TUNNELD.name}=host:port)",
        )
    if isinstance(exc, (pmd.StartServiceError, pmd.InvalidServiceError)):
        return LaunchUnavailable(
            reason, hint="mount the developer disk image: `pymobiledevice3 mounter auto-mount`"
        )
    if isinstance(exc, (pmd.ConnectionTerminatedError, pmd.MuxException, asyncio.IncompleteReadError,
                        ConnectionError)):
        return PhoneDisconnected(reason, hint="check the cable (or Wi-Fi) and that the phone is awake")
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError from Python 3.11
        return PhoneTimeout(f"{what}: the phone did not answer in time")
    if isinstance(exc, pmd.AfcException):
        return ContainerError(reason)
    if isinstance(exc, (pmd.PyMobileDevice3Exception, OSError)):
        return PhoneError(reason)
    return None


class _EventLoopThread:
    """One asyncio loop in a daemon thread; ``run`` submits a coroutine and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="benchlab-pymobiledevice3", daemon=True)
        self._thread.start()

    def run(self, coroutine: Awaitable[T], timeout_s: float) -> T:
        """Run ``coroutine`` on the loop; raises TimeoutError after ``timeout_s`` (the call is cancelled)."""
        future = asyncio.run_coroutine_threadsafe(_with_timeout(coroutine, timeout_s), self.loop)
        return future.result(timeout_s + 10.0)  # the inner wait_for cancels first; this is a backstop

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)


async def _with_timeout(coroutine: Awaitable[T], timeout_s: float) -> T:
    return await asyncio.wait_for(coroutine, timeout_s)


async def _wait_for(event: threading.Event, seconds: float) -> None:
    """Sleep up to ``seconds`` on the loop, waking early when ``event`` (set from another thread) is set."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not event.is_set() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)


def _address_from_env(setting: Setting) -> tuple[str, int] | None:
    value = read(setting)
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise DeviceError(f"{setting.name}={value!r} is not host:port", hint=f"e.g. {setting.name}=127.0.0.1:49151")
    return host, int(port)


class Pymobiledevice3Services:
    """``PhoneServices`` over pymobiledevice3 11.x: usbmux (local or remote) and tunneld (RSD)."""

    def __init__(self, usbmux_address: str | None = None, tunneld_address: tuple[str, int] | None = None) -> None:
        """``usbmux_address`` defaults to $BENCHLAB_USBMUXD, ``tunneld_address`` to $BENCHLAB_IOS_TUNNELD."""
        self.usbmux_address = usbmux_address or read(USBMUXD)
        configured = _address_from_env(IOS_TUNNELD)
        self.tunneld_configured = tunneld_address is not None or configured is not None
        self.tunneld_address = tunneld_address or configured or DEFAULT_TUNNELD
        self._rsd_only: set[str] = set()  # phones reached only through tunneld
        self._mounted: set[str] = set()  # phones whose developer disk image this session mounted or found
        self._loop = _EventLoopThread()

    def close(self) -> None:
        """Stop the background event loop."""
        self._loop.close()

    # --- plumbing ------------------------------------------------------------------------------

    def _run(self, what: str, call: Callable[[], Awaitable[T]], timeout_s: float = CALL_TIMEOUT_S) -> T:
        """Run ``call()`` on the loop thread, turning library errors into PhoneError."""
        try:
            return self._loop.run(call(), timeout_s)
        except Exception as exc:
            error = phone_error(exc, what)
            if error is None:
                raise
            raise error from exc

    @contextlib.asynccontextmanager
    async def _provider(self, udid: str, paired: bool = True) -> AsyncIterator[Any]:
        """Yield a lockdown service provider for the phone (usbmux lockdown, or RSD through tunneld).

        With ``paired``, raises NotPairedError (→ PhoneNotPaired) when the phone does not trust us.
        """
        from pymobiledevice3.exceptions import NoDeviceConnectedError, NotPairedError
        from pymobiledevice3.lockdown import create_using_usbmux

        if udid in self._rsd_only:
            rsd = await self._tunnel(udid)
            if rsd is None:
                raise NoDeviceConnectedError()
            try:
                yield rsd
            finally:
                await rsd.close()
            return
        lockdown = await create_using_usbmux(serial=udid, autopair=False, usbmux_address=self.usbmux_address)
        try:
            if paired and not lockdown.paired:
                raise NotPairedError()
            yield lockdown
        finally:
            await lockdown.close()

    async def _tunnel(self, udid: str) -> Any | None:
        """Connect to the phone through tunneld: an RSD, or None when tunneld has no tunnel to it that answers.

        Not pymobiledevice3's ``get_tunneld_device_by_udid``, which lists tunnels with a blocking
        HTTP call on this loop (every phone stalls while tunneld is slow to answer), compares UDIDs
        as exact strings, and raises IndexError for a tunnel it lists but cannot connect (a phone
        unplugged since). Raises TunneldConnectionError (→ LaunchUnavailable) when no tunneld answers.
        """
        from pymobiledevice3.tunneld.api import _create_rsds_from_tunnels, get_tunneld_tunnels

        tunnels = await get_tunneld_tunnels(self.tunneld_address)  # its HTTP call runs in a worker thread
        listed = next((key for key in tunnels if same_udid(key, udid)), None)
        if listed is None:
            return None
        # One RSD per tunnel that answers (a phone on USB and Wi-Fi has two): keep the first.
        rsds = await _create_rsds_from_tunnels({listed: tunnels[listed]}, self.tunneld_address)
        for extra in rsds[1:]:
            await extra.close()
        return rsds[0] if rsds else None

    # --- PhoneServices -------------------------------------------------------------------------

    def list_phones(self) -> list[PhoneListing]:
        """Return every phone usbmux lists (USB preferred over Wi-Fi), plus tunneld-only phones."""
        return self._run("list iPhones", self._list_phones)

    async def _list_phones(self) -> list[PhoneListing]:
        from pymobiledevice3 import usbmux
        from pymobiledevice3.exceptions import PyMobileDevice3Exception
        from pymobiledevice3.lockdown import create_using_usbmux

        chosen: dict[str, Any] = {}  # udid_key → the phone's entry, USB preferred
        for device in await usbmux.list_devices(usbmux_address=self.usbmux_address):
            if udid_key(device.serial) not in chosen or device.is_usb:
                chosen[udid_key(device.serial)] = device
        listings = []
        for device in chosen.values():
            serial = device.serial
            values: dict[str, Any] = {}
            try:
                lockdown = await create_using_usbmux(serial=serial, autopair=False,
                                                     connection_type=device.connection_type,
                                                     usbmux_address=self.usbmux_address)
                try:
                    values = dict(lockdown.all_values)
                finally:
                    await lockdown.close()
            except (PyMobileDevice3Exception, OSError, asyncio.IncompleteReadError) as exc:
                log.warning("iPhone %s: lockdown values not readable: %s", serial, _one_line(exc))
            listings.append(PhoneListing(
                udid=serial, connection_type=device.connection_type,
                product_type=values.get("ProductType"), product_version=values.get("ProductVersion"),
                build_version=values.get("BuildVersion"), device_name=values.get("DeviceName"),
                device_class=values.get("DeviceClass"),
            ))
        if self.tunneld_configured:
            listings += await self._list_tunneld_only(set(chosen))
        return listings

    async def _list_tunneld_only(self, known: set[str]) -> list[PhoneListing]:
        """Phones tunneld serves whose ``udid_key`` is not in ``known`` (the ones usbmux lists)."""
        from pymobiledevice3.tunneld.api import get_tunneld_tunnels

        listings = []
        for udid in await get_tunneld_tunnels(self.tunneld_address):
            if udid_key(udid) in known:
                continue
            rsd = await self._tunnel(udid)
            if rsd is None:
                continue
            try:
                self._rsd_only.add(udid)
                listings.append(PhoneListing(
                    udid=udid, connection_type="RSD", product_type=rsd.product_type,
                    product_version=rsd.product_version, build_version=rsd.product_build_version,
                    device_name=rsd.all_values.get("DeviceName"), device_class=rsd.all_values.get("DeviceClass"),
                ))
            finally:
                await rsd.close()
        return listings

    def transport(self, udid: str) -> str:
        """Return "rsd" for tunneld-only phones, "usbmux-remote" with a TCP usbmuxd, else "usbmux"."""
        if udid in self._rsd_only:
            return "rsd"
        return "usbmux-remote" if self.usbmux_address and ":" in self.usbmux_address else "usbmux"

    def lockdown_values(self, udid: str) -> dict[str, Any]:
        """Return every lockdown value the phone gives this (paired) host."""

        async def call() -> dict[str, Any]:
            async with self._provider(udid) as provider:
                return dict(await provider.get_value() or {})

        return self._run("read lockdown values", call)

    def device_time(self, udid: str) -> float:
        """Return the phone's clock (lockdown TimeIntervalSince1970)."""

        async def call() -> float:
            async with self._provider(udid) as provider:
                return float(await provider.get_value(key="TimeIntervalSince1970"))

        return self._run("read the phone's clock", call)

    def pairing_state(self, udid: str, wait_s: float = 0.0) -> PairingState:
        """Validate or create a pairing; an unpaired phone shows the Trust prompt, answered within ``wait_s``."""
        if udid in self._rsd_only:
            return "paired"  # a tunnel exists only to a paired phone

        async def call() -> PairingState:
            from pymobiledevice3.exceptions import (
                PairingDialogResponsePendingError,
                PasswordRequiredError,
                UserDeniedPairingError,
            )
            from pymobiledevice3.lockdown import create_using_usbmux

            try:
                lockdown = await create_using_usbmux(serial=udid, autopair=True, pair_timeout=wait_s,
                                                     usbmux_address=self.usbmux_address)
            except PairingDialogResponsePendingError:
                return "trust-pending"
            except PasswordRequiredError:
                return "locked"
            except UserDeniedPairingError:
                return "denied"
            await lockdown.close()
            return "paired"

        return self._run("pair with the phone", call, CALL_TIMEOUT_S + wait_s)

    def developer_mode(self, udid: str) -> bool | None:
        """Return the AMFI DeveloperModeStatus value; None before iOS 16 (no Developer Mode there)."""

        async def call() -> bool | None:
            async with self._provider(udid) as provider:
                if not provider.has_developer_mode:
                    return None
                return await provider.get_developer_mode_status()

        return self._run("read Developer Mode", call)

    def installed_app(self, udid: str, bundle_id: str) -> InstalledApp | None:
        """Look the bundle id up with installation_proxy."""
        from pymobiledevice3.services.installation_proxy import InstallationProxyService

        async def call() -> dict[str, Any]:
            async with self._provider(udid) as provider, InstallationProxyService(lockdown=provider) as proxy:
                return await proxy.get_apps(application_type="Any", calculate_sizes=False,
                                            bundle_identifiers=[bundle_id])

        entry = self._run(f"look up app {bundle_id}", call).get(bundle_id)
        if not entry:
            return None
        return InstalledApp(bundle_id=bundle_id, short_version=str(entry.get("CFBundleShortVersionString", "?")),
                            build_version=str(entry.get("CFBundleVersion", "?")))

    def install_app(self, udid: str, ipa: Path, timeout_s: float) -> None:
        """Upload the .ipa to the phone's staging folder over AFC and install it with installation_proxy.

        Not ``install_from_local``: it draws pymobiledevice3's progress bar on this process's
        stderr (and points logging handlers at it) while it uploads, in the middle of benchlab's output.
        """
        from pymobiledevice3.services.afc import AfcService
        from pymobiledevice3.services.installation_proxy import TEMP_REMOTE_BASEDIR, InstallationProxyService

        staged = f"{TEMP_REMOTE_BASEDIR}/benchlab-{uuid.uuid4().hex}.ipa"

        async def call() -> None:
            async with self._provider(udid) as provider, AfcService(provider) as afc:
                await afc.makedirs(TEMP_REMOTE_BASEDIR)
                try:
                    await afc.push(str(ipa), staged, progress_bar=False)
                    async with InstallationProxyService(lockdown=provider) as proxy:
                        await proxy.send_package("Install", {}, None, staged)
                finally:
                    await afc.rm_single(staged, force=True)

        self._run(f"install {Path(ipa).name}", call, timeout_s)

    @contextlib.contextmanager
    def open_container(self, udid: str, bundle_id: str) -> Iterator[AppContainer]:
        """Open house_arrest (VendDocuments) for the app: AFC rooted at its container, Documents visible."""
        from pymobiledevice3.services.house_arrest import HouseArrestService

        stack = contextlib.AsyncExitStack()

        async def enter() -> Any:
            try:
                provider = await stack.enter_async_context(self._provider(udid))
                service = await HouseArrestService.create(provider, bundle_id, documents_only=True)
                return await stack.enter_async_context(service)
            except BaseException:
                await stack.aclose()
                raise

        afc = self._run(f"open the files of {bundle_id}", enter)
        try:
            yield _AfcContainer(self, afc)
        finally:
            with contextlib.suppress(PhoneError):
                self._run("close the app's files", stack.aclose)

    def launch_app(self, udid: str, bundle_id: str, timeout_s: float) -> None:
        """Launch the app with DVT process control: over lockdown before iOS 17, through a tunneld
        RSD from iOS 17; the developer disk image is mounted first, once per session and again after
        a restart (DVT exists only while it is mounted, and a restart unmounts it).

        Raises LaunchUnavailable (no tunnel, the image cannot be mounted), LaunchRefused (locked
        phone, developer not trusted), DeveloperModeOff or PhoneLocked.
        """

        async def call() -> None:
            async with self._developer_provider(udid, "launch the runner app") as provider:
                await self._launch_with(udid, provider, bundle_id)

        self._run(f"launch {bundle_id}", call, timeout_s + (0.0 if udid in self._mounted else MOUNT_TIMEOUT_S))

    @contextlib.asynccontextmanager
    async def _developer_provider(self, udid: str, what: str) -> AsyncIterator[Any]:
        """Yield the provider developer services (DVT) are reached through: lockdown before iOS 17, a
        tunneld RSD from iOS 17 (closed on exit). Raises LaunchUnavailable when tunneld has no tunnel."""
        from packaging.version import Version

        async with self._provider(udid) as provider:
            if udid in self._rsd_only or Version(provider.product_version) < Version("17.0"):
                yield provider
                return
        rsd = await self._tunnel(udid)
        if rsd is None:
            raise LaunchUnavailable(
                f"{what}: tunneld has no tunnel to this iOS 17+ phone",
                hint="run `sudo pymobiledevice3 remote tunneld` with the phone plugged in",
            )
        try:
            yield rsd
        finally:
            await rsd.close()

    async def _launch_with(self, udid: str, provider: Any, bundle_id: str) -> None:
        """Mount the developer disk image if this session has not, then launch the app through DVT.

        DVT missing although this session mounted the image means the phone restarted since (a
        restart unmounts it): the image is mounted again and the launch tried once more.
        """
        from pymobiledevice3.exceptions import InvalidServiceError, StartServiceError

        mounted_before = udid in self._mounted
        if not mounted_before:
            await self._mount_developer_image(provider)
            self._mounted.add(udid)
        try:
            await self._launch_through_dvt(provider, bundle_id)
        except (StartServiceError, InvalidServiceError):
            if not mounted_before:
                raise  # mounted just now and still no DVT: LaunchUnavailable says so
            self._mounted.discard(udid)
            await self._mount_developer_image(provider)
            self._mounted.add(udid)
            await self._launch_through_dvt(provider, bundle_id)

    @staticmethod
    async def _launch_through_dvt(provider: Any, bundle_id: str) -> None:
        """Launch (or relaunch) the app with DVT process control; raises LaunchRefused when the phone refuses."""
        from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
        from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl

        async with DvtProvider(provider) as dvt, ProcessControl(dvt) as control:
            try:
                await control.launch(bundle_id=bundle_id, kill_existing=True)
            except AssertionError as exc:  # pymobiledevice3 asserts on a zero pid: the launch did not happen
                raise LaunchRefused(f"launch {bundle_id}: the phone gave no process for it",
                                    hint=LAUNCH_REFUSED_HINT) from exc

    @staticmethod
    async def _mount_developer_image(provider: Any) -> None:
        """Mount the developer disk image unless one is (``mobile_image_mounter.auto_mount``).

        iOS 17+ gets the personalized image: downloaded once (to ~/.pymobiledevice3) and signed
        for the phone by Apple's signing server on its first mount and again after each restart.
        Raises LaunchUnavailable naming what failed, DeveloperModeOff, or PhoneLocked.
        """
        import requests
        from pymobiledevice3.exceptions import AlreadyMountedError, PyMobileDevice3Exception, TSSError
        from pymobiledevice3.services.mobile_image_mounter import (
            auto_mount,
            fetch_personalized_ddi,
            uses_cryptex_image,
            uses_personalized_image,
        )

        try:
            if uses_personalized_image(provider) and not uses_cryptex_image(provider):
                # auto_mount downloads the image with blocking HTTP calls: fetch it off this shared loop
                # (auto_mount then finds it in its cache).
                await asyncio.to_thread(fetch_personalized_ddi)
        except (requests.RequestException, PyMobileDevice3Exception) as exc:
            raise LaunchUnavailable(
                f"mount the developer disk image: cannot download it ({_one_line(exc)})",
                hint="connect this machine to the internet (raw.githubusercontent.com) and run again",
            ) from exc
        try:
            await auto_mount(provider)
        except AlreadyMountedError:
            return
        except (requests.RequestException, TSSError) as exc:
            raise LaunchUnavailable(
                f"mount the developer disk image: Apple's signing server did not sign it for this phone "
                f"({_one_line(exc)}); it signs the image at its first mount and again after each restart",
                hint="connect this machine to the internet (gs.apple.com) and run again",
            ) from exc
        except PyMobileDevice3Exception as exc:
            what = "mount the developer disk image"
            if "DeviceLocked" in str(exc):  # the image mounter's answer while the phone is locked
                raise PhoneLocked(f"{what}: the phone is locked", hint="unlock the phone and run again") from exc
            known = phone_error(exc, what)  # Developer Mode off, a dropped connection ...
            if known is not None and type(known) is not PhoneError:
                raise known from exc
            raise LaunchUnavailable(f"{what}: {_one_line(exc)}",
                                    hint="mount it by hand to see why: `pymobiledevice3 mounter auto-mount`") from exc

    @contextlib.contextmanager
    def energy_impact(self, udid: str, bundle_id: str) -> Iterator[ImpactRecording]:
        """Sample Xcode's energy gauge (pymobiledevice3's ``EnergyMonitor``) for the app's running
        process, once per ``SAMPLE_INTERVAL_S``, on the shared loop while the block runs, and once more
        when it ends. The process is the one DVT names for the bundle id when the block starts.

        Raises LaunchUnavailable (no developer services) or EnergyImpactUnavailable (the app is not
        running) before the block; an error after that ends sampling and is the recording's ``error``.
        """
        from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
        from pymobiledevice3.services.dvt.instruments.energy_monitor import EnergyMonitor
        from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl

        what = "read the energy impact"
        started: concurrent.futures.Future[ImpactRecording] = concurrent.futures.Future()
        stop = threading.Event()

        async def sample() -> None:
            async with self._developer_provider(udid, what) as provider, DvtProvider(provider) as dvt:
                async with ProcessControl(dvt) as control:
                    pid = await control.process_identifier_for_bundle_identifier(bundle_id)
                if not pid:
                    raise EnergyImpactUnavailable(f"{what}: {bundle_id} is not running")
                recording = ImpactRecording(pid=int(pid))
                async with EnergyMonitor(dvt, [recording.pid]) as monitor:
                    started.set_result(recording)
                    async for reply in monitor:  # one sampleAttributes:forPIDs: per step
                        recording.replies.append(reply)
                        if stop.is_set():
                            return
                        await _wait_for(stop, SAMPLE_INTERVAL_S)

        task = asyncio.run_coroutine_threadsafe(_with_timeout(sample(), SAMPLING_LIMIT_S), self._loop.loop)
        task.add_done_callback(lambda done: started.done() or started.set_exception(
            done.exception() or EnergyImpactUnavailable(f"{what}: the gauge stopped before it started")))
        try:
            recording = started.result(CALL_TIMEOUT_S)
        except Exception as exc:
            task.cancel()
            error = phone_error(exc, what)  # a TimeoutError waiting for the start is PhoneTimeout
            if error is None:
                raise
            raise error from exc
        try:
            yield recording
        finally:
            stop.set()
            try:
                task.result(CALL_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - any library error ends this recording, said in one line
                error = phone_error(exc, what)
                recording.error = str(error) if error is not None else f"{what}: {_one_line(exc)}"
                task.cancel()

    def battery(self, udid: str) -> BatteryReading:
        """Read the IOPMPowerSource entry through the diagnostics relay."""
        from pymobiledevice3.services.diagnostics import DiagnosticsService

        async def call() -> Any:
            async with self._provider(udid) as provider, DiagnosticsService(lockdown=provider) as diagnostics:
                return await diagnostics.ioregistry(ioclass="IOPMPowerSource")

        return parse_battery(self._run("read the battery", call))


class _AfcContainer:
    """``AppContainer`` over an open HouseArrestService (an AfcService)."""

    def __init__(self, services: Pymobiledevice3Services, afc: Any) -> None:
        self._services = services
        self._afc = afc

    def _run(self, what: str, call: Callable[[], Awaitable[T]], size: int = 0) -> T:
        return self._services._run(what, call, CALL_TIMEOUT_S + size * SECONDS_PER_BYTE)

    def exists(self, path: str) -> bool:
        """Stat the path."""
        return self._run(f"stat {path}", lambda: self._afc.exists(documents_path(path)))

    def listdir(self, path: str) -> list[str]:
        """List a folder; [] when missing."""
        from pymobiledevice3.exceptions import AfcFileNotFoundError

        async def call() -> list[str]:
            try:
                return list(await self._afc.listdir(documents_path(path)))
            except AfcFileNotFoundError:
                return []

        return self._run(f"list {path}", call)

    def read_bytes(self, path: str) -> bytes:
        """Read a whole (small) file."""
        return self._run(f"read {path}", lambda: self._afc.get_file_contents(documents_path(path)))

    def write_bytes(self, path: str, data: bytes) -> None:
        """Create or truncate a file and write ``data``."""
        self._run(f"write {path}", lambda: self._afc.set_file_contents(documents_path(path), data), len(data))

    def push_file(self, local: Path, path: str) -> None:
        """Upload a file (large files are streamed in chunks by pymobiledevice3)."""
        size = Path(local).stat().st_size
        self._run(f"push {Path(local).name}",
                  lambda: self._afc.push(str(local), documents_path(path), progress_bar=False), size)

    def pull_file(self, path: str, local: Path) -> None:
        """Download a file."""
        self._run(f"pull {path}", lambda: self._afc.pull(documents_path(path), str(local), progress_bar=False))

    def rename(self, source: str, target: str) -> None:
        """AFC rename."""
        self._run(f"rename {source}", lambda: self._afc.rename(documents_path(source), documents_path(target)))

    def remove(self, path: str) -> None:
        """Remove recursively; missing is fine."""

        async def call() -> None:
            full = documents_path(path)
            if await self._afc.exists(full):
                await self._afc.rm(full, force=False)

        self._run(f"remove {path}", call)

    def makedirs(self, path: str) -> None:
        """AFC make-dir (creates parents)."""
        self._run(f"create {path}", lambda: self._afc.makedirs(documents_path(path)))
