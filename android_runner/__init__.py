"""benchlab's Android runner: phones over ADB running LiteRT's benchmark_model.

`discover` is registered under the `benchlab.runners` entry point, and `PLATFORM` beside it declares
what the platform runs (benchlab.platforms); the orchestrator loads them lazily and never imports
adb-shell or adbutils itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from android_runner.platform import ANDROID

#: What Android devices run and how they measure, read by benchlab before any device is found.
PLATFORM = ANDROID


def discover(targets: Sequence[str] = ()) -> Iterable[Any]:
    """Return the Android phones benchlab can see (see android_runner.discovery)."""
    from android_runner.discovery import discover as find

    return find(targets)
