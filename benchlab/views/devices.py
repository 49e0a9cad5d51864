"""`benchlab devices`' table: every device reachable, here or on a farm, with its profile and state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchlab.records import DeviceInfo

COLUMNS = ("id", "platform", "maker", "model", "soc", "os", "abi", "tier", "profile", "transport", "state")


def print_devices(devices: Sequence[DeviceInfo], cluster: str | None = None,
                  hosts: Sequence[str] | None = None) -> None:
    """Print one row per device; on a farm (`cluster`, the scheduler's address) with the host
    (`hosts`, one per device) that owns it."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="devices" if cluster is None else f"devices on {cluster}")
    for column in (*COLUMNS, *(("host",) if hosts is not None else ())):
        table.add_column(column)
    for n, i in enumerate(devices):
        table.add_row(i.id, i.platform, i.maker or "", i.model or "", i.soc or "", i.os_version or "",
                      i.abi or "", i.tier or "", i.profile or "", i.transport or "", i.state,
                      *((hosts[n],) if hosts is not None else ()))
    Console(width=max(160, Console().width)).print(table)
