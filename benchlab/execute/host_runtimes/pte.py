"""ExecuTorch .pte programs on the host: executorch.runtime (the XNNPACK delegate baked into the program)."""

from __future__ import annotations

from benchlab.execute.host_runtimes.torch_session import TorchProgramRuntime


class ExecuTorch(TorchProgramRuntime):
    name = "pte"
    runner = "executorch-python"
    libraries = ("torch", "executorch.runtime")
    package = "executorch"


RUNTIME = ExecuTorch()
