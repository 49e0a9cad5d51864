"""Which Dask scheduler a farm command talks to, checked before anything connects.

Kept apart from farm_worker, which imports Dask when it loads: `benchlab devices` and a local
`benchlab run` ask this module whether a cluster is named, and Dask (about 0.35 s of imports) is
loaded only when one is.
"""

from __future__ import annotations

from benchlab.errors import UsageError
from benchlab.settings import CLUSTER, read


def cluster_address(given: str | None) -> str | None:
    """Return the scheduler address from `--cluster`, else $BENCHLAB_CLUSTER, else None (no cluster).

    Raises UsageError for an address Dask could not connect to (see `check_scheduler_address`).
    """
    address = given or read(CLUSTER)
    return check_scheduler_address(address) if address is not None else None


def check_scheduler_address(address: str) -> str:
    """Return `address` when it has a scheme Dask speaks and, for a network one, a host and port.

    Raises UsageError otherwise: Dask itself fails only once the worker starts, with chained tracebacks.
    """
    from distributed.comm import parse_address, parse_host_port
    from distributed.comm.registry import backends

    try:
        scheme, location = parse_address(address)
        if scheme not in backends:
            raise ValueError(f"unknown scheme {scheme!r} (allowed: {', '.join(sorted(backends))})")
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except ValueError as exc:
        raise UsageError(f"scheduler address {address!r}: {exc}", hint="give tcp://HOST:PORT, e.g. tcp://farm:8786") from None
    return address
