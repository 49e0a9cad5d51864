"""Models in production shapes, end to end on this machine through the CLI and the store.

A folder of .tflite files with no dataset (each model with its own inputs, on synthetic data), and
a Keras model with an image and a metadata input, its own labelled data and two outputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import benchlab
from benchlab.cli import main
from benchlab.errors import SuiteError
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import load_suite
from benchlab.results.run_record import RunRecord
from benchlab.tensors import describe_tflite, load_feeds
from examples.production_models import TWO_TOWER_INPUTS, two_tower_data

SHORT = {"warmup": 1, "iterations": 5, "min_seconds": 0, "repeats": 2}


def write_suite(path: Path, body: dict) -> Path:
    path.write_text(yaml.safe_dump({"name": path.stem, "targets": ["host"], "scenario": SHORT, **body}))
    return path


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory, two_tower_tflite_path: Path, token_tflite_path: Path,
               dynamic_tflite_path: Path, int8_io_tflite_path: Path, custom_op_tflite_path: Path) -> Path:
    """One suite, no dataset, over a folder of five .tflite files (one with a custom op)."""
    work = tmp_path_factory.mktemp("folder")
    folder = work / "models"
    folder.mkdir()
    for model in (two_tower_tflite_path, token_tflite_path, dynamic_tflite_path, int8_io_tflite_path,
                  custom_op_tflite_path):
        shutil.copy(model, folder / model.name)
    suite = write_suite(work / "folder.yaml", {
        "models": [{"folder": "models", "input_shapes": {"image": [24, 32, 3]}}],
        "variants": ["tflite"],
    })
    results = work / "results"
    assert main(["run", str(suite), "--results", str(results)]) == 0
    (run_dir,) = list(results.iterdir())
    return run_dir


def test_a_folder_of_tflite_files_runs_in_one_suite_with_no_dataset(folder_run: Path) -> None:
    df = benchlab.load_results(folder_run).set_index("model")
    assert sorted(df.index) == ["custom_op", "dynamic_hw", "int8_io", "token_classifier", "two_tower"]
    ok = df[df["status"] == "ok"]
    assert sorted(ok.index) == ["dynamic_hw", "int8_io", "token_classifier", "two_tower"]
    assert set(ok["data"]) == {"synthetic: fidelity only"}
    assert ok["accuracy"].isna().all()  # no labels: nothing pretends to be accuracy
    # The custom-op model fails alone, in one line naming the op.
    assert df.loc["custom_op", "error"] == (
        "variant not built: tflite failed: does not run in LiteRT: custom op Betainc not available in this LiteRT runtime")


def test_each_model_got_synthetic_inputs_in_its_own_names_dtypes_and_shapes(folder_run: Path,
                                                                            token_tflite_path: Path) -> None:
    inputs = {path.stem: load_feeds(path) for path in (folder_run / "inputs").glob("*.npz")}
    assert set(inputs["two_tower"]) == {"image", "meta"}
    assert inputs["two_tower"]["image"].shape[1:] == TWO_TOWER_INPUTS["image"]
    ids = inputs["token_classifier"]["ids"]
    assert ids.dtype == np.int32 and set(np.unique(ids)) <= {0, 1}  # valid for any vocabulary
    assert inputs["dynamic_hw"]["image"].shape[1:] == (24, 32, 3)  # the suite's input_shapes
    assert inputs["int8_io"]["image"].dtype == np.float32  # real values; each variant quantizes them


def test_every_output_is_stored_by_name(folder_run: Path, two_tower_tflite_path: Path,
                                        dynamic_tflite_path: Path) -> None:
    record = RunRecord.load(folder_run)
    by_model = {m.variant.model: m for m in record.measurements}
    for model, path in (("two_tower", two_tower_tflite_path), ("dynamic_hw", dynamic_tflite_path)):
        outputs = load_feeds(folder_run / by_model[model].outputs_file)
        assert list(outputs) == list(describe_tflite(path).output_names)
    mask = load_feeds(folder_run / by_model["dynamic_hw"].outputs_file)["mask"]
    assert mask.shape == (16, 24, 32, 1)  # 16 synthetic samples at the suite's 24 x 32


def test_a_keras_model_with_two_inputs_its_own_data_and_a_chosen_output(tmp_path: Path,
                                                                         two_tower_keras_path: Path) -> None:
    """The repro of the issue: exit 2 on a second input, full-int8 "expected 2 items got 1"."""
    data = two_tower_data(tmp_path / "two_tower.npz")
    suite = write_suite(tmp_path / "two.yaml", {
        "models": [{"name": "two-tower", "path": str(two_tower_keras_path), "dataset": {"npz": str(data)},
                    "accuracy": {"output": "scores"}}],
        "variants": ["fp32", "fp16", "full-int8"],
    })
    results = tmp_path / "results"
    assert main(["run", str(suite), "--results", str(results)]) == 0
    (run_dir,) = list(results.iterdir())
    record = RunRecord.load(run_dir)
    df = record.results.set_index("variant")
    assert set(df["status"]) == {"ok"}, df["error"].to_dict()
    assert df["accuracy"].notna().all() and df.loc["fp32", "accuracy_delta"] == 0
    assert df.loc["full-int8", "size_bytes"] < df.loc["fp32", "size_bytes"]
    per_output = record.output_fidelity
    compared = per_output[per_output["variant"] != "fp32"]
    assert sorted(set(compared["name"])) == ["box", "scores"]
    assert (compared["cosine"] > 0.9).all()  # close to the reference, on every output
    scores = compared[compared["name"] == "scores"]
    assert scores["top1_agreement"].notna().all()  # class scores get top-1 agreement
    assert compared[compared["name"] == "box"]["top1_agreement"].isna().all()  # a box does not


def test_one_suite_mixes_a_keras_model_and_a_tflite_each_with_the_variants_that_fit_it(
        tmp_path: Path, two_tower_keras_path: Path, token_tflite_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    data = two_tower_data(tmp_path / "two_tower.npz")
    suite = write_suite(tmp_path / "mixed.yaml", {
        "models": [{"name": "two-tower", "path": str(two_tower_keras_path), "dataset": {"npz": str(data)},
                    "accuracy": {"output": "scores"}},
                   {"name": "tokens", "path": str(token_tflite_path)}],
        "variants": ["fp32", "tflite", "fp16", "dynamic-int8"],  # fp32 for Keras, tflite (as it is) for .tflite
    })
    results = tmp_path / "results"
    assert main(["run", str(suite), "--results", str(results)]) == 0
    said = capsys.readouterr().err
    assert "fp32: not built for tokens (tflite): recipe fp32 cannot be built from a tflite model" in said
    assert "original: not built for two-tower (keras): recipe tflite cannot be built from a keras model" in said
    (run_dir,) = list(results.iterdir())
    df = RunRecord.load(run_dir).results
    assert set(df["status"]) == {"ok"}, df["error"].to_list()
    built = {model: sorted(rows["variant"]) for model, rows in df.groupby("model")}
    assert built == {"two-tower": ["dynamic-int8", "fp16", "fp32"], "tokens": ["dynamic-int8", "fp16", "original"]}
    references = df.groupby("model")["fidelity_reference"].unique().to_dict()
    assert {model: list(names) for model, names in references.items()} == {"two-tower": ["fp32"],
                                                                           "tokens": ["original"]}
    assert (df[df["variant"].isin(["fp16", "dynamic-int8"])]["fidelity_worst_cosine"] > 0.9).all()


def test_a_recipe_no_model_fits_and_a_model_no_recipe_fits_are_still_refused(
        tmp_path: Path, token_tflite_path: Path, two_tower_keras_path: Path) -> None:
    tokens = {"name": "tokens", "path": str(token_tflite_path)}
    suite = write_suite(tmp_path / "bad.yaml", {"models": [tokens], "variants": ["tflite", "coreml-fp16"]})
    with pytest.raises(SuiteError, match=r"variants\[1\].recipe: coreml-fp16 cannot be built from model 'tokens' "
                                         r"\(tflite\) \(recipes for tflite: fp16, dynamic-int8, full-int8, "):
        load_suite(suite, RECIPES)
    keras = {"name": "two-tower", "path": str(two_tower_keras_path)}
    suite = write_suite(tmp_path / "mixed.yaml", {"models": [keras, tokens], "variants": ["fp32", "coreml-fp16"]})
    with pytest.raises(SuiteError, match=r"models\[1\]: no variant of the suite can be built from model 'tokens' "
                                         r"\(tflite\) \(recipes for tflite: fp16, "):
        load_suite(suite, RECIPES)
    suite = write_suite(tmp_path / "none.yaml", {"models": [keras, tokens], "variants": ["fp32", "mlpackage"]})
    with pytest.raises(SuiteError, match=r"variants\[1\].recipe: mlpackage cannot be built from any of the models "
                                         r"'two-tower' \(keras\), 'tokens' \(tflite\) \(recipes for keras: fp32, .*; "
                                         r"recipes for tflite: fp16, "):
        load_suite(suite, RECIPES)


def test_an_accuracy_output_that_does_not_exist_is_bad_input(tmp_path: Path, two_tower_keras_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = two_tower_data(tmp_path / "two_tower.npz")
    suite = write_suite(tmp_path / "bad.yaml", {
        "models": [{"name": "two-tower", "path": str(two_tower_keras_path), "dataset": {"npz": str(data)},
                    "accuracy": {"output": "logits"}}],
        "variants": ["fp32"],
    })
    assert main(["run", str(suite), "--results", str(tmp_path / "results")]) == 2
    # Checked once the model is built (its outputs are the built model's), before anything is measured.
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("benchlab: error:")]
    assert len(error) == 1 and "accuracy.output 'logits' is not an output of the model (outputs: scores, box)" in error[0]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
