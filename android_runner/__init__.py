"""benchlab's Android runner: phones over ADB running LiteRT's benchmark_model.

`discover` is registered under the `benchlab.runners` entry point; the orchestrator loads it
lazily and never imports adb-shell or adbutils itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def discover(targets: Sequence[str] = ()) -> Iterable[Any]:
    """Return the Android phones benchlab can see (see android_runner.discovery)."""
    from android_runner.discovery import discover as find

    return find(targets)
