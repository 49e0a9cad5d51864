"""PyTorch sources: a `module: package.module:factory` or a saved torch.export program (.pt2), loaded once
as a TorchProgram that every torch recipe builds from.

A factory returns the nn.Module (in eval mode) and example inputs, a tuple in forward's order or a dict by
parameter name; it is exported here with torch.export (static shapes: the example inputs' shapes). A
.pt2 is loaded with torch.export.load and run through `exported.module()`. torch is imported inside the
functions only, so validating a suite or listing devices never loads it.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from benchlab.errors import SuiteError, first_line
from benchlab.tensors import ModelIO, TensorInfo
from benchlab.torch_io import exported_io


@dataclass(frozen=True)
class TorchProgram:
    """A PyTorch model as the torch recipes take it: the module, its exported program, example inputs."""

    #: The nn.Module in eval mode (a .pt2's `exported.module()`); called with the inputs in forward order.
    module: Any
    #: The torch.export.ExportedProgram of `module` on `example_inputs`.
    exported: Any
    #: One torch tensor per input, in forward order (the shapes the program was exported at).
    example_inputs: tuple[Any, ...]
    #: The inputs' names, in forward order: what the data is keyed by.
    input_names: tuple[str, ...]

    @cached_property
    def io(self) -> ModelIO:
        """The program's inputs (by name, int64 ids as int64) and outputs (`output_N`)."""
        return exported_io(self.exported)

    @property
    def inputs(self) -> tuple[TensorInfo, ...]:
        """The program's inputs, in forward order."""
        return self.io.inputs

    @property
    def outputs(self) -> tuple[TensorInfo, ...]:
        """The program's outputs, in order."""
        return self.io.outputs

    def save(self, path: Path) -> None:
        """Write the exported program (with its example inputs) as a .pt2 archive at `path`."""
        import torch

        torch.export.save(self.exported, str(path))

    def sha256(self) -> str:
        """Return a hash of what decides every variant's bytes: the graph, its input and output specs and every
        weight and constant (not the example inputs' values, which a factory may draw at random)."""
        import torch

        digest = hashlib.sha256(str(self.exported.graph_module.code).encode())
        digest.update(repr(self.exported.graph_signature).encode())
        tensors = {**self.exported.state_dict, **self.exported.constants}
        for name in sorted(tensors):
            value = tensors[name]
            digest.update(name.encode())
            if isinstance(value, torch.Tensor):
                digest.update(f"{value.dtype}{tuple(value.shape)}".encode())
                digest.update(value.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
            else:  # a script object a custom op holds: its repr is all that is comparable
                digest.update(repr(value).encode())
        return digest.hexdigest()


def load_factory(reference: str, root: Path, where: str) -> TorchProgram:
    """Import `package.module:factory` from folder `root`, call the factory and export what it returns.

    Raises SuiteError naming `where` in one line when the module does not import, the factory is missing or
    raises, returns something else than (module, inputs), or torch.export cannot export the module.
    """
    import torch

    module_name, _, factory_name = reference.partition(":")
    field = f"{where}.module: {reference}"
    _forget_other(module_name, root)
    sys.path.insert(0, str(root))
    try:
        imported = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - importing user code may raise anything
        raise SuiteError(f"{field}: cannot import {module_name} from {root} "
                         f"({type(exc).__name__}: {first_line(exc)})") from None
    finally:
        sys.path.remove(str(root))
    factory = getattr(imported, factory_name, None)
    if not callable(factory):
        raise SuiteError(f"{field}: {module_name} ({getattr(imported, '__file__', root)}) has no function "
                         f"{factory_name!r}")
    try:
        made = factory()
    except Exception as exc:  # noqa: BLE001 - a user's factory may raise anything
        raise SuiteError(f"{field}: the factory raised {type(exc).__name__}: {first_line(exc)}") from None
    if not (isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], torch.nn.Module)):
        raise SuiteError(f"{field}: the factory must return (nn.Module, example inputs), "
                         f"got {type(made).__name__}")
    module, given = made
    args = _positional(module, given, field)
    if module.training:
        raise SuiteError(f"{field}: the factory returned the module in training mode; call .eval() on it "
                         "(dropout and batch norm would differ between variants)")
    try:
        with torch.no_grad():
            exported = torch.export.export(module, args)
    except Exception as exc:  # noqa: BLE001 - torch.export raises many kinds on code it cannot trace
        raise SuiteError(f"{field}: torch.export cannot export it: {type(exc).__name__}: "
                         f"{first_line(exc, limit=300)}") from None
    return _program(module, exported, args, field)


def load_pt2(path: Path, where: str) -> TorchProgram:
    """Load a saved ExportedProgram (.pt2); raises SuiteError naming `where` when torch cannot load it or it
    was exported with keyword inputs."""
    import torch

    field = f"{where}.path: {path}"
    try:
        exported = torch.export.load(str(path))
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a foreign or damaged archive
        raise SuiteError(f"{field}: not a loadable torch.export program ({type(exc).__name__}: "
                         f"{first_line(exc)})") from None
    args, kwargs = exported.example_inputs or ((), {})
    if kwargs:
        raise SuiteError(f"{field}: it was exported with keyword inputs ({', '.join(kwargs)}); export it with "
                         "positional ones (torch.export.export(model, args))")
    return _program(exported.module(), exported, tuple(args), field)


def _program(module: Any, exported: Any, args: tuple[Any, ...], field: str) -> TorchProgram:
    """Return the TorchProgram, raising SuiteError when its inputs or outputs are not plain tensors."""
    program = TorchProgram(module=module, exported=exported, example_inputs=args,
                           input_names=tuple(exported.graph_signature.user_inputs))
    try:
        program.io  # noqa: B018 - read once here, so an unusable input is bad input, not a failed variant
    except ValueError as exc:
        raise SuiteError(f"{field}: {exc}") from None
    if not args and program.inputs:
        raise SuiteError(f"{field}: it holds no example inputs (save it from torch.export.export(model, args))")
    return program


def _forget_other(module_name: str, root: Path) -> None:
    """Drop an imported package of the same top-level name from another folder (two suites' `nets.py`), so
    the import finds the one under `root`."""
    top = module_name.partition(".")[0]
    loaded = getattr(sys.modules.get(top), "__file__", None)
    if loaded is not None and not Path(loaded).resolve().is_relative_to(root.resolve()):
        for name in [name for name in sys.modules if name == top or name.startswith(f"{top}.")]:
            del sys.modules[name]
    importlib.invalidate_caches()  # a module written since the last import (a new suite folder's)


def _positional(module: Any, given: Any, field: str) -> tuple[Any, ...]:
    """Return the example inputs as a tuple in forward's order (a dict is ordered by forward's parameters).

    Raises SuiteError for inputs that are not tensors or a dict naming no parameter of forward.
    """
    import torch

    if isinstance(given, dict):
        parameters = list(inspect.signature(module.forward).parameters)
        unknown = sorted(set(given) - set(parameters))
        if unknown:
            raise SuiteError(f"{field}: example input {unknown[0]!r} is not a parameter of forward "
                             f"({', '.join(parameters)})")
        ordered = [name for name in parameters if name in given]
        if ordered != parameters[:len(ordered)]:
            skipped = next(name for name in parameters if name not in given)
            raise SuiteError(f"{field}: example inputs skip forward's parameter {skipped!r}; give every "
                             "parameter up to the last one given")
        given = tuple(given[name] for name in ordered)
    if isinstance(given, torch.Tensor):
        given = (given,)
    if not isinstance(given, (tuple, list)) or not all(isinstance(t, torch.Tensor) for t in given):
        raise SuiteError(f"{field}: example inputs must be tensors, as a tuple in forward's order or a dict by name")
    return tuple(given)
