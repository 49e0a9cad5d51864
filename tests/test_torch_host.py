"""PyTorch models end to end on the host: the CNN and the tiny BERT of examples/torch_models.py built as eager
torch (the reference), ExecuTorch fp32 and int8, each variant proved to run, timed in fresh worker processes
like a .tflite, and compared with eager torch on the same inputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import benchlab
from benchlab.cli import main
from benchlab.optimize.pte_file import read_pte
from benchlab.results.run_record import RunRecord

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("module_cache")


#: What each model is built as here (the suite runs all four for both): the CNN's static int8 succeeds,
#: the transformer's fails and its dynamic option works; fp32 is checked on the transformer, the program
#: without XNNPACK (ExecuTorch's portable kernels) on the CNN.
VARIANTS = {"small_cnn": ["torch", "executorch-int8", {"recipe": "executorch", "options": {"xnnpack": False}}],
            "tiny_bert": ["torch", "executorch", "executorch-int8",
                          {"recipe": "executorch-int8", "options": {"dynamic": True}}]}


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict[tuple[str, str], Path]]:
    """suites/pytorch.yaml's models and recipes, one accelerator, one repeat of a few iterations (each
    repeat is a fresh process that imports torch: the repeats themselves are tested on .tflite); each model
    exported once and each variant converted once."""
    work = tmp_path_factory.mktemp("pytorch")
    shipped = yaml.safe_load((REPO / "suites" / "pytorch.yaml").read_text())
    frames, paths = [], {}
    for model in shipped["models"]:
        factory = model["module"].rpartition(":")[2]
        suite = {**shipped, "name": factory, "models": [{**model, "module_root": str(REPO)}],
                 "variants": VARIANTS[factory], "accelerators": [{"kind": "cpu", "threads": 1}],
                 "scenario": {"warmup": 1, "iterations": 5, "repeats": 1}}
        suite_path = work / f"{factory}.yaml"
        suite_path.write_text(yaml.safe_dump(suite))
        results = work / f"results-{factory}"
        assert main(["run", str(suite_path), "--results", str(results)]) == 0
        (run_dir,) = list(results.iterdir())
        frames.append(benchlab.load_results(run_dir))
        paths.update({(v.model, v.name): Path(v.path) for v in RunRecord.load(run_dir).variants if v.path})
    return pd.concat(frames).set_index(["model", "variant"]), paths


def test_every_torch_variant_runs_on_the_host_with_fidelity_against_eager_torch(torch_run: tuple) -> None:
    df, _ = torch_run
    ok = df[df["status"] == "ok"]
    assert set(ok.index) == {("small-cnn", "torch"), ("small-cnn", "executorch-int8"), ("small-cnn", "executorch-portable"),
                             ("tiny-bert", "torch"), ("tiny-bert", "executorch"), ("tiny-bert", "executorch-int8-dynamic")}
    assert set(ok["runner"]) == {"torch-eager", "executorch-python"}
    assert (ok["latency_repeats"] == 1).all() and (ok["latency_ms_median"] > 0).all()
    assert ok.loc[("tiny-bert", "executorch"), "fidelity_worst_cosine"] >= 0.999  # fp32: the same math, XNNPACK's kernels
    assert ok.loc[("small-cnn", "executorch-portable"), "fidelity_worst_cosine"] >= 0.999  # and the portable kernels
    assert ok.loc[("tiny-bert", "executorch-int8-dynamic"), "fidelity_worst_cosine"] >= 0.99
    assert ok.loc[("small-cnn", "executorch-int8"), "fidelity_worst_cosine"] >= 0.99
    assert ok.loc[("small-cnn", "executorch-int8"), "size_bytes"] < ok.loc[("small-cnn", "torch"), "size_bytes"] / 2


def test_static_int8_of_the_transformer_fails_naming_the_cause_and_the_option_that_works(torch_run: tuple) -> None:
    df, _ = torch_run
    failed = df.loc[("tiny-bert", "executorch-int8")]
    assert failed["status"] == "failed" and "\n" not in failed["error"]
    assert "tensors used as indices must be long" in failed["error"]
    assert "{recipe: executorch-int8, options: {dynamic: true}}" in failed["error"]


def test_the_int8_claims_are_read_in_the_written_pte(torch_run: tuple) -> None:
    _, paths = torch_run
    cnn = read_pte(paths[("small-cnn", "executorch-int8")])
    assert cnn.xnnpack_calls == 1 and cnn.int8_weights >= 10  # the 9 convolutions and the head, per channel
    bert = read_pte(paths[("tiny-bert", "executorch-int8-dynamic")])
    assert bert.int8_weights >= 12  # the 2 layers' 6 Linear weights each (q, k, v, out, up, down)
    portable = read_pte(paths[("small-cnn", "executorch-portable")])
    assert portable.xnnpack_calls == 0 and "aten::convolution" in portable.kernel_operators
    fp32 = read_pte(paths[("tiny-bert", "executorch")])
    assert fp32.int8_weights == 0 and "aten::embedding" in fp32.kernel_operators  # left to the portable kernels


def test_an_xnnpack_false_setting_refuses_a_pte_in_one_line_and_runs_the_rest() -> None:
    # XNNPACK is lowered into a .pte when it is built and ExecuTorch's runtime has no switch to leave it out,
    # so the row would measure XNNPACK under a noxnnpack name; the program without it is a recipe option.
    from benchlab.execute.host_device import HostDevice
    from benchlab.records import AcceleratorSetting

    capabilities = HostDevice().capabilities()
    noxnnpack = AcceleratorSetting(name="cpu-t1-noxnnpack", kind="cpu", threads=1, xnnpack=False)
    refusal = capabilities.refusal("pte", noxnnpack)
    assert refusal is not None and "\n" not in refusal
    assert refusal.startswith("xnnpack: false does not apply: a .pte runs the delegates it was lowered to")
    assert "{recipe: executorch, options: {xnnpack: false}}" in refusal
    assert capabilities.refusal("pte", AcceleratorSetting(name="cpu-t1", kind="cpu", threads=1)) is None
    assert capabilities.refusal("tflite", noxnnpack) is None  # LiteRT leaves XNNPACK out at run time
    assert capabilities.refusal("pt2", noxnnpack) is None  # eager torch never uses it: what the setting asks
