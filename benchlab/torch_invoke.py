"""Running a torch program on this machine: a .pt2 with torch (`exported.module()`, eager), a .pte with
ExecuTorch's runtime (executorch.runtime, the XNNPACK and portable kernels its wheel ships).

Shared by the host's measuring worker (benchlab.execute.host_runtimes) and the build's proof that a
variant runs. Run as ``python -m benchlab.torch_invoke FORMAT MODEL SAMPLE.npz`` it loads the model,
runs it once and prints the outcome as JSON ({"runtime": version} or {"error": one line}); otherwise
torch and executorch load only when a program is opened.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from benchlab.tensors import Feeds, ModelIO, load_feeds, match_names, to_tensor

#: Takes one sample per input (torch tensors, batch first, in the model's input order); returns its output
#: tensors. Tensors in and out, so a timed call holds no numpy conversion (`as_tensors`, `as_arrays`).
Invoke = Callable[[Sequence[Any]], list[Any]]


class TorchRunError(RuntimeError):
    """torch or ExecuTorch refused to load or run a program; the message is one line."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def open_pt2(path: Path | str, threads: int) -> tuple[ModelIO, Invoke]:
    """Load a .pt2 and return its inputs and outputs and a function running `exported.module()` eagerly
    on `threads` intra-op threads. Raises TorchRunError when torch cannot load it."""
    import torch

    from benchlab.torch_io import exported_io

    torch.set_num_threads(threads)
    try:
        exported = torch.export.load(str(path))
        module = exported.module()
        io = exported_io(exported)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on an archive it cannot load
        raise TorchRunError(f"torch cannot load it: {_one_line(exc)}") from None

    def invoke(inputs: Sequence[Any]) -> list[Any]:
        with torch.no_grad():
            result = module(*inputs)
        return list(result) if isinstance(result, (tuple, list)) else [result]

    return io, invoke


def open_pte(path: Path | str, threads: int) -> tuple[ModelIO, Invoke]:
    """Load a .pte's forward method with ExecuTorch's runtime on `threads` threadpool threads and return
    its inputs and outputs and a function executing it. Raises TorchRunError when ExecuTorch cannot load it."""
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    from benchlab.torch_io import executorch_io

    _unsafe_reset_threadpool(threads)  # this process's only program: nothing else uses the pool
    try:
        method = Runtime.get().load_program(str(path)).load_method("forward")
        io = executorch_io(method.metadata)
    except Exception as exc:  # noqa: BLE001 - the bindings raise RuntimeError and ValueError kinds
        raise TorchRunError(f"ExecuTorch cannot load it: {_one_line(exc)}") from None

    def invoke(inputs: Sequence[Any]) -> list[Any]:
        return list(method.execute(list(inputs)))

    return io, invoke


#: What opens a program of each format, and the package whose version names its runtime.
OPENERS: dict[str, tuple[Callable[[Path | str, int], tuple[ModelIO, Invoke]], str, str]] = {
    "pt2": (open_pt2, "PyTorch", "torch"),
    "pte": (open_pte, "ExecuTorch", "executorch"),
}


def as_tensors(arrays: Sequence[np.ndarray]) -> list[Any]:
    """Return numpy arrays as torch tensors (sharing their memory)."""
    import torch

    return [torch.from_numpy(np.ascontiguousarray(values)) for values in arrays]


def as_arrays(tensors: Sequence[Any]) -> list[np.ndarray]:
    """Return output tensors as numpy arrays."""
    return [tensor.detach().numpy() for tensor in tensors]


def ordered_inputs(io: ModelIO, data: Feeds) -> list[np.ndarray]:
    """Return the data's arrays in the model's input order and dtypes (by name, else by position)."""
    mapping = match_names(list(data), io.inputs)
    return [to_tensor(data[mapping[tensor.name]], tensor) for tensor in io.inputs]


def run_once(fmt: str, model_path: str, sample_path: str) -> dict[str, str]:
    """Load the model and run it once on the saved sample; return {"runtime": version} or {"error": line}."""
    opener, _, package = OPENERS[fmt]
    try:
        io, invoke = opener(model_path, 1)
        invoke(as_tensors(ordered_inputs(io, load_feeds(sample_path))))
    except TorchRunError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a kernel may raise anything on inputs it refuses
        return {"error": _one_line(exc)}
    return {"runtime": version(package)}


if __name__ == "__main__":
    print(json.dumps(run_once(sys.argv[1], sys.argv[2], sys.argv[3])))
