"""Suite loading: valid files load; every kind of bad input names file, field and allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchlab.cli import main
from benchlab.errors import SuiteError
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import load_suite

REPO = Path(__file__).resolve().parents[1]


def write_suite(tmp_path: Path, **overrides: object) -> Path:
    suite = {
        "name": "t",
        "models": [{"name": "m", "builtin": "quickstart-mnist"}],
        "dataset": {"builtin": "mnist"},
        "variants": ["fp32", "full-int8"],
        **overrides,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def test_shipped_quickstart_suite_loads() -> None:
    suite = load_suite(REPO / "suites" / "quickstart.yaml", RECIPES)
    assert [v.variant_name for v in suite.variants][:2] == ["fp32", "fp16"]
    assert "coreml-palettize-4bit" in [v.variant_name for v in suite.variants]
    assert suite.targets == ["host"]
    assert [a.name for a in suite.accelerator_settings()] == ["cpu-t1", "cpu-t2", "cpu-t1-noxnnpack"]


def test_recipe_defaults_are_filled_in(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path), RECIPES)
    assert suite.variants[1].options == {"int8_io": True, "calibration_samples": 200}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"variants": ["fp32", "int4-magic"]}, "variants[1].recipe: unknown recipe 'int4-magic' (allowed: fp32, fp16"),
        ({"accelerators": [{"kind": "tpu"}]}, "accelerators[0].kind: unknown accelerator 'tpu' (allowed: cpu, gpu"),
        ({"targets": ["phone:1"]}, "targets: unknown target 'phone:1' (allowed: host, all, android:ID, ios:ID, tier:"),
        ({"targets": ["tier:cheap"]}, "unknown tier 'cheap' (allowed: low-end, mid, flagship)"),
        ({"variants": [{"recipe": "coreml-palettize", "options": {"bits": 5}}]}, "bits=5 is not allowed (allowed: 1, 2, 3, 4, 6, 8)"),
        ({"variants": [{"recipe": "fp16", "options": {"bits": 4}}]}, "unknown option 'bits' for recipe fp16 (allowed: none)"),
        ({"scenario": {"iterations": 0}}, "scenario.iterations: Input should be greater than or equal to 1"),
        ({"dataset": {"builtin": "imagenet"}}, "unknown builtin 'imagenet' (allowed: mnist)"),
    ],
)
def test_bad_fields_name_file_field_and_allowed_values(tmp_path: Path, overrides: dict, expected: str) -> None:
    path = write_suite(tmp_path, **overrides)
    with pytest.raises(SuiteError) as error:
        load_suite(path, RECIPES)
    assert str(error.value).startswith(f"{path}: ")
    assert expected in str(error.value)


def test_a_chain_is_named_by_its_steps_and_keeps_every_step_s_options(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path, variants=[
        {"recipe": "prune", "options": {"sparsity": 0.75}, "then": "full-int8"},
        {"recipe": "distill", "then": {"recipe": "prune", "then": {"recipe": "qat", "options": {"epochs": 3}}}},
        {"recipe": "cluster", "name": "small", "then": "coreml-palettize"},
    ]), RECIPES)
    pruned, distilled, named = suite.variants
    assert [v.variant_name for v in suite.variants] == ["prune-75+full-int8", "distill-0.5x+prune-50+qat", "small"]
    assert [step.recipe for step in distilled.steps] == ["distill", "prune", "qat"]
    assert pruned.options["sparsity"] == 0.75 and pruned.then is not None
    assert pruned.then.options == {"int8_io": True, "calibration_samples": 200}  # defaults filled in at each step
    assert distilled.steps[-1].options == {"epochs": 3, "int8_io": True}
    assert named.then is not None and named.then.variant_name == "coreml-palettize-4bit"


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ({"recipe": "full-int8", "then": "fp16"},
         "variants[0]: then: recipe full-int8 writes a finished model, so nothing can follow it (a chain "
         "starts with a recipe that trains a Keras model or converts one to a format other recipes take: prune, "
         "cluster, distill, litert-torch)"),
        ({"recipe": "prune", "then": "distill"},
         "then.recipe: distill trains a new model on the source's soft labels, so it starts a chain (distill, then "
         "prune), it does not follow prune"),
        ({"recipe": "cluster", "then": "prune"}, "then.recipe: prune cannot follow cluster: fine-tuning the zeros in"),
        ({"recipe": "prune", "then": "fp32"}, "then.recipe: fp32 is the reference (the source model as it is); it "
                                              "cannot follow prune in a chain"),
        ({"recipe": "prune", "then": "tflite"}, "then.recipe: tflite cannot be built from the Keras model prune trains"),
        ({"recipe": "litert-torch", "then": "coreml-fp16"},
         "then.recipe: coreml-fp16 cannot be built from the tflite model litert-torch writes"),
        ({"recipe": "litert-torch", "then": "tflite"}, "then.recipe: tflite is the reference (the source model as it "
                                                       "is); it cannot follow litert-torch in a chain"),
        ({"recipe": "prune", "then": {"recipe": "fp16", "name": "x"}}, "then.name: a chain is named once, at its first "
                                                                      "step"),
        ({"recipe": "prune", "then": {"recipe": "fp16", "options": {"bits": 4}}},
         "variants[0].then: options: unknown option 'bits' for recipe fp16 (allowed: none)"),
        ({"recipe": "prune", "then": "int4"}, "variants[0].then.recipe: unknown recipe 'int4'"),
    ],
)
def test_a_chain_that_cannot_be_built_is_refused_in_one_line(tmp_path: Path, variant: dict, expected: str) -> None:
    path = write_suite(tmp_path, variants=[variant])
    with pytest.raises(SuiteError) as error:
        load_suite(path, RECIPES)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_chain_needs_the_data_of_every_step(tmp_path: Path, tiny_keras_path: Path) -> None:
    import numpy as np

    np.savez(tmp_path / "eval.npz", inputs=np.zeros((4, 28, 28, 1), np.float32), labels=np.zeros(4, np.int64))
    path = write_suite(tmp_path, models=[{"name": "m", "path": str(tiny_keras_path)}],
                       dataset={"npz": str(tmp_path / "eval.npz")},
                       variants=[{"recipe": "distill", "then": "full-int8"}])
    with pytest.raises(SuiteError, match=r"variants\[0\].recipe: the chain distill-0.5x\+full-int8 needs training "
                                         "data for model 'm'"):
        load_suite(path, RECIPES)


def test_a_student_file_is_found_next_to_the_suite_not_where_benchlab_runs(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "student.keras").write_bytes(b"PK\x03\x04")
    monkeypatch.chdir(tmp_path)  # not the suite's folder
    path = write_suite(folder, variants=[{"recipe": "distill", "options": {"student": "student.keras"}, "then": "fp16"}])
    (variant,) = load_suite(path, RECIPES).variants
    assert variant.options["student"] == str((folder / "student.keras").resolve())
    assert variant.variant_name == "distill-student+fp16"


def test_missing_model_path(tmp_path: Path) -> None:
    path = write_suite(tmp_path, models=[{"name": "m", "path": "nowhere.keras"}])
    with pytest.raises(SuiteError, match=r"models\[0\].path: .*nowhere.keras does not exist"):
        load_suite(path, RECIPES)


def test_random_bytes_tflite_is_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.tflite").write_bytes(bytes(range(256)) * 8)
    path = write_suite(tmp_path, models=[{"name": "m", "path": "junk.tflite"}], variants=["tflite"])
    with pytest.raises(SuiteError, match="is not a TFLite flatbuffer"):
        load_suite(path, RECIPES)


def test_coreml_recipe_from_tflite_does_not_fit(tmp_path: Path, tiny_tflite_path: Path) -> None:
    path = write_suite(tmp_path, models=[{"name": "m", "path": str(tiny_tflite_path)}], variants=["coreml-fp16"])
    with pytest.raises(SuiteError, match=r"coreml-fp16 cannot be built from model 'm' \(tflite\) \(recipes for tflite: fp16, dynamic-int8, full-int8, int16x8, weight-only-int8, tflite\)"):
        load_suite(path, RECIPES)


def test_cli_bad_suite_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_suite(tmp_path, variants=["nope"])
    results = tmp_path / "results"
    assert main(["run", str(path), "--results", str(results)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("benchlab: error: ") and "unknown recipe 'nope'" in err[0]
    assert not results.exists()


def test_cli_missing_suite_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["optimize", str(tmp_path / "absent.yaml")]) == 2
    assert "suite file not found" in capsys.readouterr().err

