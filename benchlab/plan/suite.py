"""Suite files: the YAML schema, loading and validation.

A suite names models, an evaluation dataset, variant recipes, targets, accelerator settings, a
measurement scenario and an accuracy budget. Loading validates everything that can be checked
without building anything, and every error names the file, the field and the allowed values, so a
typo costs a second, not a half-built run. Recipes are checked against the catalogue the caller
hands in (benchlab.plan.recipe_catalogue says why).
"""

from __future__ import annotations

import math
import os
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    create_model,
    model_validator,
)

from benchlab.plan.datasets import describe_training_split, supplied_data
from benchlab.plan.files import file_problem
from benchlab.plan.recipe_catalogue import CONTEXT_KEY, RecipeCatalogue, catalogue_of
from benchlab.plan.targets import validate_selector
from benchlab.plan.yaml_file import read_yaml
from benchlab.errors import SuiteError
from benchlab.formats import format_of
from benchlab.formats import registered as registered_formats
from benchlab.metrics import registered as registered_metrics
from benchlab.names import file_name
from benchlab.platforms import Platforms, registered as registered_platforms
from benchlab.records import AcceleratorSetting, LlmCacheState, LlmScenario, Scenario, run_mode_setting

BUILTIN_MODELS = ("quickstart-mnist",)
BUILTIN_DATASETS = ("mnist",)
#: Longest name (suite, model, variant, accelerator): names head table columns and plot legends.
MAX_NAME = 100
#: What a Keras model file starts with: .keras is a zip archive, .h5 / .hdf5 an HDF5 file.
KERAS_SIGNATURES = {".keras": b"PK\x03\x04", ".h5": b"\x89HDF\r\n\x1a\n", ".hdf5": b"\x89HDF\r\n\x1a\n"}
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
#: A `module:` model: `package.module:factory`.
MODULE_REFERENCE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
#: The kind of a PyTorch source: a `module:` factory or a saved ExportedProgram (.pt2).
TORCH_KIND = "torch"
#: The kind of a Hugging Face model directory (config.json and a tokenizer): a language model to export.
HF_KIND = "hf"
#: The tokenizer files a Hugging Face model directory may hold, one of which it must.
HF_TOKENIZERS = ("tokenizer.json", "tokenizer.model")
#: Most values one sample of an `input_shapes` input may hold: a 4K RGB image.
MAX_SAMPLE_VALUES = 3840 * 2160 * 3


class _Strict(BaseModel):
    # No NaN or infinity anywhere: `timeout_seconds: .inf` would only fail deep in a run.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DatasetSpec(_Strict):
    """Evaluation (and calibration) data: an npz file, a folder of labelled images, or a built-in."""

    builtin: str | None = None
    npz: Path | None = Field(None, description="npz with `inputs`, optional `labels` and `representative`")
    images: Path | None = Field(None, description="folder with one sub-folder of images per label")
    limit: int | None = Field(None, ge=1, description="use only the first N evaluation samples")
    scale: Literal["unit", "symmetric", "none"] = Field(
        "unit", description="image pixels to [0,1] (unit), [-1,1] (symmetric) or raw 0-255 (none)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        given = [k for k in ("builtin", "npz", "images") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `builtin`, `npz` or `images`")
        if self.builtin is not None and self.builtin not in BUILTIN_DATASETS:
            raise ValueError(f"unknown builtin {self.builtin!r} (allowed: {', '.join(BUILTIN_DATASETS)})")
        return self


class ModelAccuracySpec(_Strict):
    """Which output the labels score, for a model whose data has labels."""

    output: str | None = Field(None, description="output name the labels are class indices of (default: the first)")
    top_k: int | None = Field(None, ge=1, description="overrides the suite's accuracy.top_k for this model")


class ModelSpec(_Strict):
    """A model to optimize: a file or directory path, or a built-in model, with its own data if it
    has any (else the suite's dataset, else synthetic inputs)."""

    name: Name
    path: Path | None = Field(None, description=".keras file, SavedModel dir, .tflite, .mlpackage, a torch.export "
                              "ExportedProgram saved as .pt2, or an ExecuTorch .pte")
    builtin: str | None = Field(None, description=f"one of {', '.join(BUILTIN_MODELS)}")
    module: str | None = Field(None, description="a PyTorch model as `package.module:factory`: a callable that returns "
                               "(nn.Module in eval mode, example inputs as a tuple or a dict by name)")
    module_root: Path | None = Field(None, description="the folder `module` is imported from (default: the suite "
                                     "file's folder)")
    dataset: DatasetSpec | None = Field(None, description="this model's evaluation data (default: the suite's)")
    accuracy: ModelAccuracySpec = Field(default_factory=ModelAccuracySpec)
    input_shapes: dict[str, tuple[Annotated[int, Field(ge=1)], ...]] = Field(
        default_factory=dict, description="per-sample shape of a dynamic input, for synthetic data")
    from_folder: bool = Field(False, description="set for each model a `folder:` entry names: its input_shapes "
                                                 "serve the folder's models that have those inputs")

    @field_validator("input_shapes")
    @classmethod
    def _bounded_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        # Synthetic inputs are generated at this shape: `[1000000, 1000000]` would take terabytes.
        for name, shape in shapes.items():
            if math.prod(shape) > MAX_SAMPLE_VALUES:
                raise ValueError(f"{name!r}: {list(shape)} holds {math.prod(shape):,} values per sample, more than "
                                 f"{MAX_SAMPLE_VALUES:,} (a 4K RGB image)")
        return shapes

    @field_validator("module")
    @classmethod
    def _module_reference(cls, module: str | None) -> str | None:
        if module is not None and not MODULE_REFERENCE.fullmatch(module):
            raise ValueError(f"{module!r} is not `package.module:factory` (a dotted module name, a colon, a "
                             "function name)")
        return module

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if sum(source is not None for source in (self.path, self.builtin, self.module)) != 1:
            raise ValueError("give exactly one of `path`, `builtin` or `module`")
        if self.builtin is not None and self.builtin not in BUILTIN_MODELS:
            raise ValueError(f"unknown builtin {self.builtin!r} (allowed: {', '.join(BUILTIN_MODELS)})")
        if self.module_root is not None and self.module is None:
            raise ValueError("module_root: only a `module:` model is imported from a folder")
        return self

    @property
    def kind(self) -> str:
        """Return the source kind: builtin, keras, savedmodel, torch (a `module:` factory or a .pt2), hf (a
        Hugging Face model directory), or the name of a format (benchlab.formats) the path's suffix names:
        tflite, mlpackage, pte."""
        if self.builtin is not None:
            return "builtin"
        if self.module is not None:
            return TORCH_KIND
        assert self.path is not None
        fmt = format_of(self.path)
        if fmt is not None:
            return fmt.source_kind or fmt.name
        if (self.path / "config.json").is_file():
            return HF_KIND
        if self.path.is_dir():
            return "savedmodel"
        return "keras"


class VariantSpec(_Strict):
    """One recipe with options, or a chain of them; `name` defaults to the recipes' names joined by "+".

    `then` chains another step onto this one, built from the model this step wrote instead of the
    source: a Keras model a recipe trained (prune, cluster, distill), e.g.
    `{recipe: prune, options: {sparsity: 0.5}, then: full-int8}` is the pruned model, quantized; or a
    .tflite a converter wrote, e.g. `{recipe: litert-torch, then: full-int8}` quantizes the converted
    torch model with the .tflite recipes.
    """

    recipe: str
    name: Name | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    then: VariantSpec | None = Field(None, description="the next step, built from the model this step wrote "
                                     "(a trained Keras model, a converted .tflite)")
    _settings: BaseModel = PrivateAttr()
    _default_name: str = PrivateAttr()

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, recipe: str, info: ValidationInfo) -> str:
        recipes = catalogue_of(info)
        if recipe not in recipes:
            raise ValueError(f"unknown recipe {recipe!r} (allowed: {', '.join(recipes)})")
        return recipe

    @field_validator("then", mode="before")
    @classmethod
    def _short_then(cls, value: Any) -> Any:
        # `then: full-int8` is shorthand for `then: {recipe: full-int8}`.
        return {"recipe": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known_options(self, info: ValidationInfo) -> VariantSpec:
        # Validated once, by the recipe's own options model; `options` keeps the plain values
        # (defaults filled in) for run.json and the cache key, `settings` the typed model.
        recipes = catalogue_of(info)
        recipe = recipes[self.recipe]
        try:
            self._settings = recipe.parse_options(self.options)
        except ValueError as exc:
            raise ValueError(f"options: {exc}") from None
        self._default_name = recipe.variant_name(self._settings)
        object.__setattr__(self, "options", self._settings.model_dump())
        if self.then is not None:
            self._check_chain(recipes)
            self._default_name = f"{self._default_name}+{self.then.variant_name}"
        return self

    def _check_chain(self, recipes: RecipeCatalogue) -> None:
        """Raise ValueError when this step cannot hand a model to `then`, or `then` cannot take it."""
        assert self.then is not None
        first, after = recipes[self.recipe], recipes[self.then.recipe]
        if first.CHAINS_AS is None:
            chainable = ", ".join(name for name, r in recipes.items() if r.CHAINS_AS is not None)
            raise ValueError(f"then: recipe {self.recipe} writes a finished model, so nothing can follow it "
                             f"(a chain starts with a recipe that trains a Keras model or converts one to a "
                             f"format other recipes take: {chainable})")
        if self.then.name is not None:
            raise ValueError("then.name: a chain is named once, at its first step")
        if not after.applies_to(first.CHAINS_AS):
            made = (f"the Keras model {self.recipe} trains" if first.CHAINS_AS == "keras"
                    else f"the {first.CHAINS_AS} model {self.recipe} writes")
            raise ValueError(f"then.recipe: {after.NAME} cannot be built from {made}")
        refusal = after.refuses_after(self.recipe)
        if refusal is not None:
            raise ValueError(f"then.recipe: {refusal}")

    @property
    def settings(self) -> BaseModel:
        """Return the recipe's validated options model."""
        return self._settings

    @property
    def variant_name(self) -> str:
        """Return the name the variant is reported under."""
        return self.name or self._default_name

    @property
    def steps(self) -> list[VariantSpec]:
        """Return this step and every step chained after it, in build order."""
        return [self, *(self.then.steps if self.then is not None else [])]


#: The key of pydantic's validation context under which a suite's validators find the platform
#: declarations it is checked against (default: the registered ones).
PLATFORMS_KEY = "platforms"


def platforms_of(info: ValidationInfo) -> Platforms:
    """Return the platform declarations a validation was given, else the registered ones."""
    platforms: Platforms = (info.context or {}).get(PLATFORMS_KEY) or registered_platforms()
    return platforms


class AcceleratorSpec(_Strict):
    """An accelerator setting: kind plus threads / XNNPACK / delegate options, checked against the
    platforms' declarations (benchlab.platforms)."""

    kind: str = "cpu"
    name: Name | None = None
    threads: int | None = Field(None, ge=1, le=64)
    xnnpack: bool | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    _default_name: str = PrivateAttr("")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str, info: ValidationInfo) -> str:
        if (problem := platforms_of(info).kind_problem(kind)) is not None:
            raise ValueError(problem)
        return kind

    @model_validator(mode="after")
    def _known_options(self, info: ValidationInfo) -> AcceleratorSpec:
        platforms = platforms_of(info)
        if (problem := platforms.options_problem(self.kind, self.options)) is not None:
            raise ValueError(problem)
        self._default_name = platforms.setting_name(self.kind, self.threads, self.xnnpack, self.options)
        return self

    def setting(self) -> AcceleratorSetting:
        """Return the plain record the executor and devices use."""
        return AcceleratorSetting(
            name=self.name or self._default_name,
            kind=self.kind,
            threads=self.threads,
            xnnpack=self.xnnpack,
            options=dict(self.options),
        )



#: Most repeats of one job (each one runner process).
MAX_REPEATS = 1000
#: Most warmup runs, iterations or op-profiling runs in one repeat.
MAX_COUNT = 1_000_000
#: Longest timeout, cooldown or measuring time: a day.
MAX_SECONDS = 86_400.0


#: Longest prompt or generation a cell may ask for, and largest KV cache: far beyond phone models' contexts.
MAX_TOKENS = 1_048_576


class LlmSpec(_Strict):
    """The LLM matrix (`scenario.llm`): each prompt length x each generation length is one job of a
    language model (.litertlm, .etlm); a repeat prefills exactly `prefill` tokens, then decodes exactly
    `decode` (greedy where the engine takes a sampler); a run that a stop token ends early fails its
    cell (the counts are checked)."""

    prefill: list[Annotated[int, Field(ge=1, le=MAX_TOKENS)]] = Field(
        [128, 512], min_length=1, description="prompt lengths in tokens (llama-bench's pp)")
    decode: list[Annotated[int, Field(ge=1, le=MAX_TOKENS)]] = Field(
        [128], min_length=1, description="generated tokens per run (llama-bench's tg)")
    kv_cache: int = Field(1024, ge=1, le=MAX_TOKENS, description="KV cache size in tokens; the longest prompt "
                          "plus the longest generation must fit")
    cache: LlmCacheState = Field("warm", description="cold: each repeat starts with an empty engine cache "
                                 "folder; warm: an untimed run fills it first (recorded in each row's flags)")

    @model_validator(mode="after")
    def _fits(self) -> LlmSpec:
        for key in ("prefill", "decode"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ValueError(f"{key}: {sorted(v for v in values if values.count(v) > 1)[0]} is listed twice")
        need = max(self.prefill) + max(self.decode)
        if need > self.kv_cache:
            raise ValueError(f"kv_cache {self.kv_cache} cannot hold the longest cell, {max(self.prefill)} prompt + "
                             f"{max(self.decode)} generated = {need} tokens: raise kv_cache or shorten a length")
        return self

    def scenario(self) -> LlmScenario:
        """Return the plain record."""
        return LlmScenario(prefill=tuple(self.prefill), decode=tuple(self.decode), kv_cache=self.kv_cache,
                           cache=self.cache)


class ScenarioSpec(_Strict):
    """How long to measure: warmup runs, iterations and/or minimum seconds, repeats, cooldown."""

    # Upper bounds far beyond any real use (a nightly of 100 repeats, a soak test of a day) that
    # still keep what a run allocates and waits for bounded: `repeats: 1000000000000` is a typo.
    warmup: int = Field(5, ge=0, le=MAX_COUNT)
    iterations: int = Field(50, ge=1, le=MAX_COUNT)
    min_seconds: float = Field(0.0, ge=0, le=MAX_SECONDS)
    max_seconds: float = Field(60.0, gt=0, le=MAX_SECONDS)
    repeats: int = Field(6, ge=1, le=MAX_REPEATS,
                         description="runner processes per job, run interleaved; the unit of every statistic")
    cooldown_seconds: float = Field(0.0, ge=0, le=MAX_SECONDS)
    timeout_seconds: float = Field(300.0, gt=0, le=MAX_SECONDS)
    op_profile_runs: int = Field(5, ge=0, le=MAX_COUNT, description="iterations of the op-profiling pass (Android) run once per job "
                                 "after its first timed repeat, to record where each op ran (0: no pass)")
    require_full_delegation: bool = Field(False, description="a GPU / NPU job whose delegate leaves any op to "
                                          "the CPU fails (cause 'model'), naming the ops that fell back (enforced on Android phones)")
    llm: LlmSpec = Field(default_factory=LlmSpec, description="the prompt x generation matrix of a language "
                         "model (.litertlm); other models ignore it")
    sustained_minutes: float | None = Field(
        None, gt=0, le=MAX_SECONDS / 60, description="after the repeats, run each job this many minutes without a "
        "pause and record its latency and the device's thermal state in windows (sustained mode; 10 is the usual "
        "figure, 0.5 a quick try): the report draws the curve and states the throughput kept at the end")
    energy: bool = Field(False, description="measure energy per inference where the device can: mJ per inference "
                         "from an Android phone's power rails (ODPM), its idle power subtracted; elsewhere (phones "
                         "without rails, iPhones, this machine) the run says once that energy is not available")

    #: The platforms whose run-mode choices (benchlab.platforms.ModeChoice) are fields of this model:
    #: none here; `suite_model` adds one field per platform that declares one (`android_mode`).
    platforms: ClassVar[Platforms] = Platforms(())

    def scenario(self) -> Scenario:
        """Return the plain record the devices use; each platform's mode choice becomes the run modes
        (the names its devices' capabilities declare) each job is measured in."""
        chosen = {choice.field: getattr(self, choice.field) for choice in self.platforms.mode_choices()}
        return Scenario(**{**self.model_dump(exclude={"llm", *chosen}), "llm": self.llm.scenario(),
                           "run_modes": self.platforms.run_modes(chosen)})


#: The lowest worst-output cosine similarity to the reference that keeps a variant within the budget
#: when there are neither labels nor class scores (synthetic inputs; a mask, an embedding, a box).
#: A float16 variant scores about 0.99999 and a sound int8 one 0.999 or more (the production-shaped
#: test models: 0.9997 to 0.99999; real CNNs: 0.99 to 0.999); a broken one (bad calibration,
#: saturated activations) falls well below 0.99. Cosine 0.99 leaves an error of about 14% of the
#: output's norm (|a - b|^2 = 2 - 2 cos for unit vectors), an SNR of about 17 dB.
MIN_COSINE = 0.99


class AccuracySpec(_Strict):
    """Accuracy metric and how much of it an optimized variant may lose.

    Judged on labels where the data has them, else on top-1 agreement with the reference where the
    scored output is class scores, else on the worst output's cosine similarity (benchlab.decide.pick).
    """

    top_k: int = Field(1, ge=1)
    budget_points: float = Field(1.0, ge=0, description="max top-k drop vs fp32, in percentage points; without "
                                 "labels, the top-1 agreement with fp32 must be at least 100 minus this")
    min_cosine: float = Field(MIN_COSINE, ge=-1, le=1, description="without labels or class scores, the lowest "
                              "cosine similarity of any output to fp32's on the same inputs")
    absolute_gate: bool = Field(False, description="compare fails every variant outside the budget, also one that "
                                "was outside it in the baseline too (default: only a variant that newly left it)")


def _regression_spec() -> type[_Strict]:
    """Return the RegressionSpec model: one threshold field per registered metric that has one, then the test's
    significance level and fewest repeats.

    A new metric's threshold (benchlab.metrics.base.Threshold) becomes a suite field here without
    this module changing.
    """
    thresholds: dict[str, Any] = {
        metric.threshold.field: (float, Field(metric.threshold.default, ge=0, description=metric.threshold.description))
        for metric in registered_metrics() if metric.threshold is not None
    }
    test = {
        "alpha": (float, Field(0.05, gt=0, lt=1, description="significance level of the two-sided Mann-Whitney U test")),
        "min_repeats": (int, Field(5, ge=2, description="fewer repeats on a side: 'not significant (too few repeats)'")),
    }
    return create_model(  # type: ignore[call-overload, no-any-return]
        "RegressionSpec", __base__=_Strict, __module__=__name__, **thresholds, **test,
        __doc__="""When `benchlab compare` and `benchlab run --baseline` call a change a regression (benchlab.nightly.compare).

    A change of a metric compared at the repeat level (latency, init, first inference) counts only
    when significant (Mann-Whitney p < alpha and the 95% CI of the change excludes zero) and beyond
    its threshold; size, peak memory and accuracy are compared with their thresholds directly. The
    threshold fields come from the metric registry (benchlab.metrics), their defaults too.
    """)


RegressionSpec = _regression_spec()


class DeliverySpec(_Strict):
    """What the app weighs without the model, for the report's delivery check (benchlab.decide.delivery)."""

    app_base_mb: float = Field(0.0, ge=0, description="the app's compressed download size without the model, in MB "
                               "(10^6 bytes): counted with a bundled model against the stores' install limits")


class Suite(_Strict):
    """A whole benchmark suite as loaded from YAML (paths resolved against the file's folder)."""

    name: Name
    models: list[ModelSpec] = Field(min_length=1)
    dataset: DatasetSpec | None = Field(None, description="evaluation data for models without their own; "
                                        "none: seeded synthetic inputs (fidelity only)")
    variants: list[VariantSpec] = Field(min_length=1)
    targets: list[str] = Field(default_factory=lambda: ["host"], min_length=1)
    accelerators: list[AcceleratorSpec] = Field(default_factory=lambda: [AcceleratorSpec()], min_length=1)
    scenario: ScenarioSpec = Field(default_factory=ScenarioSpec)
    accuracy: AccuracySpec = Field(default_factory=AccuracySpec)
    regression: RegressionSpec = Field(default_factory=RegressionSpec)  # type: ignore[valid-type]
    delivery: DeliverySpec = Field(default_factory=DeliverySpec)
    _file: Path | None = PrivateAttr(None)

    @field_validator("variants", mode="before")
    @classmethod
    def _short_variants(cls, value: Any) -> Any:
        # `- fp16` is shorthand for `- recipe: fp16`.
        if isinstance(value, list):
            return [{"recipe": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, targets: list[str]) -> list[str]:
        for target in targets:
            validate_selector(target)
        return targets

    @model_validator(mode="after")
    def _unique_names(self) -> Suite:
        for what, names in (
            ("models", [m.name for m in self.models]),
            ("variants", [v.variant_name for v in self.variants]),
            ("accelerators", [a.setting().name for a in self.accelerators]),
        ):
            duplicated = sorted({n for n in names if names.count(n) > 1})
            if duplicated:
                raise ValueError(f"{what}: name {duplicated[0]!r} is used twice; give each a `name`")
            # Distinct names can still share a file name ("a/b", "a_b"): their files would overwrite.
            files = [file_name(n) for n in names]
            clashing = sorted({n for n, f in zip(names, files) if files.count(f) > 1})
            if clashing:
                raise ValueError(f"{what}: names {', '.join(map(repr, clashing))} would share the file name "
                                 f"{file_name(clashing[0])!r}; rename one")
        return self

    @field_validator("accelerators")
    @classmethod
    def _run_mode_suffix_reserved(cls, accelerators: list[AcceleratorSpec], info: ValidationInfo
                                  ) -> list[AcceleratorSpec]:
        # A job measured in a run mode other than a device's default is named NAME@MODE
        # (records.run_mode_setting); a setting named so itself would share its job ids, or pass
        # for the other mode's twin of another setting. Default modes keep their plain names.
        for platform, mode in platforms_of(info).other_modes():
            suffix = run_mode_setting("", mode)
            for i, accelerator in enumerate(accelerators):
                name = accelerator.setting().name
                if name.endswith(suffix):
                    raise ValueError(f"[{i}].name {name!r} ends with {suffix!r}, which names the rows "
                                     f"{platform} measures in run mode {mode!r}; rename it")
        return accelerators

    def where(self, field: str) -> str:
        """Return "SUITE_FILE: field" for error messages (just the field for a suite not read from a file)."""
        return f"{self._file}: {field}" if self._file is not None else field

    def variants_for(self, model: ModelSpec, recipes: RecipeCatalogue) -> list[VariantSpec]:
        """Return the variants whose (first) recipe can be built from `model`, in suite order: a suite
        mixing a Keras model and a .tflite builds `fp32` for one and `tflite` for the other."""
        return [variant for variant in self.variants if recipes[variant.recipe].applies_to(model.kind)]

    def model_dataset(self, model: ModelSpec) -> DatasetSpec | None:
        """Return the data a model is evaluated on: its own, else the suite's; None for synthetic inputs."""
        return model.dataset if model.dataset is not None else self.dataset

    def accelerator_settings(self) -> list[AcceleratorSetting]:
        """Return the accelerator settings as plain records."""
        return [a.setting() for a in self.accelerators]


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _check_model_file(path: Path, kind: str) -> str | None:
    """Return what is wrong with a model path for its kind (decided by suffix / directory), or None."""
    fmt = format_of(path)
    one_file = kind == "keras" or (fmt is not None and not fmt.is_directory)
    if one_file and (problem := file_problem(path)) is not None:
        return f"{problem}; a {path.suffix or 'model'} model is a regular file"
    if fmt is not None:
        return fmt.check_contents(path)
    if kind == HF_KIND:
        if not any((path / name).is_file() for name in HF_TOKENIZERS):
            return f"is a Hugging Face model directory without a tokenizer ({' or '.join(HF_TOKENIZERS)})"
        return None
    if kind == "savedmodel":
        if not any((path / name).is_file() for name in ("saved_model.pb", "saved_model.pbtxt")):
            return "is a directory but not a SavedModel (no saved_model.pb)"
    elif path.suffix not in KERAS_SIGNATURES:
        return (f"unknown model file type {path.suffix or '(no suffix)'!r} "
                f"(allowed: .keras, .h5, a SavedModel directory, {', '.join(f.suffix for f in registered_formats())})")
    else:
        with open(path, "rb") as handle:
            if not handle.read(8).startswith(KERAS_SIGNATURES[path.suffix]):
                archive = "a zip archive" if path.suffix == ".keras" else "an HDF5 file"
                return f"is not a Keras model file (a {path.suffix} file is {archive})"
    return None


def _check_dataset(suite: Suite, spec: DatasetSpec | None, field: str) -> None:
    """Check that a dataset's paths exist and are what they claim."""
    if spec is None:
        return
    for key in ("npz", "images"):
        path = getattr(spec, key)
        if path is not None and not path.exists():
            raise SuiteError(suite.where(f"{field}.{key}: {path} does not exist"))
    if spec.images is not None and not spec.images.is_dir():
        raise SuiteError(suite.where(f"{field}.images: {spec.images} is not a folder"))
    if spec.npz is not None and (problem := file_problem(spec.npz)) is not None:  # a FIFO would block the read
        raise SuiteError(suite.where(f"{field}.npz: {spec.npz} {problem}; an npz is a regular file"))


def _check_files(suite: Suite, recipes: RecipeCatalogue) -> None:
    """Check that model and dataset paths exist and are what they claim, and that recipes fit them.

    A suite may mix kinds of model (a Keras model and a .tflite): each model gets the variants whose
    recipe can be built from it. A recipe that fits none of the models, or a model that no recipe
    fits, is refused.
    """
    _check_dataset(suite, suite.dataset, "dataset")
    for j, variant in enumerate(suite.variants):
        recipe = recipes[variant.recipe]
        if not any(recipe.applies_to(model.kind) for model in suite.models):
            kinds = dict.fromkeys(model.kind for model in suite.models)
            models = ", ".join(f"{model.name!r} ({model.kind})" for model in suite.models)
            fitting = "; ".join(f"recipes for {kind}: {_fitting(recipes, kind)}" for kind in kinds)
            raise SuiteError(suite.where(f"variants[{j}].recipe: {recipe.NAME} cannot be built from "
                                         f"{'model' if len(suite.models) == 1 else 'any of the models'} {models} "
                                         f"({fitting})"))
    for i, model in enumerate(suite.models):
        _check_dataset(suite, model.dataset, f"models[{i}].dataset")
        if model.path is not None:
            problem = "does not exist" if not model.path.exists() else _check_model_file(model.path, model.kind)
            if problem is not None:
                raise SuiteError(suite.where(f"models[{i}].path: {model.path} {problem}"))
        if not suite.variants_for(model, recipes):
            raise SuiteError(suite.where(
                f"models[{i}]: no variant of the suite can be built from model {model.name!r} ({model.kind}) "
                f"(recipes for {model.kind}: {_fitting(recipes, model.kind)})"
            ))
        data = suite.model_dataset(model)
        if model.input_shapes and data is not None:
            raise SuiteError(suite.where(f"models[{i}].input_shapes: only synthetic inputs use it, and model "
                                         f"{model.name!r} has a dataset (its arrays give the shapes)"))
        supplied = supplied_data(data)
        for j, variant in enumerate(suite.variants):
            if variant not in suite.variants_for(model, recipes):
                continue
            missing = sorted(frozenset().union(*(recipes[step.recipe].NEEDS for step in variant.steps)) - supplied)
            what = variant.recipe if variant.then is None else f"the chain {variant.variant_name}"
            if "training-data" in missing:
                raise SuiteError(suite.where(
                    f"variants[{j}].recipe: {what} needs training data for model {model.name!r}: "
                    f"{describe_training_split(data)}"
                ))
            if missing:
                raise SuiteError(suite.where(f"variants[{j}].recipe: {what} needs {missing[0]}, "
                                             f"which the data of model {model.name!r} does not supply"))


def _fitting(recipes: RecipeCatalogue, kind: str) -> str:
    """Return the names of the recipes that can be built from a model of `kind`, comma-separated."""
    return ", ".join(name for name, recipe in recipes.items() if recipe.applies_to(kind))


#: What a `models: - folder: DIR` entry picks up, in name order: one model per file (or SavedModel).
FOLDER_MODEL_SUFFIXES = (*(f.suffix for f in registered_formats()), ".keras", ".h5")


def _folder_models(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Expand `{folder: DIR, ...}` into one model entry per model file in DIR, named by its stem.

    The entry's other fields (a dataset, input shapes) apply to each model: an input shape to the
    models that have that input (`from_folder`). Raises SuiteError
    for a folder that does not exist or holds no model.
    """
    if not isinstance(entry["folder"], str):
        raise SuiteError(f"models: folder must be a path, got {entry['folder']!r}")
    folder = Path(entry["folder"])
    if not folder.is_dir():
        raise SuiteError(f"models: folder {folder} does not exist or is not a folder")
    found = sorted(p for p in folder.iterdir() if p.suffix in FOLDER_MODEL_SUFFIXES
                   or (p.is_dir() and (p / "saved_model.pb").is_file()))
    if not found:
        raise SuiteError(f"models: folder {folder} holds no model ({', '.join(FOLDER_MODEL_SUFFIXES)} "
                         "or SavedModel directory)")
    rest = {k: v for k, v in entry.items() if k != "folder"}
    return [{**rest, "name": path.stem, "path": str(path), "from_folder": True} for path in found]


def _resolve_paths(raw: dict[str, Any], base: Path, recipes: RecipeCatalogue) -> dict[str, Any]:
    """Make relative model, dataset and recipe-option paths (PATH_OPTIONS) relative to the suite file's
    folder; expand model folders."""
    def resolve(value: Any) -> Any:
        # Absolute but not resolved: a model's kind comes from the name the user wrote, and a
        # symlink to a blob without a suffix (a Hugging Face cache's snapshots/) keeps it.
        if not isinstance(value, str):
            return value
        if "\0" in value:
            raise SuiteError(f"path {value!r} holds a NUL character")
        return os.path.abspath(base / value)

    def resolve_options(variant: Any) -> None:
        # Through a chain's steps; an unknown recipe or malformed step is left for validation to name.
        while isinstance(variant, dict):
            name, options = variant.get("recipe"), variant.get("options")
            recipe = recipes.get(name) if isinstance(name, str) else None
            if recipe is not None and isinstance(options, dict):
                for key in recipe.PATH_OPTIONS:
                    if key in options:
                        options[key] = resolve(options[key])
            variant = variant.get("then")

    def resolve_dataset(dataset: Any) -> None:
        if isinstance(dataset, dict):
            for key in ("npz", "images"):
                if key in dataset:
                    dataset[key] = resolve(dataset[key])

    models = raw.get("models")
    if isinstance(models, list):
        expanded: list[Any] = []
        for model in models:
            if isinstance(model, dict):
                for key in ("path", "folder", "module_root"):
                    if key in model:
                        model[key] = resolve(model[key])
                if "module" in model and "module_root" not in model:
                    model["module_root"] = os.path.abspath(base)
                resolve_dataset(model.get("dataset"))
            expanded.extend(_folder_models(model) if isinstance(model, dict) and "folder" in model else [model])
        raw["models"] = expanded
    resolve_dataset(raw.get("dataset"))
    if isinstance(raw.get("variants"), list):
        for variant in raw["variants"]:
            resolve_options(variant)
    return raw


@cache
def suite_model(platforms: Platforms) -> type[Suite]:
    """Return the Suite schema for these platform declarations: its scenario has one field per
    platform's run-mode choice (`scenario.android_mode: shell | app | both`), named, valued and
    described by the declaration, its first value the default.

    Raises ValueError for a declared field the scenario already has (`repeats`): the user's value
    would be taken as a choice of run modes.
    """
    if taken := sorted({c.field for c in platforms.mode_choices()} & set(ScenarioSpec.model_fields)):
        raise ValueError(f"a platform's run-mode choice {taken[0]!r} is already a scenario field")
    choices: dict[str, Any] = {
        choice.field: (Literal[tuple(value for value, _ in choice.values)],  # type: ignore[valid-type]
                       Field(choice.values[0][0], description=choice.description))
        for choice in platforms.mode_choices()
    }
    scenario = create_model("ScenarioSpec", __base__=ScenarioSpec, __module__=__name__, **choices)
    scenario.platforms = platforms
    model: type[Suite] = create_model("Suite", __base__=Suite, __module__=__name__,
                                      scenario=(scenario, Field(default_factory=scenario)))
    return model


def suite_from_data(data: Any, recipes: RecipeCatalogue, source: Path | str = "suite",
                    platforms: Platforms | None = None) -> Suite:
    """Return a suite validated from plain data (a run's stored suite) against `recipes` and the
    platform declarations (default: the registered ones, benchlab.platforms).

    Paths are taken as they are and files are not checked. Raises SuiteError naming `source` and
    the field.
    """
    if not isinstance(data, dict):
        raise SuiteError(f"{source}: a suite must be a mapping with name, models, dataset, variants")
    platforms = platforms if platforms is not None else registered_platforms()
    try:
        return suite_model(platforms).model_validate(data, context={CONTEXT_KEY: recipes, PLATFORMS_KEY: platforms})
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SuiteError(f"{source}: {_location(error['loc'])}: {message}") from None


def parse_suite(raw: Any, source: Path, recipes: RecipeCatalogue, platforms: Platforms | None = None) -> Suite:
    """Validate an already-parsed YAML document against `recipes` and the platform declarations
    (default: the registered ones); raise SuiteError naming file and field."""
    try:
        resolved = _resolve_paths(raw, source.parent, recipes) if isinstance(raw, dict) else raw
    except SuiteError as exc:  # a model folder that does not exist or holds no model
        raise SuiteError(f"{source}: {exc}") from None
    suite = suite_from_data(resolved, recipes, source, platforms)
    suite._file = source
    _check_files(suite, recipes)
    return suite


def load_suite(path: Path | str, recipes: RecipeCatalogue) -> Suite:
    """Load and validate a suite file; its recipes are checked against `recipes` (name -> recipe).

    Raises SuiteError (exit code 2) naming the file, the field and the allowed values.
    """
    source = Path(path)
    return parse_suite(read_yaml(source), source, recipes)
