"""Model formats as plug-ins: one module per format a variant can be built in, one registry.

Each module of this package other than `base` defines `FORMAT`, an instance of a
`benchlab.formats.base.ModelFormat` subclass; `registered()` finds them. A format declares its file
suffix and how a file of it is checked, how its inputs and outputs are described, which
accelerator kinds (and so which devices) run it, which platforms' apps ship it, and how it is
sized for delivery. A new format is one module here plus the recipes that build it (their
`FORMAT`) and the runners that run it (their `capabilities()`).

Like benchlab.metrics, this package comes first in the flow (tests/test_layers.py): it imports
only the shared modules, so every stage can read the registry.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from benchlab.formats.base import ModelFormat, deflated_size
from benchlab.plugins import discover

#: Modules of this package that hold no format.
SUPPORT_MODULES = frozenset({"base", "language_model"})


@cache
def registered() -> tuple[ModelFormat, ...]:
    """Return every format of this package, by name.

    Raises TypeError when a format module has no `FORMAT`, ValueError when two share a name or a suffix.
    """
    found = discover(__name__, __path__, "FORMAT", ModelFormat, SUPPORT_MODULES)
    suffixes = [f.suffix for f in found]
    if len(set(suffixes)) != len(suffixes):
        raise ValueError(f"two format modules share a suffix: {sorted(suffixes)}")
    return tuple(sorted(found, key=lambda f: f.name))


def format_named(name: str) -> ModelFormat | None:
    """Return the format of that name ("tflite", "mlpackage"), None when no module declares it."""
    return next((f for f in registered() if f.name == name), None)


def format_of(path: Path) -> ModelFormat | None:
    """Return the format a path's suffix names, None when it names none (a Keras file, a SavedModel)."""
    return next((f for f in registered() if f.suffix == path.suffix), None)


def format_of_kind(kind: str) -> ModelFormat | None:
    """Return the format whose files are a source of that kind (benchlab.plan.suite.ModelSpec.kind): the
    format of that name, or the one declaring it as its `source_kind` (a .pt2 for "torch"); None for a kind
    no format's files are (keras, savedmodel, hf)."""
    return format_named(kind) or next((f for f in registered() if f.source_kind == kind), None)


def delivery_size(path: Path) -> int:
    """Return the bytes a built file takes in an app download, as its format sizes it (deflated, for a
    file of no format such as a trained .keras)."""
    fmt = format_of(path)
    return fmt.delivery_size(path) if fmt is not None else deflated_size(path)


def accelerator_kinds(name: str) -> frozenset[str]:
    """Return the accelerator kinds that run the format of that name (none for an unknown format)."""
    fmt = format_named(name)
    return fmt.accelerator_kinds if fmt is not None else frozenset()
