"""Build a suite's variants: one per (model, recipe), cached by content hash, failures recorded.

Every model is checked against the dataset first (SourceModel.check), so a broken model file or
data that does not fit it is bad input (SuiteError) before anything is built or cached. A recipe
that fails for a model becomes a Variant with status "failed" and a one-line reason; the other
variants are still built. A variant whose key (parent bytes, recipe, options, the data the recipe
needs, converter version) is already in the cache, intact, is reused and reported as "cached".
A failure is cached under its key too: a later run reports the same failure, noting that it came
from the cache, without rebuilding, unless `rebuild_failed` asks to try again.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchlab.plan.datasets import Dataset
from benchlab.errors import SuiteError, first_line
from benchlab.names import file_name
from benchlab.optimize.cache import (FAILURE_FILE, failed_entry, locked_entry, path_sha256, publish, staging,
                                     trusted_entry, variant_key)
from benchlab.optimize.recipes import RECIPES, Recipe
from benchlab.optimize.source import SourceModel
from benchlab.records import Variant, now_iso
from benchlab.plan.suite import Suite, VariantSpec

SUFFIX = {"tflite": ".tflite", "mlpackage": ".mlpackage"}
#: The cache-key field each kind of needed data is hashed under ("calibration" predates the registry).
NEED_KEYS = {"calibration-data": "calibration", "training-data": "training"}

Progress = Callable[[str], None]


def _key_extras(recipe: Recipe, source: SourceModel, spec: VariantSpec) -> dict[str, str]:
    """Return what besides parent, recipe and options decides the variant's bytes: tool version, data,
    files the options name."""
    extra: dict[str, str] = dict(recipe.key_extras(spec.settings))
    if recipe.TOOL is not None:
        try:
            extra[recipe.TOOL] = version(recipe.TOOL)
        except PackageNotFoundError:
            extra[recipe.TOOL] = "missing"
    for need in sorted(recipe.NEEDS):
        extra[NEED_KEYS[need]] = source.data_sha256(need)
    return extra


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


def _build_one(source: SourceModel, spec: VariantSpec, parent: str | None, rebuild_failed: bool) -> Variant:
    registered = RECIPES[spec.recipe]
    recipe = registered.for_source(source.kind)  # e.g. ai-edge-quantizer's full-int8 for a .tflite
    name = spec.variant_name
    key = variant_key(source.sha256, spec.recipe, spec.options, _key_extras(recipe, source, spec))
    base = Variant(
        model=source.name, name=name, recipe=spec.recipe, format=recipe.FORMAT, status="built",
        parent=parent, options=dict(spec.options), is_reference=registered.IS_REFERENCE,
    )
    with locked_entry(key) as folder:
        cached = trusted_entry(folder)
        if cached is not None:
            return replace(base, status="cached", **{k: cached[k] for k in ("path", "sha256", "size_bytes",
                                                                           "size_compressed_bytes", "build_seconds")},
                           notes=cached.get("notes"))
        failure = None if rebuild_failed else failed_entry(folder)
        if failure is not None:
            return replace(base, status="failed", error=failure["error"],
                           notes=f"failed build from the cache ({failure.get('failed_at', 'earlier')}); "
                                 "`benchlab run --rebuild-failed` tries again")
        started = time.perf_counter()
        with staging(folder) as staged:
            out_path = staged / f"{file_name(f'{source.name}-{name}')}{SUFFIX[recipe.FORMAT]}"
            try:
                notes = recipe.build(source, spec.settings, out_path)
            except SuiteError:
                raise  # the model itself is unusable: bad input for every recipe, not one failed variant
            except Exception as exc:  # noqa: BLE001 - converters raise anything; one recipe must not stop the rest
                message = first_line(exc, limit=300)
                failed = replace(base, status="failed", error=f"{spec.recipe} failed: {type(exc).__name__}: {message}")
                with staging(folder) as record:  # without whatever the recipe left half-written
                    publish(record, folder, {"error": failed.error, "failed_at": now_iso()}, file=FAILURE_FILE)
                return failed
            built = replace(
                base,
                path=str(folder / out_path.name),
                sha256=path_sha256(out_path),
                size_bytes=size_on_disk(out_path),
                size_compressed_bytes=compressed_size(out_path),
                build_seconds=round(time.perf_counter() - started, 3),
                notes=notes,
            )
            publish(staged, folder, asdict(built))  # only complete builds: an interrupted one is rebuilt
    return built


def build_variants(suite: Suite, datasets: Mapping[str, Dataset | None], progress: Progress | None = None,
                   on_variant: Callable[[Variant], None] | None = None, rebuild_failed: bool = False) -> list[Variant]:
    """Build (or reuse from the cache) every variant of every model in the suite.

    `datasets` holds each model's data (None: synthetic inputs, see `load_model_datasets`).
    Returns the variants in suite order; failed recipes are included with status "failed" (a failure
    already cached for the same key is reported again without rebuilding unless `rebuild_failed`).
    Raises SuiteError when a model cannot be loaded or does not fit its data, or when a recipe
    refuses a model it can never be built from (Recipe.check), before anything is built.
    """
    say = progress or (lambda _msg: None)
    sources: list[SourceModel] = []
    try:
        for i, model_spec in enumerate(suite.models):
            sources.append(SourceModel(model_spec, datasets[model_spec.name], say, suite.where(f"models[{i}]")))
            sources[-1].check()  # every model before any variant is built: bad input costs nothing
            for spec in suite.variants:
                RECIPES[spec.recipe].for_source(sources[-1].kind).check(sources[-1])
        return _build_all(suite, sources, on_variant, rebuild_failed)
    finally:
        for source in sources:
            source.close()


def _build_all(suite: Suite, sources: list[SourceModel],
               on_variant: Callable[[Variant], None] | None, rebuild_failed: bool) -> list[Variant]:
    variants: list[Variant] = []
    reference = next((v.variant_name for v in suite.variants if RECIPES[v.recipe].IS_REFERENCE), None)
    for source in sources:
        for spec in suite.variants:
            parent = None if RECIPES[spec.recipe].IS_REFERENCE else (reference or source.name)
            variant = _build_one(source, spec, parent, rebuild_failed)
            variants.append(variant)
            if on_variant is not None:
                on_variant(variant)
    return variants
