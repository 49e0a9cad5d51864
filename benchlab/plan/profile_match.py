"""Which profile describes a phone: by model first, then by SoC; a derived profile when none does.

The profiles themselves (files, schema, loading) are benchlab.plan.profiles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from benchlab.errors import SuiteError
from benchlab.plan.profiles import DEFAULT_THERMAL, UNKNOWN_TIER, DeviceProfile, PlatformSpec, load_platforms


# --- matching ------------------------------------------------------------------------------------


def _model_key(model: str) -> str:
    """Model strings compared case-insensitively with punctuation and spaces folded to "_".

    `adb devices -l` prints ro.product.model with every non-alphanumeric character replaced by
    "_" ("moto g75 5G" → "moto_g75_5G"), so both spellings must match the same profile.
    """
    return re.sub(r"[^0-9a-z]", "_", model.strip().casefold())


def _soc_matches(profile_soc: str, device_soc: str) -> bool:
    """Case-insensitive; a device part with a suffix matches its base part (MT6769V/CZ ~ MT6769)."""
    wanted, got = profile_soc.strip().casefold(), device_soc.strip().casefold()
    if got == wanted:
        return True
    return got.startswith(wanted) and not got[len(wanted)].isdigit()


def match_profile(
    profiles: Iterable[DeviceProfile],
    platform: str,
    model: str | None = None,
    soc: str | None = None,
) -> DeviceProfile | None:
    """Return the profile for a phone of ``platform``, or None when none matches.

    A profile listing ``model`` wins (compared case-insensitively, with spaces and punctuation
    folded as `adb devices -l` does); failing that, the first profile (in load order) listing
    ``soc`` — a stand-in for a phone with the same chip, which gives the right tier and
    accelerators. Never raises.
    """
    candidates = [profile for profile in profiles if profile.platform == platform]
    if model:
        key = _model_key(model)
        for profile in candidates:
            if any(_model_key(known) == key for known in profile.models):
                return profile
    if soc:
        for profile in candidates:
            if any(_soc_matches(known, soc) for known in profile.socs):
                return profile
    return None


def derived_profile(
    platform: str,
    model: str | None,
    soc: str | None,
    ram_gb: float | None = None,
    big_cores: str | None = None,
    platforms: dict[str, PlatformSpec] | None = None,
) -> DeviceProfile:
    """Return a stand-in profile for a phone no profile file describes.

    Its tier is ``UNKNOWN_TIER`` ("unknown": benchlab does not guess a tier from specs), its
    accelerators are the platform's generic ones (``derived_accelerators`` of its platform.yaml),
    its thermal limits ``DEFAULT_THERMAL``. Callers should warn that the phone is unprofiled.
    Raises SuiteError for a platform no platform.yaml describes.
    """
    platforms = platforms if platforms is not None else load_platforms()
    if platform not in platforms:
        raise SuiteError(f"platform {platform!r} is not allowed (allowed: {', '.join(platforms)})")
    return DeviceProfile(
        name=f"derived: {model or 'unknown model'} ({soc or 'unknown SoC'})",
        platform=platform,
        tier=UNKNOWN_TIER,
        models=(model,) if model else (),
        socs=(soc,) if soc else (),
        accelerators=platforms[platform].derived_accelerators,
        thermal=DEFAULT_THERMAL,
        ram_gb=ram_gb,
        big_cores=big_cores,
        notes="No device profile matched this phone; add one under device_profiles/ to set its tier.",
        source=None,
    )

