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

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchlab.plan.datasets import Dataset
from benchlab.errors import SuiteError, caused_by_disk_full, first_line
from benchlab.names import file_name
from benchlab.file_hash import path_sha256
from benchlab.optimize.cache import (FAILURE_FILE, disk_full_at, failed_entry, locked_entry, publish,
                                     staging, trusted_entry, variant_key)
from benchlab.formats import delivery_size, format_named
from benchlab.formats.base import ModelFormat, VariantDoesNotRun
from benchlab.optimize.recipes import RECIPES, Options, Recipe
from benchlab.optimize.recipes.training import KerasTrainingRecipe
from benchlab.optimize.source import SourceModel
from benchlab.records import Variant, now_iso
from benchlab.plan.suite import Suite, VariantSpec

#: The cache-key field each kind of needed data is hashed under ("calibration" predates the registry).
NEED_KEYS = {"calibration-data": "calibration", "training-data": "training"}

Progress = Callable[[str], None]


def _key_extras(recipe: Recipe, source: SourceModel, spec: VariantSpec) -> dict[str, str]:
    """Return what besides parent, recipe and options decides the variant's bytes: tool versions (the
    recipe's and those of what reads the source's kind), data, files the options name."""
    extra: dict[str, str] = dict(recipe.key_extras(spec.settings))
    for package in recipe.tools(source.kind):
        try:
            extra[package] = version(package)
        except PackageNotFoundError:
            extra[package] = "missing"
    for need in sorted(recipe.NEEDS):
        extra[NEED_KEYS[need]] = source.data_sha256(need)
    return extra


def _format(format_name: str) -> ModelFormat:
    """Return a recipe's format (benchlab.formats); raises KeyError for an unknown one."""
    fmt = format_named(format_name)
    if fmt is None:
        raise KeyError(f"no format module declares {format_name!r} (benchlab/formats/)")
    return fmt


def size_on_disk(path: Path) -> int:
    """Return the bytes of a file, or of all files in a package directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass(frozen=True)
class _Step:
    """One cached artifact a variant is made through: a trained .keras, a trained model's finished file, a variant."""

    label: str
    key: str
    file: str
    make: Callable[[Path], str | None]
    #: Runs the written file once and says so (its format's prove_runs); None for an intermediate .keras.
    prove: Callable[[Path], str] | None = None


@dataclass(frozen=True)
class _Made:
    """What one step left: its cache entry's metadata, or its error; whether it came from the cache."""

    meta: dict[str, Any]
    from_cache: bool
    error: str | None = None


def _run_step(step: _Step, rebuild_failed: bool) -> _Made:
    """Return the step's cached artifact, or build it (caching the artifact or the failure).

    A file that is proved to run is cached with what proved it; an entry cached without that proof
    (made before benchlab proved variants) is built again, so no unproved file is reported built.
    """
    with locked_entry(step.key) as folder:
        cached = trusted_entry(folder)
        if cached is not None and (step.prove is None or cached.get("proven")):
            return _Made(cached, from_cache=True)
        failure = None if rebuild_failed else failed_entry(folder)
        if failure is not None:
            return _Made({"notes": f"failed build from the cache ({failure.get('failed_at', 'earlier')}); "
                                   "`benchlab run --rebuild-failed` tries again"}, from_cache=True, error=failure["error"])
        started = time.perf_counter()
        with staging(folder) as staged:
            out_path = staged / step.file
            try:
                notes = step.make(out_path)
                proven = step.prove(out_path) if step.prove is not None else None
            except SuiteError:
                raise  # the model itself is unusable: bad input for every recipe, not one failed variant
            except VariantDoesNotRun as exc:  # already one line, in the runtime's words
                return _failed(folder, f"{step.label} failed: {exc}")
            except Exception as exc:  # noqa: BLE001 - converters raise anything; one recipe must not stop the rest
                if caused_by_disk_full(exc):  # not the variant's fault: never cached as a failed build
                    raise disk_full_at(folder) from None
                return _failed(folder, f"{step.label} failed: {type(exc).__name__}: {first_line(exc, limit=300)}")
            meta = {"path": str(folder / out_path.name), "sha256": path_sha256(out_path),
                    "size_bytes": size_on_disk(out_path), "size_compressed_bytes": delivery_size(out_path),
                    "build_seconds": round(time.perf_counter() - started, 3), "notes": notes, "proven": proven}
            publish(staged, folder, meta)  # only complete builds: an interrupted one is rebuilt
    return _Made(meta, from_cache=False)


def _failed(folder: Path, error: str) -> _Made:
    """Cache a failed build's one-line error at `folder` (without whatever the recipe left half-written)."""
    with staging(folder) as record:
        publish(record, folder, {"error": error, "failed_at": now_iso()}, file=FAILURE_FILE)
    return _Made({}, from_cache=False, error=error)


def _step_key(source: SourceModel, spec: VariantSpec, recipe: Recipe, stage: str | None = None) -> str:
    """Return the cache key of building `spec`'s recipe from `source`; `stage` tells a training recipe's
    two artifacts apart ("trained": the .keras, "finished": the file of its FORMAT)."""
    extras = _key_extras(recipe, source, spec)
    return variant_key(source.sha256, spec.recipe, spec.options, extras if stage is None else {**extras, "stage": stage})


def _build_one(source: SourceModel, spec: VariantSpec, parent: str | None, rebuild_failed: bool) -> Variant:
    """Build one variant: one recipe, or a chain of them (`then:`), every intermediate model cached.

    A recipe that trains (KerasTrainingRecipe) first writes its trained .keras; the next step of the
    chain, or the recipe's own finish(), makes a file of its FORMAT from it. So a suite with `prune-50` and
    `prune-50+full-int8` trains once. A converter a chain goes on from (Recipe.CHAINS_AS, e.g.
    litert-torch) writes its proven file as it would as a variant of its own (the same cache entry),
    and the next step is built from that file as a source of its kind. The claims of the chain's training steps (zeros, clusters) are
    checked again in its final file: a step that undoes them fails the variant, saying so.
    """
    steps = spec.steps
    last = RECIPES[steps[-1].recipe]
    base = Variant(
        model=source.name, name=spec.variant_name, recipe="+".join(step.recipe for step in steps),
        format=last.FORMAT, status="built", parent=parent,
        options=dict(spec.options) if spec.then is None else _chain_options(spec),
        is_reference=RECIPES[spec.recipe].IS_REFERENCE,
    )
    current, derived = source, []
    made: list[tuple[str, _Made]] = []
    trained: list[tuple[KerasTrainingRecipe, VariantSpec]] = []
    try:
        for position, step in enumerate(steps):
            recipe = RECIPES[step.recipe].for_source(current.kind)
            name = RECIPES[step.recipe].variant_name(step.settings)
            final = position == len(steps) - 1
            try:
                if isinstance(recipe, KerasTrainingRecipe):
                    made.append((name, _run_step(_Step(step.recipe, _step_key(current, step, recipe, "trained"),
                                                       f"{file_name(f'{source.name}-{name}')}.keras",
                                                       partial(_checked_build, recipe, current, step.settings)),
                                                 rebuild_failed)))
                    if made[-1][1].error is not None:
                        break
                    current = current.derived(Path(made[-1][1].meta["path"]), step.recipe)
                    derived.append(current)
                    trained.append((recipe, step))
                    if not final:
                        continue
                    make, key = (partial(recipe.finish, current, step.settings),
                                 _step_key(current, step, recipe, "finished"))
                else:
                    make, key = (partial(_checked_build, recipe, current, step.settings),
                                 _step_key(current, step, recipe))
                output = _format(recipe.FORMAT)  # a training recipe's finish() writes its FORMAT too
                checked = _with_claims(make, trained[:-1] if recipe.YIELDS_KERAS else trained, output)
                # A step the chain goes on from is its own file, shared with the suite's variant of that recipe.
                stem = file_name(f"{source.name}-{spec.variant_name if final else name}")
                made.append((name, _run_step(_Step(step.recipe, key, f"{stem}{output.suffix}", checked,
                                                   partial(output.prove_runs, sample=current.sample())),
                                             rebuild_failed)))
                if not final and made[-1][1].error is None:
                    # A converter's file (a .tflite from a torch model): the next step quantizes it as a source.
                    current = current.derived(Path(made[-1][1].meta["path"]), step.recipe)
                    derived.append(current)
                elif not final:
                    break
            except SuiteError as exc:
                if current is source:
                    raise  # the suite's own model is unusable: bad input, as before any chain
                # A model a chain made that the next step cannot take fails this variant, not the suite.
                verb = "trained" if current.kind == "keras" else "wrote"
                made.append((name, _Made({}, from_cache=False, error=f"{step.recipe} cannot take the model "
                                                                     f"{made[-1][0]} {verb}: {first_line(exc)}")))
                break
    finally:
        for model in derived:
            model.close()
    return _variant(base, made, chained=spec.then is not None)


def _checked_build(recipe: Recipe, model: SourceModel, options: Options, out_path: Path) -> str | None:
    """Check `model` for `recipe`, then build: a model a chain trained is checked here, when it is built
    from (build_variants checked the suite's own models before anything was built)."""
    recipe.check(model)
    return recipe.build(model, options, out_path)


def _with_claims(make: Callable[[Path], str | None], earlier: list[tuple[KerasTrainingRecipe, VariantSpec]],
                 output: ModelFormat) -> Callable[[Path], str | None]:
    """Return `make` followed by the claims of a chain's earlier training steps, checked in the file it wrote
    when the recipe reads its claim in files of the `output` format (KerasTrainingRecipe.CLAIM_READ_IN; the
    note says when it does not): "kept from prune-50: ..." notes are added, and a claim the file no longer
    holds raises ValueError."""
    if not earlier:
        return make

    def make_and_check(out_path: Path) -> str | None:
        notes = [make(out_path)]
        for recipe, step in earlier:
            name = recipe.variant_name(step.settings)
            if recipe.CLAIM is None:
                continue
            if output.name not in recipe.CLAIM_READ_IN:
                notes.append(f"{name}'s {recipe.CLAIM} not measured in the {output.suffix}")
                continue
            try:
                claim = recipe.claim(out_path, step.settings)
            except ValueError as exc:
                raise ValueError(f"the chain undid {name}: {exc}") from None
            notes.append(f"kept from {name}: {claim}" if claim else None)
        return "; ".join(note for note in notes if note) or None

    return make_and_check


def _variant(base: Variant, made: list[tuple[str, _Made]], chained: bool) -> Variant:
    """Return the variant the steps made: the last step's artifact, its notes and every step's lineage."""
    lineage = [{"step": name, "file": Path(step.meta["path"]).name if "path" in step.meta else None,
                "sha256": step.meta.get("sha256"), "cached": step.from_cache, "seconds": step.meta.get("build_seconds"),
                "notes": step.meta.get("notes")}
               for name, step in made]
    if chained:  # "prune-50: trained ...; full-int8: ...", a training step's two files under its one name
        by_step: dict[str, list[str]] = {}
        for name, step in made:
            if step.meta.get("notes"):
                by_step.setdefault(name, []).append(step.meta["notes"])
        notes = "; ".join(f"{name}: {'; '.join(parts)}" for name, parts in by_step.items())
    else:  # what the finished file holds first, then how it was trained
        notes = "; ".join(step.meta["notes"] for _, step in reversed(made) if step.meta.get("notes"))
    failed = next((step for _, step in made if step.error is not None), None)
    if failed is not None:
        return replace(base, status="failed", error=failed.error, notes=notes or None,
                       lineage=lineage if len(made) > 1 else [])
    final = made[-1][1].meta
    return replace(base, status="cached" if all(step.from_cache for _, step in made) else "built",
                   path=final["path"], sha256=final["sha256"], size_bytes=final["size_bytes"],
                   size_compressed_bytes=final["size_compressed_bytes"],
                   build_seconds=round(sum(step.meta["build_seconds"] for _, step in made), 3), notes=notes or None,
                   lineage=lineage if len(made) > 1 else [])


def _chain_options(spec: VariantSpec) -> dict[str, Any]:
    """Return a chain's options as the suite wrote them: the first step's, the next step under "then"."""
    assert spec.then is not None
    return {**spec.options, "then": _step_dict(spec.then)}


def _step_dict(step: VariantSpec) -> dict[str, Any]:
    """Return a chained step as the suite wrote it: its recipe, its options and, if it has one, its "then"."""
    written: dict[str, Any] = {"recipe": step.recipe, "options": dict(step.options)}
    return written if step.then is None else {**written, "then": _step_dict(step.then)}


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
            for spec in suite.variants_for(model_spec, RECIPES):
                RECIPES[spec.recipe].for_source(sources[-1].kind).check(sources[-1])
        return _build_all(suite, sources, say, on_variant, rebuild_failed)
    finally:
        for source in sources:
            source.close()


def _build_all(suite: Suite, sources: list[SourceModel], say: Progress,
               on_variant: Callable[[Variant], None] | None, rebuild_failed: bool) -> list[Variant]:
    variants: list[Variant] = []
    for model_spec, source in zip(suite.models, sources):
        specs = suite.variants_for(model_spec, RECIPES)
        for skipped in (spec for spec in suite.variants if spec not in specs):  # a suite mixing kinds of model
            say(f"  {skipped.variant_name}: not built for {source.name} ({source.kind}): recipe {skipped.recipe} "
                f"cannot be built from a {source.kind} model")
        reference = next((v.variant_name for v in specs if RECIPES[v.recipe].IS_REFERENCE), None)
        for spec in specs:
            parent = None if RECIPES[spec.recipe].IS_REFERENCE else (reference or source.name)
            variant = _build_one(source, spec, parent, rebuild_failed)
            variants.append(variant)
            if on_variant is not None:
                on_variant(variant)
    return variants
