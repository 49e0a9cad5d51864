"""What the two torch program runtimes share (the `pt2` and `pte` modules of this package): a Session over
benchlab.torch_invoke's loaded program.

Both go through benchlab.torch_invoke, which the build's proof uses too. The XNNPACK choice of a .pte is
made when it is built (an `xnnpack: false` setting is refused before it gets here: formats.pte's
`xnnpack_fixed`), and a .pt2 runs torch's own kernels, never XNNPACK, so `xnnpack` is not theirs to decide.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import numpy as np

from benchlab.execute.host_runtimes.base import HostRuntime, ModelRefused, Session
from benchlab.tensors import Feeds, ModelIO, to_tensor
from benchlab.torch_invoke import Invoke, TorchRunError, as_arrays, as_tensors


class TorchSession(Session):
    """A loaded torch program: the inputs of the sample set last, the outputs of the last run."""

    def __init__(self, io: ModelIO, run: Invoke) -> None:
        self.io = io
        self._run = run
        self._inputs: list[Any] = []
        self._outputs: list[Any] = []

    def set_sample(self, feeds: Feeds, index: int) -> None:
        # Torch tensors made here, not in invoke(): the timed call is the runtime's alone.
        self._inputs = as_tensors([to_tensor(feeds[t.name][index : index + 1], t) for t in self.io.inputs])

    def invoke(self) -> None:
        self._outputs = self._run(self._inputs)

    def outputs(self) -> dict[str, np.ndarray]:
        return {t.name: values.astype(np.float32) if np.issubdtype(values.dtype, np.floating) else values
                for t, values in zip(self.io.outputs, as_arrays(self._outputs))}


class TorchProgramRuntime(HostRuntime):
    """A runtime of benchlab.torch_invoke.OPENERS, by format name."""

    #: The modules its program needs loaded (imported before the init timer starts).
    libraries: ClassVar[tuple[str, ...]]

    def load_library(self) -> None:
        for module in self.libraries:
            importlib.import_module(module)

    def open(self, model_path: str, threads: int, xnnpack: bool) -> Session:
        """Load the program on `threads` threads; raises ModelRefused with the runtime's reason."""
        from benchlab.torch_invoke import OPENERS

        try:
            io, run = OPENERS[self.name][0](model_path, threads)
        except TorchRunError as exc:
            raise ModelRefused(str(exc)) from None
        return TorchSession(io, run)
