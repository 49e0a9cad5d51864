"""Build a suite's variants: one per (model, recipe), cached by content hash, failures recorded.

A recipe that fails for a model becomes a Variant with status "failed" and a one-line reason; the
other variants are still built. A variant whose key (parent bytes, recipe, options, calibration
data, converter versions) is already in the cache is reused and reported as "cached".
"""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchlab.datasets import Dataset
from benchlab.errors import SuiteError
from benchlab.optimize.cache import cache_dir, path_sha256, variant_key
from benchlab.optimize.recipes import RECIPES, Recipe
from benchlab.optimize.source import SourceModel
from benchlab.records import Variant
from benchlab.suite import Suite, VariantSpec

#: Recipes whose output depends on the calibration data, not only on the parent model.
CALIBRATED_RECIPES = frozenset({"full-int8", "int16x8"})
REFERENCE_RECIPES = ("fp32", "tflite")
SUFFIX = {"tflite": ".tflite", "mlpackage": ".mlpackage"}

Progress = Callable[[str], None]


def _tool_versions(recipe: Recipe) -> dict[str, str]:
    package = {"tflite": "tensorflow", "coreml": "coremltools"}.get(recipe.builder)
    if package is None:
        return {}
    try:
        return {package: version(package)}
    except PackageNotFoundError:
        return {package: "missing"}


def compressed_size(path: Path) -> int:
    """Return the bytes a file or package takes deflated inside a zip (as in an APK or IPA)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, arcname=file.name if file == path else str(file.relative_to(path)))
        return sum(info.compress_size for info in archive.infolist())


def size_on_disk(path: Path) -> int:
    """Return the bytes of a file, or of all files in a package directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _build_one(source: SourceModel, spec: VariantSpec, parent: str | None) -> Variant:
    recipe = RECIPES[spec.recipe]
    name = spec.variant_name
    extra = _tool_versions(recipe)
    if spec.recipe in CALIBRATED_RECIPES:
        extra["calibration"] = source.data_sha256
    key = variant_key(source.sha256, spec.recipe, spec.options, extra)
    folder = cache_dir() / "variants" / key
    meta_path = folder / "variant.json"
    base = Variant(
        model=source.name, name=name, recipe=spec.recipe, format=recipe.format, status="built",
        parent=parent, options=dict(spec.options), is_reference=spec.recipe in REFERENCE_RECIPES,
    )
    if meta_path.exists():
        cached = json.loads(meta_path.read_text())
        return replace(base, status="cached", **{k: cached[k] for k in ("path", "sha256", "size_bytes",
                                                                       "size_compressed_bytes", "build_seconds")})
    started = time.perf_counter()
    staging = cache_dir() / "variants" / f"{key}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    out_path = staging / f"{source.name}-{name}{SUFFIX[recipe.format]}"
    try:
        if recipe.builder == "as_is":
            copy = shutil.copytree if source.path.is_dir() else shutil.copyfile
            copy(source.path, out_path)
        elif recipe.builder == "tflite":
            from benchlab.optimize.tflite import build_tflite

            build_tflite(source, spec.recipe, spec.options, out_path)
        else:
            from benchlab.optimize.coreml import build_coreml

            build_coreml(source, spec.recipe, spec.options, out_path)
    except SuiteError:
        shutil.rmtree(staging, ignore_errors=True)
        raise  # the model itself is unusable: bad input for every recipe, not one failed variant
    except Exception as exc:  # noqa: BLE001 - converters raise anything; one recipe must not stop the rest
        shutil.rmtree(staging, ignore_errors=True)
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        return replace(base, status="failed", error=f"{spec.recipe} failed: {type(exc).__name__}: {message}")
    built = replace(
        base,
        path=str(folder / out_path.name),
        sha256=path_sha256(out_path),
        size_bytes=size_on_disk(out_path),
        size_compressed_bytes=compressed_size(out_path),
        build_seconds=round(time.perf_counter() - started, 3),
    )
    (staging / "variant.json").write_text(json.dumps(asdict(built), indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)  # publish only complete builds: an interrupted one is rebuilt next time
    return built


def build_variants(suite: Suite, dataset: Dataset, progress: Progress | None = None,
                   on_variant: Callable[[Variant], None] | None = None) -> list[Variant]:
    """Build (or reuse from the cache) every variant of every model in the suite.

    Returns the variants in suite order; failed recipes are included with status "failed".
    Raises SuiteError when a model cannot be loaded or does not fit the dataset.
    """
    say = progress or (lambda _msg: None)
    variants: list[Variant] = []
    for model_spec in suite.models:
        source = SourceModel(model_spec, dataset, say)
        try:
            reference = next((v.variant_name for v in suite.variants if v.recipe in REFERENCE_RECIPES), None)
            for spec in suite.variants:
                parent = None if spec.recipe in REFERENCE_RECIPES else (reference or model_spec.name)
                variant = _build_one(source, spec, parent)
                variants.append(variant)
                if on_variant is not None:
                    on_variant(variant)
        finally:
            source.close()
    return variants
