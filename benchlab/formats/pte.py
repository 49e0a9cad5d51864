"""ExecuTorch programs (.pte): run by ExecuTorch's runtime on this machine (its Python bindings) and on
Android phones (a user-supplied `executor_runner`).

A .pte is a flatbuffer with the file identifier "ET12" at bytes 4-8 (the version of ExecuTorch's
program schema). It keeps no input or output names, so benchlab names them `input_N` / `output_N`
(benchlab.torch_io) and data reaches it by position.
"""

from __future__ import annotations

from pathlib import Path

from benchlab.formats.base import ModelFormat, prove_in_child
from benchlab.tensors import Feeds, ModelIO

#: The flatbuffer file identifier of every .pte ExecuTorch's runtime of this schema loads.
PTE_IDENTIFIER = b"ET12"


class Pte(ModelFormat):
    """An ExecuTorch .pte flatbuffer: one regular file, described with executorch.runtime."""

    name = "pte"
    title = "ExecuTorch"
    suffix = ".pte"
    accelerator_kinds = frozenset({"cpu"})
    app_platforms = frozenset({"android", "ios"})
    described_here = True
    xnnpack_fixed = ("a .pte runs the delegates it was lowered to (ExecuTorch's runtime cannot leave XNNPACK out); "
                     "build {recipe: executorch, options: {xnnpack: false}} for a program on the portable kernels")

    def check_contents(self, path: Path) -> str | None:
        """Return "is not an ExecuTorch program ..." when the file lacks the ET12 identifier, else None."""
        with open(path, "rb") as handle:
            if handle.read(8)[4:8] != PTE_IDENTIFIER:
                return "is not an ExecuTorch program (no ET12 identifier at bytes 4-8)"
        return None

    def describe(self, path: Path) -> ModelIO:
        """Return the `forward` method's inputs and outputs; raises ValueError or RuntimeError when
        ExecuTorch cannot load the program."""
        from executorch.runtime import Runtime

        from benchlab.torch_io import executorch_io

        program = Runtime.get().load_program(str(path))
        if "forward" not in program.method_names:
            raise ValueError(f"the program has no forward method (methods: {', '.join(sorted(program.method_names))})")
        return executorch_io(program.metadata("forward"))

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        """Load the program and execute its forward method once, in a child process
        (``python -m benchlab.torch_invoke pte MODEL SAMPLE.npz``); return "ran once in ExecuTorch <version>".

        Raises VariantDoesNotRun with the runtime's reason in one line, a crash's signal, or the timeout.
        """
        return prove_in_child(["benchlab.torch_invoke", "pte"], "ExecuTorch", path, sample)


FORMAT = Pte()
