"""What runs a variant's format on this machine's CPU: one module per format, one registry.

Each module other than `base` and `torch_session` defines `RUNTIME`, a `benchlab.execute.host_runtimes.base.HostRuntime`: the
format it runs, the runner's name and the package whose version names it, and `open()`, which the
measuring worker (benchlab.execute.host_worker) calls in its fresh process to load a model as a
`Session`. The worker times `Session.invoke` the same way for every format (fresh process per repeat,
warm-up, iterations, outputs kept for fidelity), and the host device lists these formats as the ones it
runs. A new host runtime is one module here. Nothing here imports a runtime at import time.
"""

from __future__ import annotations

from functools import cache

from benchlab.execute.host_runtimes.base import HostRuntime
from benchlab.plugins import discover

#: Modules of this package that hold no runtime.
SUPPORT_MODULES = frozenset({"base", "torch_session"})


@cache
def registered() -> tuple[HostRuntime, ...]:
    """Return every host runtime of this package, by format name; raises TypeError or ValueError for a
    module without `RUNTIME` or two runtimes of one format."""
    found = discover(__name__, __path__, "RUNTIME", HostRuntime, SUPPORT_MODULES)
    return tuple(sorted(found, key=lambda runtime: runtime.name))


def runtime_for(format_name: str) -> HostRuntime:
    """Return the runtime that runs variants of `format_name` here; raises KeyError when none does."""
    for runtime in registered():
        if runtime.name == format_name:
            return runtime
    raise KeyError(f"no host runtime runs {format_name} (runs: {', '.join(r.name for r in registered())})")
