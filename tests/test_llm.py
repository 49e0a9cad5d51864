"""Language models: the scenario.llm matrix, the LLM metrics, and both host engines on the tiny models.

The tiny models (examples/tiny_llm.py, built by `make tiny-llm` before the tests) have random
weights: these tests check structure and exact token counts, never speeds.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchlab.errors import SuiteError
from benchlab.execute.executor import plan_jobs
from benchlab.execute.host_device import HostDevice
from benchlab.metrics.change import REGRESSION
from benchlab.nightly.compare import compare_measurements
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import AcceleratorSpec, RegressionSpec, load_suite
from benchlab.records import LlmScenario, Scenario, Variant
from benchlab.results.run_record import combine_repeats
from examples import tiny_llm
from tests.test_compare import measurement


def tiny_models() -> Path:
    """The tiny models' folder; missing models fail under CI (its setup builds them), else skip."""
    folder = tiny_llm.present()
    if folder is None:
        if os.environ.get("CI"):
            pytest.fail("tiny LLMs not built: run `make tiny-llm`")
        pytest.skip("tiny LLMs not built: run `make tiny-llm`")
    return folder


def write_suite(folder: Path, body: str) -> Path:
    path = folder / "suite.yaml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(("llm", "message"), [
    ("{prefill: [512], decode: [128], kv_cache: 256}",
     "scenario.llm: kv_cache 256 cannot hold the longest cell, 512 prompt + 128 generated = 640 tokens"),
    ("{prefill: [128, 128]}", "scenario.llm: prefill: 128 is listed twice"),
    ("{decode: [0]}", "scenario.llm.decode[0]: Input should be greater than or equal to 1"),
    ("{cache: hot}", "scenario.llm.cache: Input should be 'cold' or 'warm'"),
])
def test_a_bad_llm_matrix_is_refused_in_one_line(tmp_path: Path, llm: str, message: str) -> None:
    model = tmp_path / "m.litertlm"
    model.write_bytes(b"LITERTLM" + bytes(8))
    suite = write_suite(tmp_path, f"name: s\nmodels: [{{name: m, path: m.litertlm}}]\nvariants: [litertlm]\n"
                                  f"scenario: {{llm: {llm}}}\n")
    with pytest.raises(SuiteError) as error:
        load_suite(suite, RECIPES)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_file_that_is_not_a_litertlm_is_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "m.litertlm").write_bytes(b"TFL3" + bytes(12))
    suite = write_suite(tmp_path, "name: s\nmodels: [{name: m, path: m.litertlm}]\nvariants: [litertlm]\n")
    with pytest.raises(SuiteError, match="is not a LiteRT-LM model"):
        load_suite(suite, RECIPES)


def test_each_cell_of_the_matrix_is_its_own_job_and_a_tflite_is_not_multiplied() -> None:
    llm = Variant(model="m", name="original", recipe="litertlm", format="litertlm", status="built", path="m.litertlm")
    tflite = replace(llm, model="t", recipe="tflite", format="tflite", path="t.tflite")
    scenario = Scenario(llm=LlmScenario(prefill=(128, 512), decode=(128,), kv_cache=1024))
    accelerator = AcceleratorSpec(threads=2).setting()
    jobs = plan_jobs("r", "s", [llm, tflite], [HostDevice()], [accelerator], scenario, {})
    assert [(j.variant.model, j.accelerator.name) for j in jobs] == [
        ("m", "cpu-t2@pp128-tg128"), ("m", "cpu-t2@pp512-tg128"), ("t", "cpu-t2")]
    assert [j.scenario.llm.cell for j in jobs[:2]] == [c for c in scenario.llm.cells()]
    assert jobs[2].scenario.llm.cell is None


@pytest.mark.parametrize(("fmt", "reason"), [
    ("litertlm", "LiteRT-LM runs a .litertlm on the CPU with its XNNPACK executor and has no setting that leaves"),
    ("etlm", "an .etlm's model.pte runs the delegates export_llm lowered into it"),
])
def test_an_xnnpack_false_setting_refuses_a_language_model_in_one_line(fmt: str, reason: str) -> None:
    # Neither engine can leave XNNPACK out at run time: a noxnnpack row would measure XNNPACK under another
    # name, so its cells are "unsupported" with the format's one line and the plain setting runs.
    llm = Variant(model="m", name="original", recipe=fmt, format=fmt, status="built", path=f"m.{fmt}")
    host = HostDevice()
    settings = [AcceleratorSpec(threads=1).setting(), AcceleratorSpec(threads=1, xnnpack=False).setting()]
    scenario = Scenario(llm=LlmScenario(prefill=(32,), decode=(8,), kv_cache=64))
    jobs = plan_jobs("r", "s", [llm], [host], settings, scenario, {})
    refusals = {job.accelerator.name: host.capabilities().refusal(fmt, job.accelerator) for job in jobs}
    assert refusals.keys() == {"cpu-t1@pp32-tg8", "cpu-t1-noxnnpack@pp32-tg8"}
    assert refusals["cpu-t1@pp32-tg8"] is None
    refusal = refusals["cpu-t1-noxnnpack@pp32-tg8"]
    assert refusal is not None and "\n" not in refusal
    assert refusal.startswith(f"xnnpack: false does not apply: {reason}")


def llm_measurement(decode_tps: list[float], runner: str = "litert-lm", ttft_us: float = 20_000.0):
    """A combined LLM measurement with one repeat per decode rate (seeded, no latency samples)."""
    base = replace(measurement(()), runner=runner, peak_memory_mb=900.0)
    records = [replace(base, repeat=i, init_us=2e6, metric_values={
        "decode_tps": v, "prefill_tps": 10 * v, "ttft": ttft_us, "llm_prefill_tokens": 512.0,
        "llm_decode_tokens": 128.0}) for i, v in enumerate(decode_tps)]
    return combine_repeats(records)


def test_a_slower_decode_fails_the_comparison_and_the_same_speed_does_not() -> None:
    rng = np.random.default_rng(28)
    base = llm_measurement(list(20.0 * rng.lognormal(0, 0.01, 8)))
    slower = llm_measurement(list(16.0 * rng.lognormal(0, 0.01, 8)))
    same = llm_measurement(list(20.0 * rng.lognormal(0, 0.01, 8)))
    row = compare_measurements(base, slower, RegressionSpec(), noise_floors={"decode_tps": 3.0})
    decode = row.change("decode_tps")
    assert decode is not None and decode.status == REGRESSION and decode.gates and row.failed
    assert decode.unit == "ms/token" and 20 < decode.change < 30  # 1/16 vs 1/20 s per token: +25%
    assert not compare_measurements(base, same, RegressionSpec(), noise_floors={"decode_tps": 3.0}).failed
    # Without a floor from history the verdict is provisional and does not fail, as for latency.
    provisional = compare_measurements(base, slower, RegressionSpec())
    assert provisional.change("decode_tps").status == f"{REGRESSION} (provisional)" and not provisional.failed


def test_ttft_is_never_compared_across_engines() -> None:
    litert = llm_measurement([20.0] * 6, ttft_us=20_000.0)
    executorch = llm_measurement([20.0] * 6, runner="executorch", ttft_us=90_000.0)
    assert compare_measurements(litert, executorch, RegressionSpec()).change("ttft") is None
    assert compare_measurements(litert, litert, RegressionSpec()).change("ttft") is not None


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory: pytest.TempPathFactory):
    """One run of the tiny models on this machine: LiteRT-LM over a 2-cell matrix, 6 cold repeats; ExecuTorch one repeat."""
    from benchlab import run

    folder = tiny_models()
    work = tmp_path_factory.mktemp("llm")
    litert = run(write_suite(work, f"""
name: llm-litert
models: [{{name: tiny-qwen3, path: {folder / 'tiny-qwen3.litertlm'}}}]
variants: [litertlm]
accelerators: [{{kind: cpu, threads: 1}}]
scenario: {{repeats: 6, llm: {{prefill: [32, 128], decode: [16], kv_cache: 256, cache: cold}}}}
"""), work / "results")
    executorch = run(write_suite(work, f"""
name: llm-executorch
models: [{{name: tiny-llama, path: {folder / 'tiny-llama.etlm'}}}]
variants: [etlm]
accelerators: [{{kind: cpu, threads: 1}}]
scenario: {{repeats: 1, llm: {{prefill: [32], decode: [16], kv_cache: 256, cache: cold}}}}
"""), work / "results")
    return litert, executorch


def test_litert_lm_reports_the_matrix_with_repeat_level_intervals(both_engines) -> None:
    rows = both_engines[0].record.results.sort_values("llm_prefill_tokens").set_index("accelerator")
    assert list(rows.index) == ["cpu-t1@pp32-tg16", "cpu-t1@pp128-tg16"] and (rows["status"] == "ok").all()
    assert list(rows["llm_prefill_tokens"]) == [32, 128] and list(rows["llm_decode_tokens"]) == [16, 16]
    for metric in ("decode_tps", "prefill_tps"):
        assert (rows[f"{metric}_ci_low"] <= rows[metric]).all() and (rows[metric] <= rows[f"{metric}_ci_high"]).all()
        assert rows[f"{metric}_mdc_pct"].notna().all()
    assert set(rows["ttft_engine"]) == {"litert-lm"} and (rows["peak_memory_mb"] > 0).all()
    assert (rows["init_ms"] > 0).all() and all("llm-cache-cold" in f for f in rows["flags"])


def test_executorch_runs_the_same_cell_with_exact_token_counts(both_engines) -> None:
    (row,) = both_engines[1].record.results.to_dict("records")
    assert row["status"] == "ok" and row["runner"] == "executorch" and row["ttft_engine"] == "executorch"
    assert (row["llm_prefill_tokens"], row["llm_decode_tokens"]) == (32, 16)
    assert row["decode_tps"] > 0 and row["prefill_tps"] > 0 and row["peak_memory_mb"] > 0


def test_the_report_puts_the_cells_back_together_as_a_pp_by_tg_table(both_engines) -> None:
    from benchlab.views.llm_matrix import matrix_rows
    from benchlab.commands.report import report_run

    report = report_run(both_engines[0].run_dir)
    files, df = report.files, report.table
    rows = matrix_rows(df)
    assert [(r["accelerator"], r["pp"], r["engine"], r["repeats"]) for r in rows] == [
        ("cpu-t1", "32", "litert-lm", "6"), ("cpu-t1", "128", "litert-lm", "6")]
    assert all(re.fullmatch(r"[\d.]+ \[[\d.]+–[\d.]+\]", r["tg16 decode tok/s"]) for r in rows)
    page = files.html.read_text()
    assert "Language models: prompt × generation" in page and "decode tok/s vs size plot" in page


def test_a_child_process_reports_its_own_peak_memory_not_its_parents() -> None:
    # Linux carries ru_maxrss across exec: a child of a large parent (benchlab after a torch export)
    # "peaked" at the parent's size. The runners' children read VmHWM (benchlab.process_memory).
    import subprocess
    import sys

    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # resident, not just reserved
    code = ("import resource; from benchlab.process_memory import status_mb; "
            "print(status_mb('VmHWM'), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    own, inherited = map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                               check=True).stdout.split())
    assert inherited > 300 > 100 > own
    del ballast
