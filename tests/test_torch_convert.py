"""LiteRT and Core ML variants of PyTorch models: litert-torch (and the .tflite recipes chained after it) and
coremltools from torch.export, on the example CNN and tiny BERT, each converted once for the module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from benchlab.optimize.build import build_variants
from benchlab.optimize.flatbuffer import constant_types
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.datasets import load_model_datasets
from benchlab.plan.suite import load_suite
from benchlab.records import Variant
from benchlab.tensors import describe_tflite
from benchlab.torch_invoke import open_pt2

REPO = Path(__file__).resolve().parents[1]
SAMPLES = 6


def sentences(count: int, tokens: int, vocabulary: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Token ids from the whole vocabulary and masks whose tails are padding of different lengths, as a tokenizer
    gives a batch of sentences (benchlab's synthetic ids are 0 and 1 only)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocabulary, (count, tokens), dtype=np.int64)
    mask = (np.arange(tokens)[None, :] < rng.integers(tokens // 4, tokens + 1, (count, 1))).astype(np.int64)
    return {"input_ids": ids * mask, "attention_mask": mask}  # padding tokens are id 0, as BERT's tokenizer pads


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Variant]:
    """The example CNN (synthetic images) and tiny BERT (sentences of several lengths) through litert-torch, a
    litert-torch chain into full-int8 and Core ML int8 (the fp16 program, compressed), built once."""
    folder = tmp_path_factory.mktemp("torch-convert")
    np.savez(folder / "sentences.npz", **sentences(SAMPLES, 32, 1000))
    suite = folder / "suite.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "torch-convert",
        "models": [{"name": "cnn", "module": "examples.torch_models:small_cnn", "module_root": str(REPO)},
                   {"name": "bert", "module": "examples.torch_models:tiny_bert", "module_root": str(REPO),
                    "dataset": {"npz": "sentences.npz"}}],
        "variants": ["torch", "litert-torch", {"recipe": "litert-torch", "then": "full-int8"}, "coreml-int8",
                     {"recipe": "litert-torch", "options": {"keep_int64": True}}],
    }))
    loaded = load_suite(suite, RECIPES)
    return {(v.model, v.name): v for v in build_variants(loaded, load_model_datasets(loaded))}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _worst_cosine(tflite: Variant, reference: Variant, data: dict[str, np.ndarray]) -> float:
    """The lowest per-sample cosine between the .tflite's output and eager torch's, on the same samples."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=tflite.path).get_signature_runner()
    io, eager = open_pt2(reference.path, 1)
    details = runner.get_input_details()
    cosines = []
    for i in range(len(next(iter(data.values())))):
        sample = {name: values[i:i + 1] for name, values in data.items()}
        got = runner(**{name: sample[name].astype(details[name]["dtype"]) for name in details})["output_0"]
        cosines.append(_cosine(got, eager([sample[t.name] for t in io.inputs])[0]))
    return min(cosines)


def test_every_variant_of_both_models_is_built_and_proven(built: dict[tuple[str, str], Variant]) -> None:
    assert {key: v.error for key, v in built.items() if v.status not in ("built", "cached")} == {}
    assert {(model, v.format) for (model, _), v in built.items()} == {
        (model, fmt) for model in ("cnn", "bert") for fmt in ("pt2", "tflite", "mlpackage")}


def test_litert_torch_names_inputs_as_the_torch_model_and_says_which_it_narrowed(
        built: dict[tuple[str, str], Variant]) -> None:
    bert, cnn = built["bert", "litert-torch"], built["cnn", "litert-torch"]
    io = describe_tflite(bert.path)
    assert [(t.name, t.dtype, t.shape) for t in io.inputs] == [("input_ids", "int32", (1, 32)),
                                                                ("attention_mask", "int32", (1, 32))]
    assert io.output_names == ("output_0",)  # as the eager reference names its output (benchlab.torch_io)
    assert bert.notes == ("int64 inputs input_ids, attention_mask narrowed to int32 (keep_int64: true keeps them)")
    assert describe_tflite(cnn.path).input_names == ("input",) and cnn.notes is None
    kept = built["bert", "litert-torch-int64"]
    assert [t.dtype for t in describe_tflite(kept.path).inputs] == ["int64", "int64"] and kept.notes is None


def test_litert_torch_computes_what_eager_torch_computes(built: dict[tuple[str, str], Variant]) -> None:
    rng = np.random.default_rng(1)
    images = {"input": rng.random((SAMPLES, 3, 96, 96), dtype=np.float32)}
    assert _worst_cosine(built["cnn", "litert-torch"], built["cnn", "torch"], images) >= 0.999
    for name in ("litert-torch", "litert-torch-int64"):
        assert _worst_cosine(built["bert", name], built["bert", "torch"], sentences(SAMPLES, 32, 1000, 2)) >= 0.999


def test_a_chain_quantizes_the_converted_file_with_the_tflite_recipes(built: dict[tuple[str, str], Variant]) -> None:
    for model in ("cnn", "bert"):
        converted, chained = built[model, "litert-torch"], built[model, "litert-torch+full-int8"]
        assert chained.recipe == "litert-torch+full-int8" and chained.format == "tflite"
        assert [step["step"] for step in chained.lineage] == ["litert-torch", "full-int8"]
        assert chained.lineage[0]["sha256"] == converted.sha256  # the litert-torch variant's own file, converted once
        assert constant_types(Path(chained.path).read_bytes())["INT8"] > 0
    assert built["cnn", "litert-torch+full-int8"].size_bytes < 0.6 * built["cnn", "litert-torch"].size_bytes
    # The quantizer leaves one float32 constant in the transformer: the token embedding table its GATHER reads.
    assert constant_types(Path(built["bert", "litert-torch+full-int8"].path).read_bytes())["FLOAT32"] == 1
    # The quantizer took the converted file's int32 ids as they are: only real-valued inputs become int8.
    assert [t.dtype for t in describe_tflite(built["bert", "litert-torch+full-int8"].path).inputs] == ["int32", "int32"]
    assert [t.dtype for t in describe_tflite(built["cnn", "litert-torch+full-int8"].path).inputs] == ["int8"]


def test_core_ml_from_torch_says_which_decompositions_it_converted_after(built: dict[tuple[str, str], Variant]) -> None:
    import coremltools as ct

    assert built["cnn", "coreml-int8"].notes == "converted after run_decompositions({})"
    assert built["bert", "coreml-int8"].notes == (
        "run_decompositions({}) failed (NotImplementedError: Unsupported fx node new_ones, kind new_ones); "
        "converted after the default decompositions; int64 inputs input_ids, attention_mask take int32 (Core ML "
        "has no int64)")
    spec = ct.models.MLModel(built["bert", "coreml-int8"].path, skip_model_load=True).get_spec()
    assert [f.name for f in spec.description.input] == ["input_ids", "attention_mask"]
    assert [f.name for f in spec.description.output] == ["output_0"]


# --- a real transformer's shape -------------------------------------------------------------------

#: The recipes tried on the sentence encoder, and the ones whose variants run on this machine.
ENCODER_VARIANTS = ["torch", "litert-torch", {"recipe": "litert-torch", "then": "dynamic-int8"}, "coreml-fp16"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Variant]:
    """examples.torch_models:small_sentence_encoder (all-MiniLM-L6-v2's graph: BERT with the whole 30,522-token
    vocabulary, 128 tokens with padding, mask-weighted mean pooling, L2-normalised) through every converter."""
    folder = tmp_path_factory.mktemp("encoder")
    np.savez(folder / "sentences.npz", **sentences(SAMPLES, 128, 30522))
    suite = folder / "suite.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "encoder", "variants": ENCODER_VARIANTS,
        "models": [{"name": "encoder", "module": "examples.torch_models:small_sentence_encoder",
                    "module_root": str(REPO), "dataset": {"npz": "sentences.npz"}}],
    }))
    loaded = load_suite(suite, RECIPES)
    return {v.name: v for v in build_variants(loaded, load_model_datasets(loaded))}


def test_a_sentence_encoder_gets_its_variants_and_those_run_here_match_eager_torch(encoder: dict[str, Variant]) -> None:
    assert {name: v.error for name, v in encoder.items() if v.status not in ("built", "cached")} == {}
    data = sentences(SAMPLES, 128, 30522, seed=3)
    assert _worst_cosine(encoder["litert-torch"], encoder["torch"], data) >= 0.999
    assert _worst_cosine(encoder["litert-torch+dynamic-int8"], encoder["torch"], data) >= 0.99
