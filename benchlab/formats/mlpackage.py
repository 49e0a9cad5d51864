"""Core ML ML programs (.mlpackage): compiled and run on an iPhone, on the compute units a setting names."""

from __future__ import annotations

import sys
from pathlib import Path

from benchlab.formats.base import ModelFormat, VariantDoesNotRun
from benchlab.tensors import Feeds


class MLPackage(ModelFormat):
    """An .mlpackage directory; its inputs and outputs are read on the iPhone (ios_runner.model_io)."""

    name = "mlpackage"
    title = "Core ML"
    suffix = ".mlpackage"
    is_directory = True
    accelerator_kinds = frozenset({"coreml"})
    app_platforms = frozenset({"ios"})

    def check_contents(self, path: Path) -> str | None:
        """Return why the path is not an .mlpackage (a directory with a Manifest.json), else None."""
        if not (path / "Manifest.json").is_file():
            return "is not an .mlpackage (a directory with a Manifest.json)"
        return None

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        """Load the package's spec with coremltools and check it takes as many inputs as the data has;
        on macOS, predict once too (Core ML runs on Apple's platforms only). Return what was done.

        Raises VariantDoesNotRun when Core ML cannot load or run it, or its inputs do not fit the data.
        """
        import coremltools as ct

        try:
            model = ct.models.MLModel(str(path), skip_model_load=sys.platform != "darwin")
        except Exception as exc:  # noqa: BLE001 - coremltools raises many kinds on a package it cannot read
            raise VariantDoesNotRun(f"Core ML cannot load it: {' '.join(str(exc).split())[:300]}") from None
        description = model.get_spec().description
        inputs = [feature.name for feature in description.input]
        if len(inputs) != len(sample) or not description.output:
            raise VariantDoesNotRun(f"its spec has inputs {inputs} and {len(description.output)} outputs; "
                                    f"the data has {len(sample)} inputs")
        if sys.platform != "darwin":
            return "Core ML spec loaded, inputs checked (Core ML runs on Apple devices only)"
        try:
            model.predict(dict(zip(inputs, sample.values())))
        except Exception as exc:  # noqa: BLE001 - Core ML raises many kinds on a model it cannot run
            raise VariantDoesNotRun(f"Core ML cannot run it: {' '.join(str(exc).split())[:300]}") from None
        return "ran once in Core ML"


FORMAT = MLPackage()
