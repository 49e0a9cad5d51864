"""Platform declarations: what a kind of device runs, known before any device is found.

A suite is validated before discovery (no adb, no usbmux, no device probe), yet its accelerator
settings and its choice of run modes belong to platforms benchlab does not name. So each platform
declares them as data, a `Platform`:

- the accelerator kinds it runs, each with the options its runner reads and, for options that
  take one of a few values (Core ML's compute units), those values;
- the formats its devices run;
- its run modes, the default first, each other mode with the formats it measures;
- how a suite chooses among the modes (`ModeChoice`: a scenario field and what each value asks for).

A runner package declares its platform as `PLATFORM` in the module its `benchlab.runners` entry
point names (the package's `__init__`, which imports no device library); the host's is `HOST`,
built in. `registered()` collects them into `Platforms`, which the plan stage (suite and device
profiles) validates against, and each Device's `Capabilities` come from its platform's declaration
(`Platform.capabilities`). Nothing here imports a runner package by name.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from benchlab.records import Capabilities

log = logging.getLogger(__name__)

#: Runner packages register their discovery here (pyproject.toml); the module each entry point
#: names also declares the runner's platform as PLATFORM.
RUNNER_ENTRY_POINT_GROUP = "benchlab.runners"
#: The attribute of a runner's entry-point module that holds its Platform.
DECLARATION = "PLATFORM"


@dataclass(frozen=True)
class AcceleratorKind:
    """An accelerator kind a platform runs ("gpu", "coreml") and the options its runner reads."""

    name: str
    #: The options a setting of this kind may give; None: any (a delegate library's own options,
    #: passed through). Anything else is refused when the suite or profile loads.
    options: frozenset[str] | None = frozenset()
    #: Options a setting of this kind must give, each with its allowed values (Core ML's compute
    #: units). Their values also name a setting given no name ("coreml-all").
    choices: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.options is not None and (loose := sorted({o for o, _ in self.choices} - self.options)):
            raise ValueError(f"accelerator kind {self.name}: choice {loose[0]!r} is not one of its options")


@dataclass(frozen=True)
class RunMode:
    """One way a platform's devices can measure a job ("shell": benchmark_model from adb shell)."""

    name: str
    #: The formats this mode measures; None for the default mode, which measures every format. A
    #: format another mode does not list is measured in the default mode alone.
    formats: frozenset[str] | None = None
    #: What measuring in this mode means, as a sentence's clause the report prints where it sets
    #: the modes side by side (benchlab.views.run_modes): "benchmark_model started from adb shell".
    description: str = ""


@dataclass(frozen=True)
class ModeChoice:
    """How a suite chooses a platform's run modes: one scenario field (`scenario.android_mode`)."""

    field: str
    #: Each value the field takes and the run modes it asks for; the first is the default.
    values: tuple[tuple[str, tuple[str, ...]], ...]
    #: The field's help text, as the suite schema shows it.
    description: str


@dataclass(frozen=True)
class Platform:
    """What one platform's devices run and how they measure, declared by its runner package."""

    name: str
    accelerators: tuple[AcceleratorKind, ...]
    #: The model formats (benchlab.formats) its devices run; the host leaves it empty, since its
    #: runtimes registry (benchlab.execute.host_runtimes) says which.
    formats: frozenset[str] = frozenset()
    #: Its ways of measuring a job, the default first; empty: one way only.
    run_modes: tuple[RunMode, ...] = ()
    #: How a suite picks among `run_modes`; None for a platform with one way of measuring.
    mode_choice: ModeChoice | None = None

    def __post_init__(self) -> None:
        names = [mode.name for mode in self.run_modes]
        if self.run_modes and (self.run_modes[0].formats is not None
                               or any(mode.formats is None for mode in self.run_modes[1:])):
            raise ValueError(f"platform {self.name}: its default run mode (the first) measures every format, "
                             "each other mode lists the formats it measures")
        if len(names) > 1 and (bare := [mode.name for mode in self.run_modes if not mode.description]):
            # The report sets the modes side by side in these words (benchlab.views.run_modes).
            raise ValueError(f"platform {self.name}: run mode {bare[0]!r} has no description; a platform with "
                             "several run modes says what each means")
        if (self.mode_choice is None) != (len(names) < 2):
            raise ValueError(f"platform {self.name}: a platform with several run modes declares how a suite "
                             "chooses them (mode_choice), one with a single way of measuring does not")
        asked = {mode for _, modes in (self.mode_choice.values if self.mode_choice else ()) for mode in modes}
        if unknown := sorted(asked - set(names)):
            raise ValueError(f"platform {self.name}: mode_choice asks for run mode {unknown[0]!r}, "
                             f"which it does not declare (declared: {', '.join(names)})")

    @property
    def kinds(self) -> frozenset[str]:
        """Return the names of the accelerator kinds it runs."""
        return frozenset(kind.name for kind in self.accelerators)

    def capabilities(self, kinds: Iterable[str] | None = None, formats: Iterable[str] | None = None,
                     max_threads: int | None = None, not_yet: tuple[tuple[str, str], ...] = ()) -> Capabilities:
        """Return a device's capabilities from this declaration: its run modes and what each measures,
        with `kinds` (default: every kind declared; a phone's profile may list fewer) and `formats`
        (default: the declared ones)."""
        return Capabilities(kinds=frozenset(self.kinds if kinds is None else kinds),
                            formats=frozenset(self.formats if formats is None else formats),
                            max_threads=max_threads,
                            run_modes=tuple(mode.name for mode in self.run_modes),
                            mode_formats=tuple((mode.name, mode.formats) for mode in self.run_modes[1:]
                                               if mode.formats is not None),
                            not_yet=not_yet)


@dataclass(frozen=True)
class Platforms:
    """The declared platforms together: what a suite, which is not bound to one platform, may ask for.

    A kind several platforms run takes the options any of them reads; an option of a fixed set of
    values must be one that every platform declaring it allows.
    """

    declared: tuple[Platform, ...]

    def __post_init__(self) -> None:
        # Scenario.run_modes holds bare mode names and a device keeps those it declares, so two
        # platforms sharing a mode name would each take the other's choice.
        for what, names in (("platform", [p.name for p in self.declared]),
                            ("run mode", [m.name for p in self.declared for m in p.run_modes]),
                            ("mode_choice field", [p.mode_choice.field for p in self.declared if p.mode_choice])):
            if repeated := sorted({name for name in names if names.count(name) > 1}):
                raise ValueError(f"two platforms declare the {what} {repeated[0]!r}")

    @property
    def kinds(self) -> tuple[str, ...]:
        """Return every declared accelerator kind, in declaration order."""
        return tuple(dict.fromkeys(kind.name for p in self.declared for kind in p.accelerators))

    def _declared(self, kind: str) -> list[AcceleratorKind]:
        return [k for p in self.declared for k in p.accelerators if k.name == kind]

    def _options(self, kind: str) -> frozenset[str] | None:
        declared = [k.options for k in self._declared(kind)]
        return None if None in declared else frozenset().union(*declared)  # type: ignore[arg-type]

    def _choices(self, kind: str) -> dict[str, tuple[str, ...]]:
        merged: dict[str, tuple[str, ...]] = {}
        for declared in self._declared(kind):
            for option, values in declared.choices:
                merged[option] = tuple(v for v in merged.get(option, values) if v in values)
        return merged

    def kind_problem(self, kind: str) -> str | None:
        """Return what is wrong with an accelerator kind no platform runs, or None."""
        if kind in self.kinds:
            return None
        return f"unknown accelerator {kind!r} (allowed: {', '.join(self.kinds)})"

    def options_problem(self, kind: str, options: Mapping[str, Any]) -> str | None:
        """Return what is wrong with a `kind` accelerator's options, or None: an option no platform
        running the kind reads, or a missing or unlisted value of an option with fixed values. The
        one check of them, which the suite and the device profiles both run."""
        allowed = self._options(kind)
        if allowed is not None and (unknown := sorted(set(options) - allowed)):
            return (f"options.{unknown[0]}: not an option of a {kind} accelerator "
                    f"(allowed: {', '.join(sorted(allowed)) or 'none'})")
        for option, values in self._choices(kind).items():
            if option not in options:
                return f"options.{option} is required for a {kind} accelerator (one of: {', '.join(values)})"
            if options[option] not in values:
                return f"options.{option} {options[option]!r} is not allowed (allowed: {', '.join(values)})"
        return None

    def setting_name(self, kind: str, threads: int | None, xnnpack: bool | None, options: Mapping[str, Any]) -> str:
        """Return the name of a setting given none: kind, the values of its fixed-value options,
        t<threads>, noxnnpack ("cpu-t4", "coreml-all"). Call it on options `options_problem` passed."""
        parts = [kind, *(str(options[option]) for option in self._choices(kind))]
        if threads is not None:
            parts.append(f"t{threads}")
        if xnnpack is False:
            parts.append("noxnnpack")
        return "-".join(parts)

    def mode_choices(self) -> tuple[ModeChoice, ...]:
        """Return how a suite chooses each platform's run modes (one scenario field each)."""
        return tuple(p.mode_choice for p in self.declared if p.mode_choice is not None)

    def run_modes(self, chosen: Mapping[str, str]) -> tuple[str, ...]:
        """Return the run modes a scenario asks for (Scenario.run_modes), from each mode choice's
        value in `chosen` (by field; its default when absent)."""
        modes: list[str] = []
        for choice in self.mode_choices():
            values = dict(choice.values)
            modes += values[chosen.get(choice.field, choice.values[0][0])]
        return tuple(modes)

    def other_modes(self) -> tuple[tuple[str, str], ...]:
        """Return (platform, mode) for each run mode other than a platform's default: the settings
        measured in it are named NAME@MODE (benchlab.records.run_mode_setting)."""
        return tuple((p.name, mode.name) for p in self.declared for mode in p.run_modes[1:])


#: This machine's CPU (benchlab.execute.host_device): built into benchlab, one way of measuring.
HOST = Platform(name="host", accelerators=(AcceleratorKind("cpu"),))


@cache
def registered() -> Platforms:
    """Return the host's platform, then each registered runner's (by entry-point name).

    Imports only each runner's entry-point module, which declares its PLATFORM without importing a
    device library. A runner whose module cannot be imported, or declares no PLATFORM of its own
    name (a runner written before declarations), is logged and left out, as a broken discovery is
    (benchlab.execute.devices): a suite naming its kinds is then refused in one line. Raises
    ValueError for two declarations that clash (Platforms).
    """
    declared = [HOST]
    for entry in sorted(entry_points(group=RUNNER_ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            module = importlib.import_module(entry.module)
        except ImportError as exc:
            log.warning("runner %s is not usable: %s", entry.name, exc)
            continue
        platform = getattr(module, DECLARATION, None)
        if not isinstance(platform, Platform) or platform.name != entry.name:
            log.warning("runner %s is not usable: %s declares no %s (a benchlab.platforms.Platform named %r)",
                        entry.name, entry.module, DECLARATION, entry.name)
            continue
        declared.append(platform)
    return Platforms(tuple(declared))
