"""Read CPU facts: cpufreq maximum frequencies, the big-core cluster, and /proc/cpuinfo.

Benchmarks on big.LITTLE phones are pinned to the fast cores (``taskset <mask>``) so a run does not
land on a little core one time and a big core the next. Cores that share a maximum frequency form
a cluster; the cluster with the highest maximum holds the big cores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def parse_max_freq_khz(text: str) -> int | None:
    """Return the frequency in kHz from ``cpuinfo_max_freq`` output, or None if it holds no number.

    Lines that are not a bare integer (a shell prompt, "No such file or directory") are skipped.
    """
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.isdigit():
            return int(stripped)
    return None


def clusters(max_freqs: dict[int, int]) -> list[tuple[int, list[int]]]:
    """Return ``(max_freq_khz, sorted core ids)`` per cluster, slowest cluster first.

    ``max_freqs`` maps core id to its maximum frequency in kHz. An empty dict gives an empty list.
    """
    by_freq: dict[int, list[int]] = {}
    for core, freq in max_freqs.items():
        by_freq.setdefault(freq, []).append(core)
    return [(freq, sorted(cores)) for freq, cores in sorted(by_freq.items())]


def core_mask(cores: list[int]) -> str:
    """Return the taskset hex mask (lower case, no ``0x``) selecting ``cores``.

    Raises ValueError for an empty list or a negative core id.
    """
    if not cores:
        raise ValueError("a core mask needs at least one core")
    if min(cores) < 0:
        raise ValueError(f"core ids must be >= 0, got {sorted(cores)}")
    return format(sum(1 << core for core in set(cores)), "x")


def big_core_mask(max_freqs: dict[int, int], min_cores: int = 1) -> str:
    """Return the taskset hex mask (e.g. "f0") of the cores in the highest-frequency cluster.

    On tri-cluster SoCs the fastest cluster can be a single prime core; ``min_cores`` adds the next
    fastest clusters until at least that many cores are selected (e.g. 4 for a 4-thread run).
    Raises ValueError when ``max_freqs`` is empty.
    """
    if not max_freqs:
        raise ValueError("no cpufreq maxima to choose big cores from")
    selected: list[int] = []
    for _freq, cores in reversed(clusters(max_freqs)):
        selected.extend(cores)
        if len(selected) >= min_cores:
            break
    return core_mask(selected)


@dataclass(frozen=True)
class CpuInfo:
    """What /proc/cpuinfo states; per-core dicts are keyed by processor number.

    ``processor_name`` is the arm64 kernels' leading ``Processor : ...`` line; ``hardware`` the
    trailing ``Hardware : ...`` line (often names the SoC). Either is None when not printed.
    Older arm64 kernels list every ``processor : N`` line together and then one set of CPU fields
    (the core that read the file): those parts go to ``unattributed_parts`` and ``parts`` stays
    empty, since the text does not say which cores they describe.
    """

    processors: int
    parts: dict[int, str] = field(default_factory=dict, hash=False)
    implementers: dict[int, str] = field(default_factory=dict, hash=False)
    processor_name: str | None = None
    hardware: str | None = None
    unattributed_parts: tuple[str, ...] = ()


_CPUINFO_LINE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9 _]*?)\s*:\s*(?P<value>.*?)\s*$")


def parse_proc_cpuinfo(text: str) -> CpuInfo:
    """Return processor count, per-core CPU part/implementer and hardware from /proc/cpuinfo.

    Lines that are not ``key : value`` pairs (a leading shell prompt, blank lines) are skipped;
    keys are case-sensitive because ``Processor`` (the model line) and ``processor`` (a core
    number) differ only in case. Never raises.
    """
    processors: list[int] = []
    parts: dict[int, str] = {}
    implementers: dict[int, str] = {}
    listed_parts: list[str] = []
    processor_name = None
    hardware = None
    current: int | None = None
    collapsed = False  # a processor line directly after another one: fields are not per core
    fields_since_processor = True
    for line in text.splitlines():
        match = _CPUINFO_LINE.match(line)
        if not match:
            continue
        key, value = match["key"], match["value"]
        if key == "processor" and value.isdigit():
            collapsed = collapsed or not fields_since_processor
            current = int(value)
            processors.append(current)
            fields_since_processor = False
        elif key == "Processor":
            processor_name = value
        elif key == "Hardware":
            hardware = value
        elif key == "CPU part" and current is not None:
            parts[current] = value
            listed_parts.append(value)
            fields_since_processor = True
        elif key == "CPU implementer" and current is not None:
            implementers[current] = value
            fields_since_processor = True
    if collapsed:
        return CpuInfo(processors=len(processors), processor_name=processor_name, hardware=hardware,
                       unattributed_parts=tuple(listed_parts))
    return CpuInfo(
        processors=len(processors),
        parts=parts,
        implementers=implementers,
        processor_name=processor_name,
        hardware=hardware,
    )
