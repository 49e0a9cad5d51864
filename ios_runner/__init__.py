"""iPhones over usbmux: the runner app's job/result protocol, device tables, and the device driver.

``protocol`` (job and result JSON shared with the on-device app in ``app/``) and
``product_types`` (the ProductType table) import no device library. ``services`` is what the
driver needs from a phone, implemented over pymobiledevice3; ``jobs`` the host side of the app's
folder contract; ``device`` the benchlab Device; ``discovery`` lists iPhones with their state.

`discover` is registered under the `benchlab.runners` entry point, and `PLATFORM` beside it declares
what the platform runs (benchlab.platforms); the orchestrator loads them lazily and never imports
pymobiledevice3 itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ios_runner.platform import IOS

#: What iOS devices run and how they measure, read by benchlab before any device is found.
PLATFORM = IOS


def discover(targets: Sequence[str] = ()) -> Iterable[Any]:
    """Return the iPhones benchlab can see, ready or not (see ios_runner.discovery)."""
    from ios_runner.discovery import discover as find

    return find(targets)
