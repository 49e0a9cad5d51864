"""Core ML recipes with coremltools: ML program fp32/fp16, int8 linear weights, palettized, pruned.

Compression is applied to the fp16 ML program (the form Apple recommends shipping) with
coremltools' post-training weight compression. Default weight thresholds are kept on purpose:
coremltools leaves tiny tensors (< 2048 elements) uncompressed because their lookup tables would
cost more than they save, which is what an app team shipping the model would get too.

A SavedModel is converted through its `serving_default` signature (a concrete function, the form
coremltools takes for TensorFlow 2), and its outputs are renamed to the signature's output names so
they line up with the LiteRT variants' outputs. A SavedModel coremltools cannot take that way is
refused before anything is built (`check`), naming the model and the reason.

A torch model is converted from its ExportedProgram (torch.export), first lowered to core ATen ops
with no op decomposed further (`run_decompositions({})`, the form coremltools documents); when
coremltools lacks one of those ops (a transformer's `new_ones`), the default decomposition table
breaks them into ops it has. The notes say which form was converted. Inputs and outputs are named as
the eager reference names them; Core ML has no int64 arrays, so int64 inputs take int32 (the notes say so).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from benchlab.errors import SuiteError, first_line
from benchlab.optimize.recipes.base import KERAS_SOURCES, Options, Recipe
from benchlab.optimize.recipes.training import PRUNED_BY
from benchlab.torch_io import output_name

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel


#: The share of zeros from which a pruned model's weight tensor is stored sparse in Core ML.
SPARSE_FROM = 0.3


class LinearOptions(Options):
    """int8 linear weight quantization."""

    mode: Literal["linear_symmetric", "linear"] = Field("linear_symmetric", description="zero point at 0, or fitted")


class PalettizeOptions(Options):
    """k-means palettization."""

    bits: Literal[1, 2, 3, 4, 6, 8] = Field(4, description="bits per weight index into the palette")


class PruneOptions(Options):
    """Magnitude pruning."""

    sparsity: float = Field(0.5, gt=0.0, lt=1.0, description="fraction of weights set to zero")


class CoreMLRecipe(Recipe):
    """A Core ML ML program converted with coremltools, optionally weight-compressed by a subclass."""

    FORMAT = "mlpackage"
    SOURCES = KERAS_SOURCES | {"torch"}
    TOOL = "coremltools"
    #: coremltools reads a torch model's program after torch decomposes it, a Keras model through TensorFlow.
    SOURCE_TOOLS = {"torch": ("torch",), **dict.fromkeys(KERAS_SOURCES, ("tensorflow",))}
    #: ct.precision member name the program is converted with.
    PRECISION = "FLOAT16"
    #: Store a model pruned earlier in a chain with its zeros sparse. Only the uncompressed programs:
    #: sparse weights inside int8 or palettized ones (joint compression) need an iOS 18 target.
    SPARSE_AFTER_PRUNING: ClassVar[bool] = False

    def check(self, source: SourceModel) -> None:
        """Raise SuiteError when `source` is a SavedModel coremltools cannot take through its serving signature."""
        if source.kind == "savedmodel":
            try:
                _signature_inputs(_serving_function(str(source.path)))
            except ValueError as exc:
                raise SuiteError(f"model {source.name!r} ({source.path}): recipe {self.NAME} cannot convert it: "
                                 f"{exc}") from None

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str | None:
        """Convert `source` to an .mlpackage at `out_path`; return notes on how a torch model was lowered and
        when a pruned model's zeros were stored sparse. Raises what coremltools raises."""
        logging.getLogger("coremltools").setLevel(logging.ERROR)  # version-compat chatter per call
        os.environ.setdefault("TQDM_DISABLE", "1")  # its per-pass progress bars would tear our own
        import coremltools as ct
        import coremltools.optimize.coreml as cto

        settings = {"convert_to": "mlprogram", "compute_precision": getattr(ct.precision, self.PRECISION),
                    "minimum_deployment_target": ct.target.iOS16}
        notes = []
        if source.kind == "torch":
            model, how = _from_torch(ct, source.torch_program, settings)
            notes.append(how)
        elif source.kind == "savedmodel":
            function = _serving_function(str(source.path))
            inputs = [ct.TensorType(name=name, shape=ct.Shape(tuple(ct.RangeDim() if d is None else d for d in shape)))
                      for name, shape in _signature_inputs(function).items()]
            model = _signature_output_names(ct, ct.convert([function], source="tensorflow", inputs=inputs, **settings),
                                            function)
        else:
            inputs = [ct.TensorType(name=name, shape=(1, *values.shape[1:])) for name, values in source.dataset.inputs.items()]
            model = ct.convert(source.keras_model, inputs=inputs, **settings)
        model = self.compress(model, cto, options)
        if self.SPARSE_AFTER_PRUNING and PRUNED_BY in source.made_by:
            # The zeros pruning left, kept as they are (threshold 0) but stored sparse, as coreml-prune
            # stores its own; a weight tensor less than a third zero stays dense.
            config = cto.OpThresholdPrunerConfig(threshold=1e-12, minimum_sparsity_percentile=SPARSE_FROM)
            model = cto.prune_weights(model, cto.OptimizationConfig(global_config=config))
            notes.append(f"zeros of weight tensors at least {SPARSE_FROM:.0%} zero stored sparse")
        model.save(str(out_path))
        return "; ".join(notes) or None

    def compress(self, model: Any, cto: Any, options: Options) -> Any:
        """Return the program with its weights compressed; the plain conversions return it unchanged."""
        return model


class CoreMLFp32(CoreMLRecipe):
    NAME = "coreml-fp32"
    DESCRIPTION = "Core ML ML program, float32"
    QUANTIZES_WEIGHTS = False
    PRECISION = "FLOAT32"
    SPARSE_AFTER_PRUNING = True


class CoreMLFp16(CoreMLRecipe):
    NAME = "coreml-fp16"
    DESCRIPTION = "Core ML ML program, float16"
    QUANTIZES_WEIGHTS = True
    SPARSE_AFTER_PRUNING = True


class CoreMLInt8(CoreMLRecipe):
    NAME = "coreml-int8"
    DESCRIPTION = "Core ML fp16 program with int8 linear (symmetric) weights"
    OPTIONS = LinearOptions
    QUANTIZES_WEIGHTS = True

    def compress(self, model: Any, cto: Any, options: Options) -> Any:
        assert isinstance(options, LinearOptions)
        config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode=options.mode))
        return cto.linear_quantize_weights(model, config)


class CoreMLPalettize(CoreMLRecipe):
    NAME = "coreml-palettize"
    DESCRIPTION = "Core ML fp16 program with k-means palettized weights"
    OPTIONS = PalettizeOptions
    QUANTIZES_WEIGHTS = True

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, PalettizeOptions)
        return f"{self.NAME}-{options.bits}bit"

    def compress(self, model: Any, cto: Any, options: Options) -> Any:
        assert isinstance(options, PalettizeOptions)
        config = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(mode="kmeans", nbits=options.bits))
        return cto.palettize_weights(model, config)


class CoreMLPrune(CoreMLRecipe):
    NAME = "coreml-prune"
    DESCRIPTION = "Core ML fp16 program with magnitude-pruned (sparse) weights"
    OPTIONS = PruneOptions
    QUANTIZES_WEIGHTS = True  # pruned on the fp16 program: the kept weights are 16-bit

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, PruneOptions)
        return f"{self.NAME}-{round(options.sparsity * 100)}"

    def compress(self, model: Any, cto: Any, options: Options) -> Any:
        assert isinstance(options, PruneOptions)
        config = cto.OptimizationConfig(global_config=cto.OpMagnitudePrunerConfig(target_sparsity=options.sparsity))
        return cto.prune_weights(model, config)


def _from_torch(ct: Any, program: Any, settings: dict[str, Any]) -> tuple[Any, str]:
    """Return the ML program converted from a TorchProgram's ExportedProgram, inputs and outputs named as
    the reference names them, and a note saying which decompositions it was converted after (and which
    int64 inputs take int32). Raises ValueError naming both failures when neither form converts."""
    try:
        model = ct.convert(program.exported.run_decompositions({}), **settings)
        how = "converted after run_decompositions({})"
    except Exception as core:  # noqa: BLE001 - coremltools raises many kinds for an op it lacks
        try:
            model = ct.convert(program.exported.run_decompositions(), **settings)
        except Exception as default:  # noqa: BLE001 - as above
            raise ValueError(f"coremltools converts neither run_decompositions({{}}) ({type(core).__name__}: "
                             f"{first_line(core, 120)}) nor the default decomposition table "
                             f"({type(default).__name__}: {first_line(default, 120)})") from default
        how = (f"run_decompositions({{}}) failed ({type(core).__name__}: {first_line(core, 120)}); converted after "
               "the default decompositions")
    model = _torch_names(ct, model, program)
    int32 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.INT32
    wide = {tensor.name for tensor in program.inputs if tensor.dtype == "int64"}
    narrowed = [feature.name for feature in model.get_spec().description.input
                if feature.name in wide and feature.type.multiArrayType.dataType == int32]
    if narrowed:
        how += f"; int64 inputs {', '.join(narrowed)} take int32 (Core ML has no int64)"
    return model, how


def _torch_names(ct: Any, model: Any, program: Any) -> Any:
    """Return the program with its inputs named as the torch model's (in order) and its outputs as the eager
    reference names them, `output_N` (coremltools names outputs after the graph's last ops, e.g. "div")."""
    spec = model.get_spec()
    wanted = [*zip(spec.description.input, program.input_names),
              *((output, output_name(i)) for i, output in enumerate(spec.description.output))]
    renamed = False
    for feature, name in wanted:
        if feature.name != name:
            ct.utils.rename_feature(spec, feature.name, name)
            renamed = True
    return ct.models.MLModel(spec, weights_dir=model.weights_dir) if renamed else model


def _serving_function(saved_model: str) -> Any:
    """Return a SavedModel's `serving_default` concrete function (loaded once for all Core ML recipes).

    Raises ValueError when it will not load or has no such signature.
    """
    return _load_serving(saved_model)[1]


@lru_cache(maxsize=4)
def _load_serving(saved_model: str) -> tuple[Any, Any]:
    """Return the loaded SavedModel (which owns the function's variables) and its serving function."""
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(saved_model)
    except Exception as exc:  # noqa: BLE001 - TensorFlow raises many kinds on a damaged SavedModel
        raise ValueError(f"it does not load as a SavedModel ({first_line(exc)})") from None
    if "serving_default" not in loaded.signatures:
        found = ", ".join(loaded.signatures) or "none"
        raise ValueError(f"it has no serving_default signature (signatures: {found})")
    return loaded, loaded.signatures["serving_default"]


def _signature_inputs(function: Any) -> dict[str, tuple[int | None, ...]]:
    """Return the signature's inputs by name with their shapes, batch dimension fixed at 1.

    Raises ValueError for an input of unknown rank.
    """
    shapes: dict[str, tuple[int | None, ...]] = {}
    for name, spec in function.structured_input_signature[1].items():
        if spec.shape.rank is None:
            raise ValueError(f"input {name!r} has an unknown rank (coremltools needs a shape for every input)")
        shapes[name] = (1, *spec.shape.as_list()[1:]) if spec.shape.rank else ()
    return shapes


def _signature_output_names(ct: Any, model: Any, function: Any) -> Any:
    """Return the converted program with its outputs named as the signature's (coremltools names them Identity_N)."""
    import tensorflow as tf

    # The concrete function's outputs are the signature's outputs flattened (dict keys in sorted order).
    names = dict(zip((t.name.split(":")[0] for t in function.outputs),
                     tf.nest.flatten({key: key for key in function.structured_outputs})))
    spec = model.get_spec()
    for output in list(spec.description.output):
        if names.get(output.name, output.name) != output.name:
            ct.utils.rename_feature(spec, output.name, names[output.name])
    return ct.models.MLModel(spec, weights_dir=model.weights_dir)
