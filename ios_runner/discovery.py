"""Find iPhones over usbmux (local, or remote with $BENCHLAB_USBMUXD) and say which can run jobs.

A phone that cannot run jobs yet is still listed, with its state and what to do, and every job it
gets fails with that reason (as on Android):

``not-paired``          the phone does not trust this computer (the Trust prompt is shown)
``locked``              it must be unlocked before it can be paired
``developer-mode-off``  Developer Mode is off (development-signed apps do not run)
``app-missing``         the runner app is not installed and no .ipa was given
``unsupported-ios``     older than the runner app's iOS 16
``offline``             listed by usbmux but not answering

Configuration (environment): ``BENCHLAB_IOS_BUNDLE_ID`` the lab's runner app bundle id (default
``org.benchlab.runner``); ``BENCHLAB_IOS_RUNNER_IPA`` an .ipa installed on phones that lack the
app or have another version of it; ``BENCHLAB_IOS_PAIR_TIMEOUT_S`` how long discovery waits for
someone to tap Trust (default 0: show the prompt, report ``not-paired``, pick it up next run);
plus ``BENCHLAB_USBMUXD`` and ``BENCHLAB_IOS_TUNNELD`` (see ``ios_runner.services``).
"""

from __future__ import annotations

import functools
import logging
import plistlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchlab.settings import IOS_BUNDLE_ID, IOS_PAIR_TIMEOUT, IOS_RUNNER_IPA, read
from benchlab.execute.devices import UnavailableDevice
from benchlab.errors import DeviceError
from benchlab.plan.profiles import DeviceProfile
from benchlab.records import DeviceInfo
from ios_runner.device import IPhoneDevice
from ios_runner.platform import IOS
from ios_runner.product_types import lookup
from ios_runner.protocol import APP_MIN_IOS, app_supports_ios
from ios_runner.services import InstalledApp, PhoneError, PhoneListing, PhoneServices, canonical_udid

log = logging.getLogger(__name__)

DEFAULT_BUNDLE_ID = "org.benchlab.runner"
#: usbmux also lists iPads, Apple TVs and watches; the runner app is an iPhone app (iPads run it too).
RUNNABLE_DEVICE_CLASSES = ("iPhone", "iPad", "iPod")


@dataclass(frozen=True)
class RunnerConfig:
    """Which app benchlab drives on iPhones and how it gets there."""

    bundle_id: str = DEFAULT_BUNDLE_ID
    ipa: Path | None = None
    pair_wait_s: float = 0.0

    @classmethod
    def from_env(cls) -> RunnerConfig:
        """Read $BENCHLAB_IOS_BUNDLE_ID, $BENCHLAB_IOS_RUNNER_IPA and $BENCHLAB_IOS_PAIR_TIMEOUT_S.

        Raises DeviceError when the .ipa does not exist or the timeout is not a number.
        """
        ipa = read(IOS_RUNNER_IPA) or ""
        if ipa and not Path(ipa).is_file():
            raise DeviceError(f"{IOS_RUNNER_IPA.name}={ipa} is not a file",
                              hint="export the runner app as an .ipa (ios_runner/app/README.md, step 9)")
        try:
            wait = float(read(IOS_PAIR_TIMEOUT) or 0)
        except ValueError as exc:
            raise DeviceError(f"{IOS_PAIR_TIMEOUT.name} must be a number of seconds") from exc
        return cls(bundle_id=read(IOS_BUNDLE_ID) or DEFAULT_BUNDLE_ID,
                   ipa=Path(ipa) if ipa else None, pair_wait_s=wait)


def ipa_app(ipa: Path) -> InstalledApp | None:
    """Return the bundle id and versions inside an .ipa (Payload/*.app/Info.plist), or None if unreadable."""
    try:
        with zipfile.ZipFile(ipa) as archive:
            name = next((n for n in archive.namelist()
                         if n.startswith("Payload/") and n.count("/") == 2 and n.endswith(".app/Info.plist")), None)
            if name is None:
                return None
            info = plistlib.loads(archive.read(name))
    except (OSError, zipfile.BadZipFile, plistlib.InvalidFileException, ValueError):
        return None
    return InstalledApp(bundle_id=str(info.get("CFBundleIdentifier", "?")),
                        short_version=str(info.get("CFBundleShortVersionString", "?")),
                        build_version=str(info.get("CFBundleVersion", "?")))


class UnavailableIPhone(UnavailableDevice):
    """An iPhone that was seen but cannot run jobs; every job it gets fails with the reason."""

    def __init__(self, listing: PhoneListing, state: str, reason: str, transport: str = "usbmux") -> None:
        product = lookup(listing.product_type) if listing.product_type else None
        version = f"iOS {listing.product_version}" if listing.product_version else None
        info = DeviceInfo(id=canonical_udid(listing.udid), platform="ios", maker="Apple",
                          model=product.name if product else listing.product_type,
                          soc=product.chip if product else None, os_version=version, state=state,
                          transport=transport)
        # Everything an iPhone could run, so each job reaches run() and records the reason.
        super().__init__(info, reason, IOS.capabilities())


@functools.lru_cache(maxsize=1)
def default_services() -> PhoneServices:
    """The real services (pymobiledevice3), made once per process: it keeps an event-loop thread."""
    from ios_runner.services import Pymobiledevice3Services

    return Pymobiledevice3Services()


def _state(services: PhoneServices, listing: PhoneListing, config: RunnerConfig) -> tuple[str, str] | None:
    """Return (state, reason) when the phone cannot run jobs, None when it can."""
    udid = listing.udid
    name = listing.device_name or listing.product_type or "the iPhone"
    if listing.product_version and not app_supports_ios(listing.product_version):
        minimum = ".".join(map(str, APP_MIN_IOS))
        return "unsupported-ios", (f"unsupported iOS: {name} runs iOS {listing.product_version}, the runner app "
                                   f"needs iOS {minimum} or later ({udid})")
    pairing = services.pairing_state(udid, config.pair_wait_s)
    if pairing == "trust-pending":
        return "not-paired", (f"not paired: unlock {name} and tap Trust on the 'Trust This Computer?' prompt, "
                              f"then run again ({udid})")
    if pairing == "locked":
        return "locked", f"locked: unlock {name} so it can be paired (it asks for its passcode), then run again ({udid})"
    if pairing == "denied":
        return "not-paired", (f"not paired: {name} refused to trust this computer; unplug it, plug it in again "
                              f"and tap Trust ({udid})")
    if services.developer_mode(udid) is False:
        return "developer-mode-off", (f"developer mode off: turn on Settings > Privacy & Security > Developer Mode "
                                      f"on {name} (it restarts), then run again; if the switch is not there, reveal it "
                                      f"with `pymobiledevice3 amfi reveal-developer-mode` ({udid})")
    if config.ipa is None and services.installed_app(udid, config.bundle_id) is None:
        return "app-missing", (f"runner app missing: {config.bundle_id} is not installed on {name}; install it "
                               f"(ios_runner/app/README.md) or set {IOS_RUNNER_IPA.name} to its .ipa ({udid})")
    return None


def open_phone(services: PhoneServices, listing: PhoneListing, config: RunnerConfig,
               profiles: Sequence[DeviceProfile] | None = None) -> IPhoneDevice | UnavailableIPhone:
    """Return the phone as a Device: ready, or unavailable with its state and reason. Never raises PhoneError."""
    transport = services.transport(listing.udid)
    try:
        refused = _state(services, listing, config)
        if refused is not None:
            return UnavailableIPhone(listing, *refused, transport=transport)
        app = services.installed_app(listing.udid, config.bundle_id)
        return IPhoneDevice(services, listing, config.bundle_id, app, ipa=config.ipa,
                            ipa_app=ipa_app(config.ipa) if config.ipa else None, profiles=profiles)
    except PhoneError as exc:
        reason = f"offline: {exc}" + (f"; {exc.hint}" if exc.hint else "")
        return UnavailableIPhone(listing, "offline", " ".join(reason.split()), transport=transport)


def discover(targets: Sequence[str] = (), services: PhoneServices | None = None,
             config: RunnerConfig | None = None,
             profiles: Sequence[DeviceProfile] | None = None) -> list[IPhoneDevice | UnavailableIPhone]:
    """Return every iPhone usbmux lists, ready or not, for `benchlab devices` and runs.

    ``targets`` are accepted for the runner interface; iPhones are found by listing, not by address.
    Raises DeviceError (logged and skipped by benchlab) when usbmuxd cannot be reached or the
    configuration is wrong.
    """
    services = services if services is not None else default_services()
    config = config if config is not None else RunnerConfig.from_env()
    devices: list[IPhoneDevice | UnavailableIPhone] = []
    for listing in services.list_phones():
        if listing.device_class and listing.device_class not in RUNNABLE_DEVICE_CLASSES:
            log.debug("%s is a %s, not a phone the runner app installs on", listing.udid, listing.device_class)
            continue
        devices.append(open_phone(services, listing, config, profiles))
    return devices
