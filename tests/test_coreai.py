"""Apple Core AI (.aimodel) from PyTorch on this machine: the example CNN and tiny BERT converted by the real
coreai-torch, each package read back from its bytecode and checked against the data, and every device saying in
one line why it does not time one (Core AI loads models on iOS 27 / macOS 27 only)."""

from __future__ import annotations

import platform
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchlab.execute.host_device import HostDevice
from benchlab.formats import format_named
from benchlab.formats.aimodel import RUNS_ON, read_aimodel
from benchlab.formats.base import VariantDoesNotRun
from benchlab.optimize.build import build_variants
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.datasets import load_model_datasets
from benchlab.plan.suite import load_suite
from benchlab.records import NO_ACCELERATOR, AcceleratorSetting, Capabilities, Variant
from ios_runner.device import NOT_YET

REPO = Path(__file__).resolve().parents[1]
#: Where coreai-core has a wheel (requirements-torch.txt installs it there); elsewhere these tests cannot run.
HAS_WHEEL = sys.version_info >= (3, 11) and (sys.platform, platform.machine()) in {("linux", "x86_64"),
                                                                                  ("darwin", "arm64")}
pytestmark = pytest.mark.skipif(not HAS_WHEEL, reason="coreai-core has wheels for Python 3.11+ on Linux x86-64 and "
                                                      "Apple-silicon macOS only")


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Variant]:
    """Both example models built by `coreai` (alone: nothing here runs an .aimodel, so no reference is needed),
    by model."""
    suite_path = tmp_path_factory.mktemp("coreai") / "suite.yaml"
    models = [{"name": name, "module": f"examples.torch_models:{name}", "module_root": str(REPO)}
              for name in ("small_cnn", "tiny_bert")]
    suite_path.write_text(yaml.safe_dump({"name": "coreai", "models": models, "variants": ["coreai"],
                                          "targets": ["host"], "accelerators": [{"kind": "cpu", "threads": 1}]}))
    suite = load_suite(suite_path, RECIPES)
    return {v.model: v for v in build_variants(suite, load_model_datasets(suite))}


def test_both_models_are_converted_and_what_the_files_hold_is_read_back(variants: dict[str, Variant]) -> None:
    assert {model: v.status for model, v in variants.items()} == {"small_cnn": "built", "tiny_bert": "built"}
    cnn, bert = (read_aimodel(Path(variants[m].path)) for m in ("small_cnn", "tiny_bert"))
    assert [(t.name, t.scalar, t.shape) for t in cnn.inputs] == [("input", "Float32", (1, 3, 96, 96))]
    assert [(t.name, t.scalar, t.shape) for t in cnn.outputs] == [("output_0", "Float32", (1, 10))]
    # Core AI takes the token ids and the mask as Int32: the notes say so, read in the file.
    assert [(t.name, t.scalar, t.shape) for t in bert.inputs] == [("input_ids", "Int32", (1, 32)),
                                                                  ("attention_mask", "Int32", (1, 32))]
    assert "int64 inputs input_ids, attention_mask take Int32" in variants["tiny_bert"].notes
    for contents, variant in ((cnn, variants["small_cnn"]), (bert, variants["tiny_bert"])):
        assert contents.minimum_os == "27.0" and contents.producer.startswith("coreai-core ")
        weights = contents.stored_values["Float32"]
        assert "Float16" not in contents.stored_values and 4 * weights < contents.bytecode_bytes < 4 * weights + 20_000
        assert f"{weights:,} float32 values stored" in variant.notes and RUNS_ON in variant.notes
        assert variant.format == "aimodel" and variant.size_compressed_bytes < variant.size_bytes


def test_this_machine_says_in_one_line_that_core_ai_is_not_available_here() -> None:
    # The executor turns this refusal into the job's "unsupported" row: nothing is timed.
    refusal = HostDevice().capabilities().refusal("aimodel", AcceleratorSetting(name=NO_ACCELERATOR,
                                                                                 kind=NO_ACCELERATOR))
    assert refusal == f"built, not available on this device: {RUNS_ON}"


def test_an_iphone_says_not_yet_for_an_aimodel() -> None:
    phone = Capabilities(kinds=frozenset({"coreml"}), formats=frozenset({"tflite", "mlpackage"}), not_yet=NOT_YET)
    refusal = phone.refusal("aimodel", AcceleratorSetting(name="ane", kind="coreml"))
    assert refusal is not None and refusal.startswith("not yet: the iPhone runner app has no Core AI")
    android = Capabilities(kinds=frozenset({"cpu"}), formats=frozenset({"tflite", "pte"}))
    assert android.refusal("aimodel", AcceleratorSetting(name=NO_ACCELERATOR, kind=NO_ACCELERATOR)) == \
        f"built, not available on this device: {RUNS_ON}"


def test_a_damaged_package_or_data_that_does_not_fit_fails_the_check(variants: dict[str, Variant],
                                                                      tmp_path: Path) -> None:
    fmt = format_named("aimodel")
    package = shutil.copytree(variants["tiny_bert"].path, tmp_path / "bert.aimodel")
    ids = {"input_ids": np.zeros((1, 32), np.int64), "attention_mask": np.ones((1, 32), np.int64)}
    assert fmt.prove_runs(package, ids).startswith(f"checked, not run ({RUNS_ON})")
    with pytest.raises(VariantDoesNotRun, match=r"input 'input_ids' is Int32 \[1, 32\]; the data is float32 \[1, 32\]"):
        fmt.prove_runs(package, {**ids, "input_ids": np.zeros((1, 32), np.float32)})
    with pytest.raises(VariantDoesNotRun,
                       match=r"takes \['attention_mask', 'input_ids'\]; the data has \['input_ids'\]"):
        fmt.prove_runs(package, {"input_ids": ids["input_ids"]})
    bytecode = package / "main.mlirb"
    bytecode.write_bytes(bytecode.read_bytes()[:-100])
    with pytest.raises(VariantDoesNotRun, match="main.mlirb does not match the SHA-256 in main.hash"):
        fmt.prove_runs(package, ids)
    (package / "main.hash").unlink()
    assert fmt.check_contents(package) == ("is not a Core AI .aimodel (a directory with main.mlirb, main.hash, "
                                           "metadata.json; main.hash missing)")
