"""Core ML ML programs (.mlpackage): compiled and run on an iPhone, on the compute units a setting names."""

from __future__ import annotations

from pathlib import Path

from benchlab.formats.base import ModelFormat


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


FORMAT = MLPackage()
