"""`benchlab devices` and `benchlab worker`: this host's devices (or a farm's), listed or served to a
farm's scheduler."""

from __future__ import annotations

from dataclasses import dataclass

from benchlab.execute.devices import discover_devices
from benchlab.execute.farm_address import cluster_address
from benchlab.records import DeviceInfo


@dataclass(frozen=True)
class DeviceListing:
    """The devices benchlab can reach: this machine's, or a farm's with the host that owns each."""

    devices: tuple[DeviceInfo, ...]
    #: The farm's scheduler address; None: the devices of this machine.
    cluster: str | None = None
    #: On a farm, the worker (farm host) that owns each device, in the order of `devices`.
    hosts: tuple[str, ...] | None = None


def list_devices(cluster: str | None = None) -> DeviceListing:
    """Return every device benchlab can reach: on the farm whose scheduler `cluster` names (else
    $BENCHLAB_CLUSTER), or this machine's own when there is none.

    Raises UsageError for an address Dask cannot use, FarmError when the farm cannot be reached.
    """
    address = cluster_address(cluster)
    if address is None:
        return DeviceListing(tuple(d.info for d in discover_devices()))
    from benchlab.execute.farm import cluster_session

    with cluster_session(address) as (devices, _executor):
        return DeviceListing(tuple(d.info for d in devices), address, tuple(d.worker_name for d in devices))


def serve_devices(scheduler: str, name: str | None, nthreads: int, rediscover_seconds: float) -> None:
    """Serve this host's devices to the farm's Dask scheduler until stopped (benchlab.execute.farm_worker:
    one worker per farm host, `nthreads` devices measuring at once, looking for phones plugged in or
    pulled every `rediscover_seconds` while idle). Raises UsageError for an address Dask cannot use."""
    from benchlab.execute.farm_worker import serve_worker  # Dask: only a worker needs it loaded

    serve_worker(scheduler, name=name, nthreads=nthreads, rediscover_seconds=rediscover_seconds)
