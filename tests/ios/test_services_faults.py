"""Pymobiledevice3Services when a first iOS 17/18 run goes wrong: a refused launch, a stale tunnel, UDIDs
spelt two ways, a developer disk image to mount, a slow tunneld, an install's progress bar.

Everything pymobiledevice3 raises here is its own exception class, and every shape it returns is its
own: the tunnels come from an HTTP server answering as tunneld does (``GET /``), read by the library's
own client, and a tunnel that does not answer is a closed port on 127.0.0.1 that the library's
``RemoteServiceDiscoveryService`` really fails to connect to. Where a phone service is needed (DVT,
the image mounter, AFC), the library's class is kept and only its I/O is replaced.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pymobiledevice3 import progress
from pymobiledevice3.dtx import DTXNsError
from pymobiledevice3.dtx.ns_types import NSError
from pymobiledevice3.exceptions import (
    AfcFileNotFoundError,
    AlreadyMountedError,
    DeveloperModeIsNotEnabledError,
    InvalidServiceError,
    PyMobileDevice3Exception,
    TSSError,
)
from pymobiledevice3.remote.remote_service_discovery import RemoteServiceDiscoveryService
from pymobiledevice3.services import mobile_image_mounter
from pymobiledevice3.services.afc import AfcService
from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl
from pymobiledevice3.services.installation_proxy import TEMP_REMOTE_BASEDIR, InstallationProxyService
from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid

from ios_runner.services import (
    LAUNCH_REFUSED_HINT,
    MOUNT_TIMEOUT_S,
    DeveloperModeOff,
    LaunchRefused,
    LaunchUnavailable,
    PhoneError,
    PhoneLocked,
    Pymobiledevice3Services,
    phone_error,
    same_udid,
)
from android_runner.loopback.ports import free_port
from tests.ios.loopback_usbmuxd import LoopbackPhone, LoopbackUsbmuxd

UDID = "00008101-000611223344556E"
#: The same phone as usbmuxd on Linux may list it: without the dash.
UDID_NO_DASH = UDID.replace("-", "")
LOOP_THREAD = "benchlab-pymobiledevice3"  # the name of Pymobiledevice3Services' event-loop thread
BUNDLE = "org.benchlab.runner"
#: SpringBoard's answer to a launch on a locked phone, as DVT returns it (an NSError).
LOCKED = NSError(1, "FBSOpenApplicationServiceErrorDomain", {
    "NSLocalizedDescription": f'The request to open "{BUNDLE}" failed.',
    "NSLocalizedFailureReason": (f"The request was denied by service delegate (SBMainWorkspace) for reason: Locked "
                                 f'("Unable to launch {BUNDLE} because the device was not, or could not be, unlocked").'),
    "BSErrorCodeDescription": "RequestDenied",
})


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: a tunnel tunneld still lists after an unplug."""
    return free_port()


class FakeTunneld:
    """An HTTP server answering ``GET /`` as ``pymobiledevice3 remote tunneld`` does: {udid: [tunnel, ...]}."""

    def __init__(self, tunnels: dict[str, list[dict[str, Any]]]) -> None:
        body = json.dumps(tunnels).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = ("127.0.0.1", int(self.server.server_address[1]))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTunneld:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def stale_tunnel(udid: str = UDID) -> dict[str, list[dict[str, Any]]]:
    """tunneld's listing of one tunnel that no longer answers."""
    return {udid: [{"tunnel-address": "127.0.0.1", "tunnel-port": closed_port(), "interface": "utun4",
                    "auxiliary-metadata": None, "origin": None}]}


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (address, port) the library's RemoteServiceDiscoveryService tried to connect to."""
    tried: list[tuple[str, int]] = []
    real = RemoteServiceDiscoveryService.connect

    async def connect(self: RemoteServiceDiscoveryService) -> None:
        tried.append(self.service.address)
        await real(self)

    monkeypatch.setattr(RemoteServiceDiscoveryService, "connect", connect)
    return tried


@pytest.fixture
def http_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each blocking ``requests.get`` ran on (tunneld's listing is one)."""
    names: list[str] = []
    real = requests.get

    def get(*args: Any, **kwargs: Any) -> Any:
        names.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(requests, "get", get)
    return names


@contextlib.contextmanager
def real_services(**kwargs: Any) -> Iterator[Pymobiledevice3Services]:
    services = Pymobiledevice3Services(**kwargs)
    try:
        yield services
    finally:
        services.close()


# --- tunneld: stale tunnels, UDIDs without the dash, the blocking listing --------------------------


def test_a_tunnel_tunneld_lists_but_cannot_connect_is_no_tunnel(connects: list[tuple[str, int]]) -> None:
    with FakeTunneld(stale_tunnel()) as tunneld, real_services(tunneld_address=tunneld.address) as services:
        with pytest.raises(IndexError):  # what the library's own lookup does with it (``rsds[0]`` of none)
            services._loop.run(get_tunneld_device_by_udid(UDID, tunneld_address=tunneld.address), 30)
        assert services._loop.run(services._tunnel(UDID), 30) is None
    assert len(connects) == 2, "the library did try the listed tunnel, each time"


def test_a_stale_tunnel_does_not_break_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    with LoopbackUsbmuxd([]) as usbmuxd, FakeTunneld(stale_tunnel()) as tunneld:
        monkeypatch.setenv("BENCHLAB_USBMUXD", usbmuxd.address)
        with real_services(tunneld_address=tunneld.address) as services:
            assert services.list_phones() == []


def test_a_phone_usbmux_lists_without_the_dash_is_the_one_tunneld_lists_with_it(
        monkeypatch: pytest.MonkeyPatch, connects: list[tuple[str, int]]) -> None:
    phone = LoopbackPhone(serial=UDID_NO_DASH, device_id=3, values={
        "ProductType": "iPhone13,2", "ProductVersion": "17.4.1", "BuildVersion": "21E236", "DeviceName": "Lab 12",
        "DeviceClass": "iPhone", "UniqueDeviceID": UDID})
    with LoopbackUsbmuxd([phone]) as usbmuxd, FakeTunneld(stale_tunnel(UDID)) as tunneld:
        monkeypatch.setenv("BENCHLAB_USBMUXD", usbmuxd.address)
        with real_services(tunneld_address=tunneld.address) as services:
            (listing,) = services.list_phones()
            assert listing.udid == UDID_NO_DASH and services.transport(listing.udid) == "usbmux-remote"
            assert connects == [], "a phone usbmux lists is not listed (nor connected to) again through tunneld"
            assert services._loop.run(get_tunneld_device_by_udid(UDID_NO_DASH, tunneld_address=tunneld.address),
                                      30) is None, "the library compares the UDIDs as exact strings"
            assert connects == []
            services._loop.run(services._tunnel(UDID_NO_DASH), 30)  # the launch of an iOS 17 phone looks it up so
    assert len(connects) == 1, "the tunnel tunneld keys by the dashed UDID is the phone's"
    assert same_udid(UDID, UDID_NO_DASH) and same_udid(UDID.lower(), UDID) and not same_udid(UDID, UDID[:-1] + "F")


def test_tunneld_is_asked_off_the_shared_event_loop(http_threads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """tunneld's listing is a blocking HTTP call (5 s timeout): on the loop, every phone would wait for it."""
    with LoopbackUsbmuxd([]) as usbmuxd, FakeTunneld(stale_tunnel()) as tunneld:
        monkeypatch.setenv("BENCHLAB_USBMUXD", usbmuxd.address)
        with real_services(tunneld_address=tunneld.address) as services:
            services.list_phones()
            services._loop.run(services._tunnel(UDID), 30)
    assert len(http_threads) >= 2 and LOOP_THREAD not in http_threads


# --- launching: refused, and the developer disk image ----------------------------------------------


class StandInProvider:
    """What the launch needs of a lockdown service provider: the phone's iOS version and UDID."""

    def __init__(self, product_version: str) -> None:
        self.product_version = product_version
        self.udid = UDID


@pytest.fixture
def dvt(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """pymobiledevice3's DvtProvider and ProcessControl without a phone: ``launch`` answers ``outcome``
    (a pid, or an exception to raise); ``launches`` counts the calls."""
    state: dict[str, Any] = {"outcome": 4242, "launches": 0, "unavailable": 0}

    async def enter(self: Any) -> Any:
        return self

    async def start_dvt(self: DvtProvider) -> DvtProvider:
        if state["unavailable"]:  # lockdown's answer for a service the phone does not have now
            state["unavailable"] -= 1
            raise InvalidServiceError("com.apple.instruments.dtservicehub", UDID, "17.4.1")
        return self

    async def leave(self: Any, *exc: object) -> None:
        return None

    async def launch(self: ProcessControl, bundle_id: str, kill_existing: bool = True, **kwargs: Any) -> int:
        state["launches"] += 1
        if isinstance(state["outcome"], BaseException):
            raise state["outcome"]
        assert state["outcome"]  # what ProcessControl.launch does with the pid the phone answers
        return int(state["outcome"])

    for cls in (DvtProvider, ProcessControl):
        monkeypatch.setattr(cls, "__aenter__", enter)
        monkeypatch.setattr(cls, "__aexit__", leave)
    monkeypatch.setattr(DvtProvider, "__aenter__", start_dvt)
    monkeypatch.setattr(ProcessControl, "launch", launch)
    return state


@pytest.fixture
def mounter(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``auto_mount`` and ``fetch_personalized_ddi`` without a phone or the network: ``error`` is what
    auto_mount raises (None: it mounts); ``mounts`` counts its calls, ``fetch_threads`` where the
    image download ran."""
    state: dict[str, Any] = {"error": None, "mounts": 0, "fetch_threads": []}

    async def auto_mount(lockdown: Any, **kwargs: Any) -> None:
        state["mounts"] += 1
        if state["error"] is not None:
            raise state["error"]

    def fetch() -> tuple[Path, Path, Path]:
        state["fetch_threads"].append(threading.current_thread().name)
        return Path("Image.dmg"), Path("BuildManifest.plist"), Path("Image.trustcache")

    monkeypatch.setattr(mobile_image_mounter, "auto_mount", auto_mount)
    monkeypatch.setattr(mobile_image_mounter, "fetch_personalized_ddi", fetch)
    return state


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pymobiledevice3Services]:
    """Real services whose phone (reached through tunneld, iOS 17.4) is a StandInProvider."""

    @contextlib.asynccontextmanager
    async def provider(self: Pymobiledevice3Services, udid: str, paired: bool = True) -> AsyncIterator[Any]:
        yield StandInProvider("17.4.1")

    monkeypatch.setattr(Pymobiledevice3Services, "_provider", provider)
    with real_services() as services:
        services._rsd_only.add(UDID)
        yield services


@pytest.mark.usefixtures("mounter")
@pytest.mark.parametrize(("outcome", "says"), [
    (DTXNsError(LOCKED), "because the device was not, or could not be, unlocked"),
    (0, "the phone gave no process for it"),  # ProcessControl.launch asserts on a zero pid
])
def test_a_refused_launch_is_a_device_failure_with_what_to_do(launcher: Pymobiledevice3Services,
                                                              dvt: dict[str, Any], outcome: Any, says: str) -> None:
    dvt["outcome"] = outcome
    with pytest.raises(LaunchRefused) as caught:
        launcher.launch_app(UDID, BUNDLE, timeout_s=30)
    assert str(caught.value).startswith(f"launch {BUNDLE}: ") and says in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.hint == LAUNCH_REFUSED_HINT and "7 days" in LAUNCH_REFUSED_HINT


def test_the_developer_disk_image_is_mounted_before_the_first_launch_of_a_session(
        launcher: Pymobiledevice3Services, dvt: dict[str, Any], mounter: dict[str, Any]) -> None:
    launcher.launch_app(UDID, BUNDLE, timeout_s=30)
    assert (mounter["mounts"], dvt["launches"]) == (1, 1)
    assert mounter["fetch_threads"] and LOOP_THREAD not in mounter["fetch_threads"], \
        "the personalized image is downloaded off the shared event loop"
    launcher.launch_app(UDID, BUNDLE, timeout_s=30)
    assert (mounter["mounts"], dvt["launches"]) == (1, 2), "once per session"


def test_the_launch_that_mounts_the_image_is_given_the_time_a_first_mount_takes(
        launcher: Pymobiledevice3Services, dvt: dict[str, Any], mounter: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloading the image and having Apple sign it takes longer than a launch: not a 'phone timeout'."""
    budgets: list[float] = []
    run = launcher._loop.run

    def recording(coroutine: Any, timeout_s: float) -> Any:
        budgets.append(timeout_s)
        return run(coroutine, timeout_s)

    monkeypatch.setattr(launcher._loop, "run", recording)
    launcher.launch_app(UDID, BUNDLE, timeout_s=60)
    launcher.launch_app(UDID, BUNDLE, timeout_s=60)
    assert budgets == [60 + MOUNT_TIMEOUT_S, 60]


def test_a_phone_restarted_since_the_session_mounted_the_image_gets_it_mounted_again(
        launcher: Pymobiledevice3Services, dvt: dict[str, Any], mounter: dict[str, Any]) -> None:
    launcher.launch_app(UDID, BUNDLE, timeout_s=30)
    dvt["unavailable"] = 1  # the restart unmounted the image: no DVT
    launcher.launch_app(UDID, BUNDLE, timeout_s=30)
    assert (mounter["mounts"], dvt["launches"]) == (2, 2)


def test_no_developer_services_right_after_a_mount_is_launch_unavailable(
        launcher: Pymobiledevice3Services, dvt: dict[str, Any], mounter: dict[str, Any]) -> None:
    dvt["unavailable"] = 2
    with pytest.raises(LaunchUnavailable):
        launcher.launch_app(UDID, BUNDLE, timeout_s=30)
    assert (mounter["mounts"], dvt["launches"]) == (1, 0), "no mount loop"


def test_an_image_already_mounted_is_used(launcher: Pymobiledevice3Services, dvt: dict[str, Any],
                                          mounter: dict[str, Any]) -> None:
    mounter["error"] = AlreadyMountedError()
    launcher.launch_app(UDID, BUNDLE, timeout_s=30)
    assert dvt["launches"] == 1


@pytest.mark.parametrize(("error", "expected", "says", "hint"), [
    (DeveloperModeIsNotEnabledError(), DeveloperModeOff, "mount the developer disk image",
     "`pymobiledevice3 amfi reveal-developer-mode`"),
    (TSSError("Apple's signing server (TSS) refused the request: STATUS=94"), LaunchUnavailable,
     "Apple's signing server did not sign it for this phone", "internet"),
    (requests.ConnectionError("Max retries exceeded with url: /TSS/controller?action=2"), LaunchUnavailable,
     "again after each restart", "gs.apple.com"),
    (PyMobileDevice3Exception("The device failed to mount the Personalized image: "
                              "{'Error': 'DeviceLocked', 'Status': 'Failed'}"), PhoneLocked,
     "the phone is locked", "unlock the phone"),
])
def test_each_reason_the_image_cannot_be_mounted_is_one_line(
        launcher: Pymobiledevice3Services, dvt: dict[str, Any], mounter: dict[str, Any],
        error: BaseException, expected: type, says: str, hint: str) -> None:
    mounter["error"] = error
    with pytest.raises(expected) as caught:
        launcher.launch_app(UDID, BUNDLE, timeout_s=30)
    assert type(caught.value) is expected and says in str(caught.value) and "\n" not in str(caught.value)
    assert hint in (caught.value.hint or "")
    assert dvt["launches"] == 0


# --- installing --------------------------------------------------------------------------------------


def test_installing_draws_no_progress_bar_of_pymobiledevice3s(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              launcher: Pymobiledevice3Services) -> None:
    """The library's AFC and installation_proxy classes run; only their connection is replaced."""
    phone: dict[str, Any] = {"files": {}, "commands": []}

    def drawn(*args: Any) -> Any:
        raise AssertionError("pymobiledevice3 drew a progress bar")

    async def enter(self: Any) -> Any:
        return self

    async def leave(self: Any, *exc: object) -> None:
        return None

    async def makedirs(self: AfcService, filename: str) -> None:
        return None

    async def isdir(self: AfcService, filename: str) -> bool:
        raise AfcFileNotFoundError("no such file", 8, filename)

    async def exists(self: AfcService, filename: str) -> bool:
        return filename == TEMP_REMOTE_BASEDIR or filename in phone["files"]

    async def set_file_contents(self: AfcService, filename: str, data: bytes, progress: Any = None) -> None:
        phone["files"][filename] = data

    async def rm_single(self: AfcService, filename: str, force: bool = False) -> bool:
        return phone["files"].pop(filename, None) is not None

    async def send_package(self: InstallationProxyService, cmd: str, options: Any, handler: Any,
                           package_path: str, *args: Any) -> None:
        phone["commands"].append((cmd, package_path, phone["files"].get(package_path)))

    monkeypatch.setattr(progress._display, "acquire", drawn)
    for cls in (AfcService, InstallationProxyService):
        monkeypatch.setattr(cls, "__aenter__", enter)
        monkeypatch.setattr(cls, "__aexit__", leave)
    for name, fake in (("makedirs", makedirs), ("isdir", isdir), ("exists", exists),
                       ("set_file_contents", set_file_contents), ("rm_single", rm_single)):
        monkeypatch.setattr(AfcService, name, fake)
    monkeypatch.setattr(InstallationProxyService, "send_package", send_package)
    ipa = tmp_path / "BenchlabRunner.ipa"
    ipa.write_bytes(b"PK\x03\x04 an ipa")

    launcher.install_app(UDID, ipa, timeout_s=30)

    ((cmd, staged, uploaded),) = phone["commands"]
    assert cmd == "Install" and staged.startswith(f"{TEMP_REMOTE_BASEDIR}/") and uploaded == ipa.read_bytes()
    assert phone["files"] == {}, "the staged copy is removed"


def test_the_app_readme_shows_what_benchlab_prints_once_the_signing_has_expired() -> None:
    """The line a job fails with (message; hint), for SpringBoard's answer to an app whose profile expired."""
    bundle = "com.example.benchlab.runner"
    expired = NSError(1, "FBSOpenApplicationServiceErrorDomain", {
        "NSLocalizedFailureReason": (
            f'The request was denied by service delegate (SBMainWorkspace) for reason: Security ("Unable to launch '
            f'{bundle} because it has an invalid code signature, inadequate entitlements or its profile has not been '
            f'explicitly trusted by the user")')})
    error = phone_error(DTXNsError(expired), f"launch {bundle}")
    assert isinstance(error, LaunchRefused)
    readme = (Path(__file__).resolve().parents[2] / "ios_runner" / "app" / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### When the signing expires"):]
    shown = section.split("```\n", 2)[1].strip()
    assert shown == f"{error}; {error.hint}"


# --- Xcode's energy gauge through pymobiledevice3's EnergyMonitor ----------------------------------


class RecordedGauge:
    """What EnergyMonitor's DTX channel (EnergyMonitorService) answers: the recorded replies of real
    phones in turn (tests/ios/public), then ``fail`` if set; every call is noted in ``calls``."""

    def __init__(self, replies: list[Any], fail: BaseException | None = None) -> None:
        self.replies: list[Any] = list(replies)
        self.fail = fail
        self.calls: list[tuple[str, Any]] = []

    async def start_sampling_for_pids_(self, pids: list[int]) -> None:
        self.calls.append(("start", pids))

    async def stop_sampling_for_pids_(self, pids: list[int]) -> None:
        self.calls.append(("stop", pids))

    async def sample_attributes_for_pids_(self, attributes: dict[str, Any], pids: list[int]) -> Any:
        self.calls.append(("sample", pids))
        if not self.replies and self.fail is not None:
            raise self.fail
        return self.replies.pop(0) if self.replies else {}


@pytest.fixture
def gauge(monkeypatch: pytest.MonkeyPatch, dvt: dict[str, Any]) -> dict[str, Any]:
    """pymobiledevice3's EnergyMonitor (its real __aenter__, iteration and __aexit__) over a RecordedGauge
    channel; ProcessControl names ``state["pid"]`` for the app. Asked every 20 ms instead of every second."""
    from pymobiledevice3.services.dvt.instruments.energy_monitor import EnergyMonitor

    import ios_runner.services
    from tests.ios.fake_phone import recorded_energy_replies

    state: dict[str, Any] = {"pid": 1714, "gauge": RecordedGauge(recorded_energy_replies(1714))}

    async def connect(self: EnergyMonitor) -> None:
        self._service = state["gauge"]

    async def pid_for(self: ProcessControl, bundle_id: str) -> int:
        return int(state["pid"])

    monkeypatch.setattr(EnergyMonitor, "connect", connect)
    monkeypatch.setattr(ProcessControl, "process_identifier_for_bundle_identifier", pid_for)
    monkeypatch.setattr(ios_runner.services, "SAMPLE_INTERVAL_S", 0.02)
    return state


def until(condition: Callable[[], bool], limit_s: float = 120.0) -> None:
    """Wait until `condition` holds; the limit is a safety net against a hang, never what is tested."""
    import time

    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "the gauge never got there"
        time.sleep(0.01)


def test_the_energy_gauge_is_read_with_pymobiledevice3s_energy_monitor_while_the_block_runs(
        launcher: Pymobiledevice3Services, gauge: dict[str, Any]) -> None:
    from ios_runner.energy_impact import repeat_values
    from tests.ios.fake_phone import recorded_energy_replies

    with launcher.energy_impact(UDID, BUNDLE) as recording:
        until(lambda: len(recording.replies) >= 4)  # the block lasts until the gauge answered, however busy
    assert recording.pid == 1714 and recording.error is None
    assert recording.replies[:4] == recorded_energy_replies(1714), "each reply as EnergyMonitor yields it"
    calls = gauge["gauge"].calls
    # EnergyMonitor stops any earlier sampling, starts, samples; it stops when the block ends.
    assert calls[:2] == [("stop", [1714]), ("start", [1714])] and calls[-1] == ("stop", [1714])
    assert repeat_values([(recording.pid, recording.replies)])["energy_impact.readings"] == 3


@pytest.mark.parametrize(("setup", "raised", "says"), [
    ({"pid": 0}, "EnergyImpactUnavailable", "org.benchlab.runner is not running"),
    ({"unavailable": 1}, "LaunchUnavailable", "read the energy impact"),  # no DVT: lockdown's InvalidServiceError
])
def test_a_gauge_that_cannot_start_says_why_in_one_line(launcher: Pymobiledevice3Services, gauge: dict[str, Any],
                                                        dvt: dict[str, Any], setup: dict[str, Any], raised: str,
                                                        says: str) -> None:
    gauge.update({k: v for k, v in setup.items() if k == "pid"})
    dvt.update({k: v for k, v in setup.items() if k == "unavailable"})
    with pytest.raises(PhoneError) as caught, launcher.energy_impact(UDID, BUNDLE):
        pass
    assert type(caught.value).__name__ == raised and says in str(caught.value) and "\n" not in str(caught.value)


def test_a_gauge_that_breaks_off_mid_block_keeps_what_it_read_and_says_why(
        launcher: Pymobiledevice3Services, gauge: dict[str, Any]) -> None:
    from pymobiledevice3.exceptions import ConnectionTerminatedError

    broken = gauge["gauge"] = RecordedGauge(gauge["gauge"].replies[:2], fail=ConnectionTerminatedError())
    with launcher.energy_impact(UDID, BUNDLE) as recording:
        # The block lasts until the gauge was asked a third time and broke off, however busy the machine.
        until(lambda: [name for name, _ in broken.calls].count("sample") >= 3)
    assert len(recording.replies) == 2
    assert recording.error is not None and recording.error.startswith("read the energy impact: ")
