"""Targets: the grammar a suite names devices with, and which device a target names.

    host, all, PLATFORM:ID (one per registered runner: android:SERIAL, ios:UDID ...),
    tier:low-end|mid|flagship, platform:NAME

Runner platforms come from the ``benchlab.runners`` entry points (names only, nothing imported),
so a new runner's targets are valid without a change here.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from benchlab.platforms import RUNNER_ENTRY_POINT_GROUP
from benchlab.records import DeviceInfo

#: Tiers a device profile can give (device_profiles/*/*.yaml).
TIERS = ("low-end", "mid", "flagship")


def runner_platforms() -> list[str]:
    """Return the platforms registered runners supply (entry-point names; nothing is imported)."""
    return sorted(e.name for e in entry_points(group=RUNNER_ENTRY_POINT_GROUP))


def selector_help() -> str:
    """Return the target grammar: host, all, PLATFORM:ID for each registered runner, tier:..., platform:NAME."""
    per_runner = ", ".join(f"{name}:ID" for name in runner_platforms())
    return f"host, all, {per_runner}, tier:{'|'.join(TIERS)}, platform:NAME"


def may_name_platform(selector: str, platform: str) -> bool:
    """Return whether a selector could match a device of this runner's platform."""
    kind, _, value = selector.partition(":")
    return selector == "all" or kind == "tier" or kind == platform or (kind == "platform" and value == platform)


def matches(info: DeviceInfo, selector: str) -> bool:
    """Return whether a device is named by one target selector (see selector_help())."""
    if selector == "all":
        return True
    if selector == "host":
        return info.platform == "host"
    kind, _, value = selector.partition(":")
    if kind == "tier":
        return info.tier == value
    if kind == "platform":
        return info.platform == value
    # Any other "PLATFORM:ID" names a runner's platform (android:SERIAL, ios:UDID ...).
    return info.platform == kind and (value in ("", "*") or info.id == value)


def validate_selector(selector: str) -> None:
    """Raise ValueError naming the grammar when a selector is not well formed."""
    kind, sep, value = selector.partition(":")
    if selector in ("host", "all") or (sep and kind in ("tier", "platform", *runner_platforms())):
        if kind == "tier" and value not in TIERS:
            raise ValueError(f"unknown tier {value!r} (allowed: {', '.join(TIERS)})")
        return
    raise ValueError(f"unknown target {selector!r} (allowed: {selector_help()})")
