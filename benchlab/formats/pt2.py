"""torch.export programs (.pt2): the eager PyTorch reference of a torch model, run on this machine only.

A .pt2 is what `torch.export.save` writes: a zip archive of the graph, weights and example inputs. As a
suite model it is a "torch" source, like a `module:` factory; as a variant (recipe `torch`) it is the
reference the other variants are compared against, run by torch itself through `exported.module()`
(benchlab.torch_invoke). No phone runs it, and no app ships it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from benchlab.formats.base import ModelFormat, prove_in_child
from benchlab.tensors import Feeds, ModelIO


class Pt2(ModelFormat):
    """A torch.export archive (.pt2), described with torch.export.load."""

    name = "pt2"
    title = "PyTorch"
    suffix = ".pt2"
    accelerator_kinds = frozenset({"cpu"})
    app_platforms = frozenset()
    described_here = True
    source_kind = "torch"

    def check_contents(self, path: Path) -> str | None:
        """Return "is not a torch.export archive ..." when the file is no zip archive, else None."""
        if not zipfile.is_zipfile(path):
            return "is not a torch.export program (.pt2 is the zip archive torch.export.save writes)"
        return None

    def describe(self, path: Path) -> ModelIO:
        """Return the program's user inputs and outputs; raises ValueError or RuntimeError when torch cannot
        load it."""
        import torch

        from benchlab.torch_io import exported_io

        try:
            exported = torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a damaged archive
            raise ValueError(f"{type(exc).__name__}: {exc}") from None
        return exported_io(exported)

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        """Load the program and run `exported.module()` once, in a child process (``python -m benchlab.torch_invoke pt2
        MODEL SAMPLE.npz``); return "ran once in PyTorch <version>".

        Raises VariantDoesNotRun with the runtime's reason in one line, a crash's signal, or the timeout.
        """
        return prove_in_child(["benchlab.torch_invoke", "pt2"], "PyTorch", path, sample)


FORMAT = Pt2()
