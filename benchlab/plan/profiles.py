"""Device profiles: what benchlab knows about a phone model before it runs anything on it.

One YAML file per phone under ``device_profiles/<platform>/`` (schema 1)::

    schema: 1
    name: Motorola moto g75 5G          # unique; shown in reports as the device's profile
    platform: android                   # a folder with a platform.yaml: android | ios
    tier: mid                           # low-end | mid | flagship
    models: ["moto g75 5G"]             # as reported by ro.product.model (iOS: ProductType)
    socs: [SM6475]                      # as in ro.soc.model / ro.board.platform / ro.hardware
    soc_name: Qualcomm Snapdragon 6 Gen 3
    year: 2024
    ram_gb: 8
    accelerators:                       # the settings worth trying on this phone, same shape as
      - {kind: cpu, threads: 4}         # a suite's accelerators: kind, name, threads, xnnpack,
      - {kind: gpu}                     # cpu_mask, options
      - {kind: nnapi, name: nnapi-dsp, options: {accelerator_name: qti-dsp}}
    big_cores: f0                       # taskset hex mask, or a list of core ids [4, 5, 6, 7]
    thermal: {max_status: 1, max_battery_temp_c: 40, cooldown_s: 60, wait_limit_s: 600}
    notes: free text

Each platform folder also holds ``platform.yaml``: the settings tried on a phone of that platform
no profile describes. The accelerator kinds a platform runs, and the options each takes, are its
runner's declaration (benchlab.platforms), against which every setting here is checked; so nothing
here names a platform (see ``load_platforms``).

A phone matches a profile by model first, then by SoC (see ``match_profile``). A phone no profile
matches gets ``derived_profile``: tier "unknown" and the generic accelerators of its platform, which
callers report with a warning so the user can add a profile.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchlab.settings import PROFILES_DIR, read
from benchlab.errors import SuiteError
from benchlab.plan.yaml_file import read_yaml
from benchlab.platforms import Platform, Platforms, registered as registered_platforms
from benchlab.records import AcceleratorSetting

SCHEMA_VERSION = 1
TIERS = ("low-end", "mid", "flagship")
#: The tier of a derived profile: the phone is not described by any profile file.
UNKNOWN_TIER = "unknown"
#: Each platform folder describes its platform's unprofiled phones in this file (derived settings).
PLATFORM_FILE = "platform.yaml"
_PLATFORM_FIELDS = ("schema", "platform", "derived_accelerators")

_REQUIRED_FIELDS = ("schema", "name", "platform", "tier", "models", "socs", "accelerators", "thermal")
_OPTIONAL_FIELDS = ("soc_name", "year", "ram_gb", "big_cores", "notes")
_THERMAL_FIELDS = ("max_status", "max_battery_temp_c", "cooldown_s", "wait_limit_s")
_ACCELERATOR_FIELDS = ("kind", "name", "threads", "xnnpack", "cpu_mask", "options")
_HEX_MASK = re.compile(r"^(?:0x)?(?P<hex>[0-9a-fA-F]+)$")


@dataclass(frozen=True)
class ThermalLimits:
    """When a phone is cool enough to measure on.

    A job waits while the thermal status is above ``max_status`` (PowerManager THERMAL_STATUS_*:
    0 none, 1 light, 2 moderate, 3 severe ...) or the battery is hotter than
    ``max_battery_temp_c``, checking again after ``cooldown_s``, for at most ``wait_limit_s``.
    """

    max_status: int
    max_battery_temp_c: float
    cooldown_s: float
    wait_limit_s: float


#: Limits for a phone without a profile: cautious, so an unknown phone is not measured hot.
DEFAULT_THERMAL = ThermalLimits(
    max_status=1, max_battery_temp_c=40.0, cooldown_s=60.0, wait_limit_s=600.0
)


@dataclass(frozen=True)
class PlatformSpec:
    """A runner's platform as profiles see it: its declaration (benchlab.platforms) and, from
    ``device_profiles/<platform>/platform.yaml``, the settings tried on an unprofiled phone."""

    declaration: Platform
    #: Settings tried on a phone of this platform that no profile describes.
    derived_accelerators: tuple[AcceleratorSetting, ...]

    @property
    def name(self) -> str:
        """Return the platform's name ("android")."""
        return self.declaration.name

    @property
    def accelerator_kinds(self) -> tuple[str, ...]:
        """Return the accelerator kinds the platform runs, as its runner declares them."""
        return tuple(kind.name for kind in self.declaration.accelerators)


@dataclass(frozen=True)
class DeviceProfile:
    """One phone model's tier, SoC, accelerators worth trying, big cores and thermal limits.

    ``big_cores`` is a taskset hex mask ("f0") or None when the profile does not fix it (the
    runner then reads cpufreq). ``source`` is the YAML file, or None for a derived profile.
    """

    name: str
    platform: str
    tier: str
    models: tuple[str, ...]
    socs: tuple[str, ...]
    accelerators: tuple[AcceleratorSetting, ...]
    thermal: ThermalLimits
    soc_name: str | None = None
    year: int | None = None
    ram_gb: float | None = None
    big_cores: str | None = None
    notes: str | None = None
    source: Path | None = None

    @property
    def derived(self) -> bool:
        """True when no profile file describes this phone (see ``derived_profile``)."""
        return self.source is None


# --- loading -------------------------------------------------------------------------------------


def default_profiles_dir() -> Path:
    """Return ``$BENCHLAB_PROFILES_DIR`` if set, else the repository's ``device_profiles/``."""
    override = read(PROFILES_DIR)
    if override:
        return Path(override)
    return shipped_profiles_dir()


def _profiles_root(directory: Path | None) -> Path:
    root = Path(directory) if directory is not None else default_profiles_dir()
    if not root.is_dir():
        raise SuiteError(
            f"device profiles directory {root} does not exist",
            hint=f"set {PROFILES_DIR.name} to the folder that holds the device profile YAML files",
        )
    return root


def shipped_profiles_dir() -> Path:
    """Return the repository's ``device_profiles/`` (benchlab/plan/profiles.py -> repository root)."""
    return Path(__file__).resolve().parents[2] / "device_profiles"


def load_platforms(directory: Path | None = None, declarations: Platforms | None = None) -> dict[str, PlatformSpec]:
    """Return each platform described by a ``<platform>/platform.yaml``: the shipped ones, then those
    under `directory` (a profiles folder of your own may redefine one), each one a platform of
    `declarations` (default: the registered ones, benchlab.platforms).

    Raises SuiteError naming the file and field when one is malformed or describes a platform no
    runner declares.
    """
    declarations = declarations if declarations is not None else registered_platforms()
    declared = {platform.name: platform for platform in declarations.declared}
    roots = dict.fromkeys([shipped_profiles_dir(), _profiles_root(directory)])
    paths = [path for root in roots if root.is_dir() for path in sorted(root.glob(f"*/{PLATFORM_FILE}"))]
    platforms: dict[str, PlatformSpec] = {}
    for path in paths:
        data = read_yaml(path, "platform description")
        reader = _ProfileReader(path, {})
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION or not data.get("platform"):
            raise SuiteError(f"{path}: a platform description needs schema {SCHEMA_VERSION}, platform "
                             "and derived_accelerators")
        for key in data:
            if key not in _PLATFORM_FIELDS:
                raise reader.error(str(key), f"is not a platform description field (allowed: {', '.join(_PLATFORM_FIELDS)}; "
                                   "the accelerator kinds are the runner's declaration, benchlab.platforms)")
        name = reader.choice("platform", data["platform"], tuple(declared))
        spec = PlatformSpec(declared[name], ())
        reader.platforms = {name: spec}
        platforms[name] = replace(spec, derived_accelerators=reader.accelerators(
            name, data.get("derived_accelerators"), field="derived_accelerators"))
    return platforms


def load_profiles(directory: Path | None = None, declarations: Platforms | None = None) -> list[DeviceProfile]:
    """Return every profile in ``directory`` (``*.yaml``/``*.yml``, searched recursively), by path,
    each checked against its platform's declaration (`declarations`, default: the registered ones).

    ``directory`` defaults to ``default_profiles_dir()``. Raises SuiteError when the directory is
    missing, a file is not valid YAML or breaks the schema (the message names the file, the field
    and the allowed values), or two files use the same profile name.
    """
    root = _profiles_root(directory)
    platforms = load_platforms(root, declarations)
    paths = sorted(
        path for path in root.rglob("*")
        if path.suffix in (".yaml", ".yml") and path.is_file() and path.name != PLATFORM_FILE
    )
    profiles: list[DeviceProfile] = []
    seen: dict[str, Path] = {}
    for path in paths:
        profile = load_profile(path, platforms)
        if profile.name in seen:
            raise SuiteError(
                f"{path}: profile name {profile.name!r} is already used by {seen[profile.name]}",
                hint="give every device profile a unique name",
            )
        seen[profile.name] = path
        profiles.append(profile)
    return profiles


def load_profile(path: Path, platforms: dict[str, PlatformSpec] | None = None) -> DeviceProfile:
    """Return the profile in one YAML file, its platform one of `platforms` (default: those described
    beside the profiles); raises SuiteError naming the file and field on error."""
    data = read_yaml(path, "device profile")
    return _ProfileReader(path, platforms if platforms is not None else load_platforms()).profile(data)


class _ProfileReader:
    """Validates one profile file's data; every error names the file and the field."""

    def __init__(self, path: Path, platforms: dict[str, PlatformSpec]) -> None:
        self.path = path
        self.platforms = platforms

    def error(self, field: str, message: str) -> SuiteError:
        return SuiteError(f"{self.path}: field {field!r} {message}")

    def profile(self, data: Any) -> DeviceProfile:
        if not isinstance(data, dict):
            raise SuiteError(f"{self.path}: a device profile must be a mapping of fields")
        allowed = _REQUIRED_FIELDS + _OPTIONAL_FIELDS
        for key in data:
            if key not in allowed:
                raise self.error(str(key), f"is not a profile field (allowed: {', '.join(allowed)})")
        for key in _REQUIRED_FIELDS:
            if key not in data:
                raise self.error(key, "is missing")
        if data["schema"] != SCHEMA_VERSION:
            raise self.error("schema", f"is {data['schema']!r} (allowed: {SCHEMA_VERSION})")
        platform = self.choice("platform", data["platform"], tuple(self.platforms))
        models = self.strings("models", data["models"])
        socs = self.strings("socs", data["socs"])
        if not models and not socs:
            raise self.error("models", "and 'socs' are both empty: the profile could never match")
        return DeviceProfile(
            name=self.text("name", data["name"]),
            platform=platform,
            tier=self.choice("tier", data["tier"], TIERS),
            models=models,
            socs=socs,
            accelerators=self.accelerators(platform, data["accelerators"]),
            thermal=self.thermal(data["thermal"]),
            soc_name=self.optional_text("soc_name", data.get("soc_name")),
            year=self.year(data.get("year")),
            ram_gb=self.ram(data.get("ram_gb")),
            big_cores=self.big_cores(data.get("big_cores")),
            notes=self.optional_text("notes", data.get("notes")),
            source=self.path,
        )

    def text(self, field: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(field, f"must be a non-empty string, got {value!r}")
        return value.strip()

    def optional_text(self, field: str, value: Any) -> str | None:
        return None if value is None else self.text(field, value)

    def choice(self, field: str, value: Any, allowed: Sequence[str]) -> str:
        if value not in allowed:
            raise self.error(field, f"is {value!r} (allowed: {', '.join(allowed)})")
        return str(value)

    def strings(self, field: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            raise self.error(field, f"must be a list of non-empty strings, got {value!r}")
        return tuple(item.strip() for item in value)

    def year(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 2000 <= value <= 2100:
            raise self.error("year", f"must be a year such as 2023, got {value!r}")
        return value

    def ram(self, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.error("ram_gb", f"must be a positive number of GB, got {value!r}")
        return float(value)

    def big_cores(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and _HEX_MASK.match(value) and int(value, 16) > 0:
            return format(int(value, 16), "x")
        if (
            isinstance(value, list)
            and value
            and all(isinstance(core, int) and not isinstance(core, bool) and core >= 0 for core in value)
        ):
            return format(sum(1 << core for core in set(value)), "x")
        raise self.error(
            "big_cores",
            f"must be a hex core mask string such as 'f0' (quote masks that are all digits, "
            f"e.g. '80') or a list of core ids, got {value!r}",
        )

    def thermal(self, value: Any) -> ThermalLimits:
        if not isinstance(value, dict):
            raise self.error("thermal", f"must be a mapping with {', '.join(_THERMAL_FIELDS)}")
        for key in value:
            if key not in _THERMAL_FIELDS:
                raise self.error(
                    f"thermal.{key}", f"is not a thermal field (allowed: {', '.join(_THERMAL_FIELDS)})"
                )
        for key in _THERMAL_FIELDS:
            if key not in value:
                raise self.error(f"thermal.{key}", "is missing")
        max_status = value["max_status"]
        if isinstance(max_status, bool) or not isinstance(max_status, int) or not 0 <= max_status <= 6:
            raise self.error("thermal.max_status", f"is {max_status!r} (allowed: an integer 0-6)")
        numbers = {}
        for key in ("max_battery_temp_c", "cooldown_s", "wait_limit_s"):
            number = value[key]
            if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
                raise self.error(f"thermal.{key}", f"must be a number >= 0, got {number!r}")
            numbers[key] = float(number)
        return ThermalLimits(max_status=max_status, **numbers)

    def accelerators(self, platform: str, value: Any, field: str = "accelerators") -> tuple[AcceleratorSetting, ...]:
        if not isinstance(value, list) or not value:
            raise self.error(field, "must be a non-empty list of {kind: ..., ...} mappings")
        settings = [self.accelerator(platform, f"{field}[{index}]", item) for index, item in enumerate(value)]
        names = [setting.name for setting in settings]
        for name in names:
            if names.count(name) > 1:
                raise self.error(field, f"has two settings named {name!r}; give one of them a 'name'")
        return tuple(settings)

    def accelerator(self, platform: str, field: str, item: Any) -> AcceleratorSetting:
        if not isinstance(item, dict):
            raise self.error(
                field, f"must be a mapping such as {{kind: cpu, threads: 4}}, got {item!r}"
            )
        for key in item:
            if key not in _ACCELERATOR_FIELDS:
                raise self.error(
                    f"{field}.{key}",
                    f"is not an accelerator field (allowed: {', '.join(_ACCELERATOR_FIELDS)})",
                )
        kind = self.choice(f"{field}.kind", item.get("kind"), self.platforms[platform].accelerator_kinds)
        threads = item.get("threads")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 64
        ):
            raise self.error(f"{field}.threads", f"must be an integer 1-64, got {threads!r}")
        xnnpack = item.get("xnnpack")
        if xnnpack is not None and not isinstance(xnnpack, bool):
            raise self.error(f"{field}.xnnpack", f"must be true or false, got {xnnpack!r}")
        cpu_mask = item.get("cpu_mask")
        if cpu_mask is not None and not (isinstance(cpu_mask, str) and _HEX_MASK.match(cpu_mask)):
            raise self.error(
                f"{field}.cpu_mask", f"must be a hex core mask such as 'f0', got {cpu_mask!r}"
            )
        options = item.get("options", {})
        if not isinstance(options, dict):
            raise self.error(f"{field}.options", f"must be a mapping, got {options!r}")
        # Checked against this platform's declaration alone: a profile's settings run on its phones.
        declaration = Platforms((self.platforms[platform].declaration,))
        if (problem := declaration.options_problem(kind, options)) is not None:
            raise self.error(field, problem)
        name = item.get("name")
        if name is not None:
            name = self.text(f"{field}.name", name)
        return AcceleratorSetting(
            name=name or declaration.setting_name(kind, threads, xnnpack, options),
            kind=kind,
            threads=threads,
            xnnpack=xnnpack,
            cpu_mask=cpu_mask,
            options=dict(options),
        )


