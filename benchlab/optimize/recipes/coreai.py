"""Apple Core AI (iOS 27 / macOS 27): a torch model's exported program converted to an .aimodel by coreai-torch.

The converter is Apple's `coreai-torch` (pure Python) on `coreai-core` (the Core AI compiler's Python
bindings, a Linux x86-64 wheel): the program is lowered with coreai-torch's own decomposition table,
as its documentation asks, converted and saved as an .aimodel package with the `main` entry point,
inputs named as the torch model's and outputs `output_0` ... as the eager reference's. The debug
information that maps each op to its torch stack trace is left out (the converter's RELEASE mode), as in
an app's copy. What the file holds is read back from the written bytecode (benchlab.formats.aimodel):
its inputs and outputs and the scalar types of its stored values, so the notes say which int64 inputs
the program takes as Int32 and that its weights are float32.

No machine but an Apple one with iOS 27 / macOS 27 loads an .aimodel for inference, so this machine
builds and checks it; it is never timed here.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.formats.aimodel import RUNS_ON, read_aimodel
from benchlab.optimize.recipes.base import Options, Recipe
from benchlab.torch_io import output_name

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel


class CoreAI(Recipe):
    NAME = "coreai"
    DESCRIPTION = "Apple Core AI .aimodel (iOS 27 / macOS 27), float32, converted by coreai-torch"
    FORMAT = "aimodel"
    SOURCES = frozenset({"torch"})
    QUANTIZES_WEIGHTS = False
    TOOL = "coreai-torch"
    #: torch decomposes the program again and coreai-core's compiler writes the bytecode: both decide its bytes.
    SOURCE_TOOLS = {"torch": ("torch", "coreai-core")}

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str | None:
        """Convert the source's exported program and save it as an .aimodel at `out_path`; return what the
        written file holds. Raises ImportError naming the packages when coreai-torch is not installed,
        ValueError when the file does not hold what the conversion promised, and what the converter raises."""
        try:
            with warnings.catch_warnings():
                # It warns that it "has only been validated with torch<=2.13.0" on torch 2.13.0+cpu: it compares
                # the local version label too. requirements-torch.txt pins both.
                warnings.filterwarnings("ignore", message="coreai-torch has only been validated", category=UserWarning)
                import coreai_torch
        except ImportError as exc:
            raise ImportError(f"Core AI's converter is not installed ({exc}); `make` installs coreai-torch and "
                              "coreai-core from requirements-torch.txt") from None
        program = source.torch_program
        outputs = [output_name(i) for i in range(len(program.outputs))]
        converter = coreai_torch.TorchConverter(mode=coreai_torch.TorchConverter.Mode.RELEASE)
        converter.add_exported_program(program.exported.run_decompositions(coreai_torch.get_decomp_table()),
                                       input_names=list(program.input_names), output_names=outputs)
        # Its banner and rich progress bar go to stdout; benchlab's own progress is on stderr.
        with contextlib.redirect_stdout(io.StringIO()):
            converter.to_coreai().save_asset(out_path)
        return _claims(source, out_path, outputs)


def _claims(source: SourceModel, out_path: Path, outputs: list[str]) -> str:
    """Return what the written .aimodel holds, checked against the torch program: its inputs by name, the
    int64 ones it takes as Int32, its outputs, and float32 stored values. Raises ValueError when one differs."""
    contents = read_aimodel(out_path)
    program = source.torch_program
    names = [tensor.name for tensor in contents.inputs]
    if names != list(program.input_names) or [tensor.name for tensor in contents.outputs] != outputs:
        raise ValueError(f"the written .aimodel's main function takes {names} and returns "
                         f"{[t.name for t in contents.outputs]}; the torch program {list(program.input_names)} "
                         f"and {outputs}")
    if "Float32" not in contents.stored_values or "Float16" in contents.stored_values:
        raise ValueError(f"the written .aimodel does not store float32 weights (stored values: "
                         f"{contents.stored_values})")
    wide = {tensor.name for tensor in program.inputs if tensor.dtype == "int64"}
    narrowed = [tensor.name for tensor in contents.inputs if tensor.name in wide and tensor.scalar == "Int32"]
    notes = [f"{contents.stored_values['Float32']:,} float32 values stored",
             f"needs OS {contents.minimum_os}" if contents.minimum_os else "",
             f"int64 inputs {', '.join(narrowed)} take Int32" if narrowed else "",
             f"checked on this machine, not run ({RUNS_ON})"]
    return "; ".join(note for note in notes if note)
