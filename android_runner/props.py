"""Read `adb shell getprop` output and pick out the facts that identify a phone.

getprop prints one property per line as ``[key]: [value]``. A value may be empty and, rarely, may
span several lines (the closing ``]`` then ends a later line). Text pasted around it — a shell
prompt, ``(bootloader) key: value`` lines from ``fastboot getvar`` — is not getprop output and is
skipped rather than guessed at. Lines may arrive indented (tools that log the output re-print it
under a margin), so leading whitespace before ``[key]`` is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# `[key]: [value]` on one line; the value may be empty.
_PROP_LINE = re.compile(r"^\[(?P<key>[^\]\s]+)\]:\s\[(?P<value>.*)\]$")
# `[key]: [first line of a value` whose closing bracket comes on a later line.
_PROP_START = re.compile(r"^\[(?P<key>[^\]\s]+)\]:\s\[(?P<value>.*)$")


def parse_getprop(text: str) -> dict[str, str]:
    """Return every ``[key]: [value]`` property in ``text`` as a dict (values verbatim, may be "").

    Lines that are not getprop lines (prompts, fastboot ``(bootloader)`` lines) are skipped. A
    multi-line value is joined with newlines; one whose closing ``]`` never arrives (a cut paste)
    is dropped rather than kept half-read. Never raises on malformed text.
    """
    props: dict[str, str] = {}
    pending_key: str | None = None
    pending_lines: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if pending_key is None or _PROP_START.match(line.lstrip()):
            line = line.lstrip()  # a continuation line keeps its own leading spaces
        if pending_key is not None:
            if _PROP_START.match(line):
                # A new property began before the old value closed: the old one was cut.
                pending_key, pending_lines = None, []
            elif line.endswith("]"):
                pending_lines.append(line[:-1])
                props[pending_key] = "\n".join(pending_lines)
                pending_key, pending_lines = None, []
                continue
            else:
                pending_lines.append(line)
                continue
        match = _PROP_LINE.match(line)
        if match:
            props[match["key"]] = match["value"]
            continue
        start = _PROP_START.match(line)
        if start:
            pending_key, pending_lines = start["key"], [start["value"]]
    return props


@dataclass(frozen=True)
class AndroidFacts:
    """What getprop says about a phone; a field getprop does not state is None."""

    model: str | None
    manufacturer: str | None
    device: str | None
    android_release: str | None
    sdk: int | None
    abi: str | None
    soc: str | None
    soc_manufacturer: str | None
    build_fingerprint: str | None


def _first(props: dict[str, str], *keys: str) -> str | None:
    """The first of ``keys`` that is present with a non-blank value, else None."""
    for key in keys:
        value = props.get(key, "").strip()
        if value:
            return value
    return None


def device_facts(props: dict[str, str]) -> AndroidFacts:
    """Return the identifying facts from parsed getprop ``props``; absent ones are None.

    ``sdk`` falls back from ``ro.build.version.sdk`` to the partition copies
    (``ro.product.build.version.sdk``, ``ro.system.build.version.sdk``) that hold the same number,
    and is None when none is a plain integer. ``soc`` prefers ``ro.soc.model`` (Android 12+, the
    part number such as SM6475), then ``ro.board.platform`` (a platform name such as lahaina),
    then ``ro.hardware``. Never raises.
    """
    sdk_text = _first(
        props, "ro.build.version.sdk", "ro.product.build.version.sdk", "ro.system.build.version.sdk"
    )
    return AndroidFacts(
        model=_first(props, "ro.product.model"),
        manufacturer=_first(props, "ro.product.manufacturer"),
        device=_first(props, "ro.product.device"),
        android_release=_first(props, "ro.build.version.release"),
        sdk=int(sdk_text) if sdk_text is not None and sdk_text.isdigit() else None,
        abi=_first(props, "ro.product.cpu.abi"),
        soc=_first(props, "ro.soc.model", "ro.board.platform", "ro.hardware"),
        soc_manufacturer=_first(props, "ro.soc.manufacturer"),
        build_fingerprint=_first(props, "ro.build.fingerprint"),
    )
