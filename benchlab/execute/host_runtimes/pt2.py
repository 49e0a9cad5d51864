"""torch.export programs (.pt2) on the host: `exported.module()` run eagerly by PyTorch, the torch reference."""

from __future__ import annotations

from benchlab.execute.host_runtimes.torch_session import TorchProgramRuntime


class EagerTorch(TorchProgramRuntime):
    name = "pt2"
    runner = "torch-eager"
    libraries = ("torch",)
    package = "torch"


RUNTIME = EagerTorch()
