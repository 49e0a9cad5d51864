"""Contract tests: every pymobiledevice3 name, parameter and awaitable that ios_runner.services uses exists
in the installed pymobiledevice3, so an upgrade that renames or reshapes one fails here, not on a lab phone.

Two layers: a readable table of the calls (module, name, parameters, async or not), and a scan of
services.py's own source that checks every call, keyword and attribute it makes on a
pymobiledevice3 object or module against the real library, so the table cannot silently miss one.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from pymobiledevice3.dtx import DTXNsError
from pymobiledevice3.dtx.ns_types import NSError

import ios_runner.services as services_module
from ios_runner.services import (
    DOCUMENTS_ROOT,
    AppInstallFailed,
    AppNotInstalled,
    ContainerError,
    DeveloperModeOff,
    LaunchRefused,
    LaunchUnavailable,
    PhoneDisconnected,
    PhoneError,
    PhoneLocked,
    PhoneNotFound,
    PhoneNotPaired,
    PhoneTimeout,
    Pymobiledevice3Services,
    UsbmuxdUnavailable,
    documents_path,
    parse_battery,
    phone_error,
)
from android_runner.loopback.ports import free_port

SOURCE = Path(services_module.__file__)

# (module, qualified name, parameters we pass by name (or position), awaitable?)
CALLS = [
    ("pymobiledevice3.usbmux", "list_devices", ["usbmux_address"], True),
    ("pymobiledevice3.lockdown", "create_using_usbmux",
     ["serial", "autopair", "pair_timeout", "connection_type", "usbmux_address"], True),
    ("pymobiledevice3.lockdown", "UsbmuxLockdownClient.get_value", ["domain", "key"], True),
    ("pymobiledevice3.lockdown", "UsbmuxLockdownClient.close", [], True),
    ("pymobiledevice3.lockdown", "UsbmuxLockdownClient.get_developer_mode_status", [], True),
    ("pymobiledevice3.remote.remote_service_discovery", "RemoteServiceDiscoveryService.get_value", ["domain", "key"], True),
    ("pymobiledevice3.remote.remote_service_discovery", "RemoteServiceDiscoveryService.close", [], True),
    ("pymobiledevice3.tunneld.api", "get_tunneld_tunnels", ["tunneld_address"], True),
    ("pymobiledevice3.tunneld.api", "_create_rsds_from_tunnels", ["tunnels", "tunneld_address"], True),
    ("pymobiledevice3.services.installation_proxy", "InstallationProxyService.__init__", ["lockdown"], False),
    ("pymobiledevice3.services.installation_proxy", "InstallationProxyService.get_apps",
     ["application_type", "calculate_sizes", "bundle_identifiers"], True),
    ("pymobiledevice3.services.installation_proxy", "InstallationProxyService.send_package",
     ["cmd", "options", "handler", "package_path"], True),
    ("pymobiledevice3.services.afc", "AfcService.__init__", ["lockdown"], False),
    ("pymobiledevice3.services.afc", "AfcService.rm_single", ["filename", "force"], True),
    ("pymobiledevice3.services.mobile_image_mounter", "auto_mount", ["lockdown"], True),
    ("pymobiledevice3.services.mobile_image_mounter", "fetch_personalized_ddi", [], False),
    ("pymobiledevice3.services.mobile_image_mounter", "uses_personalized_image", ["lockdown"], False),
    ("pymobiledevice3.services.mobile_image_mounter", "uses_cryptex_image", ["lockdown"], False),
    ("pymobiledevice3.services.house_arrest", "HouseArrestService.create", ["lockdown", "bundle_id", "documents_only"], True),
    ("pymobiledevice3.services.afc", "AfcService.exists", ["filename"], True),
    ("pymobiledevice3.services.afc", "AfcService.listdir", ["filename"], True),
    ("pymobiledevice3.services.afc", "AfcService.get_file_contents", ["filename"], True),
    ("pymobiledevice3.services.afc", "AfcService.set_file_contents", ["filename", "data"], True),
    ("pymobiledevice3.services.afc", "AfcService.push", ["local_path", "remote_path", "progress_bar"], True),
    ("pymobiledevice3.services.afc", "AfcService.pull", ["relative_src", "dst", "progress_bar"], True),
    ("pymobiledevice3.services.afc", "AfcService.rename", ["source", "target"], True),
    ("pymobiledevice3.services.afc", "AfcService.rm", ["filename", "force"], True),
    ("pymobiledevice3.services.afc", "AfcService.makedirs", ["filename"], True),
    ("pymobiledevice3.services.afc", "AfcService.__aenter__", [], True),
    ("pymobiledevice3.services.afc", "AfcService.__aexit__", [], True),
    ("pymobiledevice3.services.dvt.instruments.dvt_provider", "DvtProvider.__init__", ["lockdown"], False),
    ("pymobiledevice3.services.dvt.instruments.dvt_provider", "DvtProvider.__aenter__", [], True),
    ("pymobiledevice3.services.dvt.instruments.process_control", "ProcessControl.__init__", ["provider"], False),
    ("pymobiledevice3.services.dvt.instruments.process_control", "ProcessControl.__aenter__", [], True),
    ("pymobiledevice3.services.dvt.instruments.process_control", "ProcessControl.launch", ["bundle_id", "kill_existing"], True),
    ("pymobiledevice3.services.diagnostics", "DiagnosticsService.__init__", ["lockdown"], False),
    ("pymobiledevice3.services.diagnostics", "DiagnosticsService.ioregistry", ["ioclass"], True),
    ("pymobiledevice3.services.lockdown_service", "LockdownService.__aenter__", [], True),
]

# Attributes read (not called) on library objects: (module, class, attribute).
ATTRIBUTES = [
    ("pymobiledevice3.usbmux", "MuxDevice", "serial"),
    ("pymobiledevice3.usbmux", "MuxDevice", "connection_type"),
    ("pymobiledevice3.usbmux", "MuxDevice", "is_usb"),
    ("pymobiledevice3.lockdown", "UsbmuxLockdownClient", "paired"),
    ("pymobiledevice3.lockdown", "UsbmuxLockdownClient", "all_values"),
    ("pymobiledevice3.lockdown", "UsbmuxLockdownClient", "product_version"),
    ("pymobiledevice3.lockdown", "UsbmuxLockdownClient", "has_developer_mode"),
    ("pymobiledevice3.remote.remote_service_discovery", "RemoteServiceDiscoveryService", "product_type"),
    ("pymobiledevice3.remote.remote_service_discovery", "RemoteServiceDiscoveryService", "product_version"),
    ("pymobiledevice3.remote.remote_service_discovery", "RemoteServiceDiscoveryService", "product_build_version"),
    ("pymobiledevice3.remote.remote_service_discovery", "RemoteServiceDiscoveryService", "all_values"),
    ("pymobiledevice3.remote.remote_service_discovery", "RemoteServiceDiscoveryService", "has_developer_mode"),
]


def resolve(module: str, qualname: str) -> Any:
    """The object at ``module.qualname``; a part may be a submodule not imported yet."""
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        module = f"{module}.{part}"
        target = getattr(target, part) if hasattr(target, part) else importlib.import_module(module)
    return target


def is_awaitable_function(function: Any) -> bool:
    """Coroutine functions, also behind pymobiledevice3's signature-keeping decorators (path_to_str)."""
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(inspect.unwrap(function))


def instance_attributes(cls: type) -> set[str]:
    """Names a class (or a base) assigns as ``self.<name> =`` in its methods."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("pymobiledevice3"):
            names |= set(re.findall(r"self\.([A-Za-z_]\w*)\s*(?::[^=\n]+)?=", inspect.getsource(klass)))
    return names


def has_member(cls: type, name: str) -> bool:
    """A class attribute or property, a dataclass field, or an attribute its methods assign."""
    annotated = any(name in getattr(klass, "__annotations__", {}) for klass in cls.__mro__)
    return hasattr(cls, name) or annotated or name in instance_attributes(cls)


@pytest.mark.parametrize(("module", "qualname", "parameters", "awaitable"), CALLS,
                         ids=[f"{m.rsplit('.', 1)[-1]}.{q}" for m, q, _, _ in CALLS])
def test_every_call_exists_with_its_parameters_and_async_ness(module: str, qualname: str, parameters: list[str],
                                                              awaitable: bool) -> None:
    function = resolve(module, qualname)
    accepted = inspect.signature(function).parameters
    missing = [p for p in parameters if p not in accepted]
    assert not missing, f"{module}.{qualname} has no parameter(s) {missing} (it takes {list(accepted)})"
    assert is_awaitable_function(function) is awaitable, f"{module}.{qualname}: async is not {awaitable}"


@pytest.mark.parametrize(("module", "cls", "attribute"), ATTRIBUTES, ids=[f"{c}.{a}" for _, c, a in ATTRIBUTES])
def test_every_attribute_read_exists(module: str, cls: str, attribute: str) -> None:
    assert has_member(resolve(module, cls), attribute), f"{module}.{cls} has no attribute {attribute}"


# --- the source scan ---------------------------------------------------------------------------------

#: What each receiver name in services.py is: "module:qualname" (several: all must fit).
RECEIVERS = {
    "usbmux": ["pymobiledevice3.usbmux"],
    "device": ["pymobiledevice3.usbmux:MuxDevice"],
    "lockdown": ["pymobiledevice3.lockdown:UsbmuxLockdownClient"],
    "rsd": ["pymobiledevice3.remote.remote_service_discovery:RemoteServiceDiscoveryService"],
    "provider": ["pymobiledevice3.lockdown:UsbmuxLockdownClient",
                 "pymobiledevice3.remote.remote_service_discovery:RemoteServiceDiscoveryService"],
    "proxy": ["pymobiledevice3.services.installation_proxy:InstallationProxyService"],
    "afc": ["pymobiledevice3.services.afc:AfcService"],
    "extra": ["pymobiledevice3.remote.remote_service_discovery:RemoteServiceDiscoveryService"],
    "diagnostics": ["pymobiledevice3.services.diagnostics:DiagnosticsService"],
    "control": ["pymobiledevice3.services.dvt.instruments.process_control:ProcessControl"],
    "self._afc": ["pymobiledevice3.services.house_arrest:HouseArrestService"],
}


def _receiver(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return f"self.{node.attr}"
    return None


def _load(spec: str) -> Any:
    module, _, qualname = spec.partition(":")
    return resolve(module, qualname) if qualname else importlib.import_module(module)


def _imported_names(tree: ast.AST) -> dict[str, str]:
    """Local name → "module:name" for every ``from pymobiledevice3... import`` in the source."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pymobiledevice3"):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}:{alias.name}"
    return names


def _check_call(function: Any, call: ast.Call, where: str) -> list[str]:
    problems = []
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return problems
    parameters = signature.parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    for keyword in call.keywords:
        if keyword.arg and keyword.arg not in parameters and not takes_kwargs:
            problems.append(f"{where}: no parameter {keyword.arg!r} (takes {list(parameters)})")
    positional = [p for p in parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.name not in ("self", "cls")]
    if not any(p.kind is p.VAR_POSITIONAL for p in parameters.values()) and len(call.args) > len(positional):
        problems.append(f"{where}: {len(call.args)} positional arguments, takes {len(positional)}")
    return problems


def test_the_source_uses_only_what_the_installed_library_has() -> None:
    tree = ast.parse(SOURCE.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    imported = _imported_names(tree)
    problems: list[str] = []
    checked = 0
    for local, spec in imported.items():
        try:
            _load(spec)
        except (ImportError, AttributeError):
            problems.append(f"cannot import {spec.replace(':', '.')}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "pmd":
            exception = getattr(importlib.import_module("pymobiledevice3.exceptions"), node.attr, None)
            if not (isinstance(exception, type) and issubclass(exception, BaseException)):
                problems.append(f"pymobiledevice3.exceptions has no exception {node.attr}")
            checked += 1
            continue
        if not isinstance(node, ast.Call):
            continue
        parent = parents.get(node)
        awaited = isinstance(parent, ast.Await)
        deferred = isinstance(parent, ast.Lambda)  # handed to _run, which awaits it
        context = isinstance(parent, ast.withitem)
        if isinstance(node.func, ast.Name) and node.func.id in imported:
            function = _load(imported[node.func.id])
            where = imported[node.func.id]
            problems += _check_call(function, node, where)
            if inspect.isclass(function):
                if context and not hasattr(function, "__aenter__"):
                    problems.append(f"{where} is not an async context manager")
            elif is_awaitable_function(function) != (awaited or deferred):
                problems.append(f"{where}: awaited={awaited or deferred}, but async={is_awaitable_function(function)}")
            checked += 1
        elif isinstance(node.func, ast.Attribute):
            receiver = _receiver(node.func.value)
            if isinstance(node.func.value, ast.Name) and node.func.value.id in imported:
                owners = [_load(imported[node.func.value.id])]
            elif receiver in RECEIVERS:
                owners = [_load(spec) for spec in RECEIVERS[receiver]]
            else:
                continue
            for owner in owners:
                where = f"{getattr(owner, '__name__', owner)}.{node.func.attr}"
                function = getattr(owner, node.func.attr, None)
                if function is None:
                    problems.append(f"{where} does not exist")
                    continue
                problems += _check_call(function, node, where)
                if is_awaitable_function(function) != (awaited or deferred):
                    problems.append(f"{where}: awaited={awaited or deferred}, but async={is_awaitable_function(function)}")
            checked += 1
    for node in ast.walk(tree):  # attributes read on library objects
        if isinstance(node, ast.Attribute) and not isinstance(parents.get(node), ast.Call) \
                and (receiver := _receiver(node.value)) in RECEIVERS and receiver != "self._afc":
            for spec in RECEIVERS[receiver]:
                owner = _load(spec)
                if inspect.isclass(owner) and not has_member(owner, node.attr):
                    problems.append(f"{owner.__name__} has no attribute {node.attr}")
            checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 60, f"the scan found only {checked} library uses; is services.py still using pymobiledevice3?"


# --- error mapping ---------------------------------------------------------------------------------


def _make(name: str, *args: Any) -> BaseException:
    return getattr(importlib.import_module("pymobiledevice3.exceptions"), name)(*args)


@pytest.mark.parametrize(("exception", "expected"), [
    (lambda: _make("ConnectionFailedToUsbmuxdError"), UsbmuxdUnavailable),
    (lambda: _make("NoDeviceConnectedError"), PhoneNotFound),
    (lambda: _make("DeviceNotFoundError", "00008120-X"), PhoneNotFound),
    (lambda: _make("PasswordRequiredError"), PhoneLocked),
    (lambda: _make("PasscodeRequiredError", "", "id", "17.0"), PhoneLocked),
    (lambda: _make("PairingDialogResponsePendingError"), PhoneNotPaired),
    (lambda: _make("NotPairedError"), PhoneNotPaired),
    (lambda: _make("InvalidHostIDError"), PhoneNotPaired),
    (lambda: _make("DeveloperModeIsNotEnabledError"), DeveloperModeOff),
    (lambda: _make("AppNotInstalledError", "No app with bundle ID x is installed."), AppNotInstalled),
    (lambda: _make("AppInstallError", "ApplicationVerificationFailed: no valid provisioning profile"), AppInstallFailed),
    (lambda: _make("TunneldConnectionError"), LaunchUnavailable),
    (lambda: _make("StartServiceError", "com.apple.instruments.remoteserver", "InvalidService"), LaunchUnavailable),
    (lambda: _make("InvalidServiceError", "", "id", "16.7"), LaunchUnavailable),
    (lambda: DTXNsError(NSError(1, "FBSOpenApplicationServiceErrorDomain", {
        "NSLocalizedDescription": 'The request to open "org.benchlab.runner" failed.'})), LaunchRefused),
    (lambda: _make("ConnectionTerminatedError"), PhoneDisconnected),
    (lambda: ConnectionResetError(104, "reset"), PhoneDisconnected),
    (lambda: asyncio.IncompleteReadError(b"", 8), PhoneDisconnected),
    (lambda: TimeoutError(), PhoneTimeout),
    (lambda: _make("AfcFileNotFoundError", "no such file", 8, "/Documents/x"), ContainerError),
    (lambda: _make("AfcException", "No space left on device", 14, "/Documents/x"), ContainerError),
    (lambda: _make("PyMobileDevice3Exception", "odd"), PhoneError),
])
def test_library_errors_become_one_line_phone_errors(exception: Any, expected: type) -> None:
    error = phone_error(exception(), "read the battery")
    assert type(error) is expected
    assert str(error).startswith("read the battery") and "\n" not in str(error)


def test_an_ipa_not_provisioned_for_the_phone_is_marked_not_signed() -> None:
    error = phone_error(_make("AppInstallError", "ApplicationVerificationFailed: Failed to verify code signature"),
                        "install x.ipa")
    assert isinstance(error, AppInstallFailed) and error.not_signed
    other = phone_error(_make("AppInstallError", "DeviceOSVersionTooLow"), "install x.ipa")
    assert isinstance(other, AppInstallFailed) and not other.not_signed


def test_a_bug_is_not_turned_into_a_phone_error() -> None:
    assert phone_error(KeyError("x"), "anything") is None


# --- small parsers and the real services without a phone -----------------------------------------


def test_battery_from_a_recent_iphone_ioregistry_entry() -> None:
    entry = {"CurrentCapacity": 87, "MaxCapacity": 100, "Temperature": 3150, "IsCharging": True,
             "ExternalConnected": True, "FullyCharged": False}
    reading = parse_battery(entry)
    assert (reading.level, reading.temperature_c, reading.charging) == (87, 31.5, True)


def test_battery_from_an_older_ioregistry_entry_in_mah() -> None:
    entry = {"CurrentCapacity": 1275, "MaxCapacity": 1273, "ExternalConnected": True, "FullyCharged": True}
    reading = parse_battery(entry)
    assert (reading.level, reading.temperature_c, reading.charging) == (100, None, False)
    assert parse_battery(None).level is None and parse_battery({"Temperature": "hot"}).temperature_c is None


def test_documents_paths_stay_inside_documents() -> None:
    assert documents_path("inbox/a.json") == f"{DOCUMENTS_ROOT}/inbox/a.json"
    assert documents_path("models/./x.tflite") == f"{DOCUMENTS_ROOT}/models/x.tflite"
    for bad in ("/etc/passwd", "../Library/x", "models/../../x"):
        with pytest.raises(ContainerError):
            documents_path(bad)


def test_no_usbmuxd_at_the_configured_address_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_USBMUXD", f"127.0.0.1:{free_port()}")  # a port nothing listens on
    services = Pymobiledevice3Services()
    try:
        assert services.transport("any") == "usbmux-remote"
        with pytest.raises(UsbmuxdUnavailable) as caught:
            services.list_phones()
        assert str(caught.value) == "list iPhones: no usbmuxd answers"
        assert "BENCHLAB_USBMUXD" in (caught.value.hint or "")
    finally:
        services.close()


def test_a_bad_tunneld_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchlab.errors import DeviceError

    monkeypatch.setenv("BENCHLAB_IOS_TUNNELD", "localhost")
    with pytest.raises(DeviceError, match="is not host:port"):
        Pymobiledevice3Services()
