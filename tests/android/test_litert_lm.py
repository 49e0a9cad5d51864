"""LiteRT-LM's litert_lm_main on Android: its printed figures (recorded public output), its command,
and a language model's cell end to end on a loopback phone whose litert_lm_main stand-in runs the
tiny .litertlm with LiteRT-LM on this machine and prints the real format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import benchlab
from android_runner.litert_lm import benchmark_command, parse_output
from benchlab.records import AcceleratorSetting, Job, LlmCell, LlmScenario, Scenario, Variant
from android_runner.loopback import FLAGSHIP, LoopbackAdbDevice
from tests.test_llm import tiny_models

PUBLIC = Path(__file__).parent / "public"


@pytest.mark.parametrize(("name", "expected"), [
    ("litert_lm_main_arm_gemma4_e2b_macos.txt", (0.43, 512, 0.399049292, 1283.05, 128, 4.037520542, 31.70)),
    ("litert_lm_main_arm_gemma3n_e4b.txt", (0.51, 512, 0.47785, 1071.47, 128, 3.917262, 32.68)),
])
def test_the_printed_benchmark_block_is_read(name: str, expected: tuple) -> None:
    parsed = parse_output((PUBLIC / name).read_text())
    assert parsed is not None
    got = (parsed.ttft_s, parsed.prefill_tokens, parsed.prefill_s, parsed.prefill_tps, parsed.decode_tokens,
           parsed.decode_s, parsed.decode_tps)
    assert got == pytest.approx(expected) and parsed.peak_mb is None


def test_the_peak_memory_line_and_a_run_without_figures() -> None:
    text = (PUBLIC / "litert_lm_main_arm_gemma3n_e4b.txt").read_text()
    line = "I0000 00:00:1796658421.184282   25224 litert_lm_main.cc:285] Peak system ram usage: 1234.5MB."
    assert parse_output(f"{text}\n{line}\n").peak_mb == 1234.5  # type: ignore[union-attr]
    assert parse_output("ERROR: Unknown command line flag 'benchmark_name'") is None


def test_the_command_asks_for_the_cell_exactly() -> None:
    job = Job(job_id="j", run_id="r", suite="s", device_id="d",
              variant=Variant(model="m", name="v", recipe="litertlm", format="litertlm", status="built"),
              accelerator=AcceleratorSetting(name="cpu-t4@pp512-tg128", kind="cpu", threads=4),
              scenario=Scenario(llm=LlmScenario(kv_cache=1024, cell=LlmCell(512, 128))))
    command = benchmark_command("/data/local/tmp/benchlab/litert_lm_main", "/data/local/tmp/benchlab/m.litertlm",
                                job, "/data/local/tmp/benchlab/cache")
    assert command.split() == [
        "/data/local/tmp/benchlab/litert_lm_main", "--backend=cpu", "--model_path=/data/local/tmp/benchlab/m.litertlm",
        "--benchmark", "--benchmark_prefill_tokens=512", "--benchmark_decode_tokens=128", "--max_num_tokens=1024",
        "--report_peak_memory_footprint", "--cache_dir=/data/local/tmp/benchlab/cache", "--num_cpu_threads=4"]


@pytest.fixture()
def phone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackAdbDevice]:
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(tmp_path / "no-sdk-key"))
    monkeypatch.setenv("BENCHLAB_ADB_SERVER", "0")
    runner = tmp_path / "litert_lm_main"
    runner.write_bytes(b"\x7fELF placeholder: the loopback phone runs its litert_lm_main stand-in\n")
    monkeypatch.setenv("BENCHLAB_ANDROID_LITERT_LM_MAIN", str(runner))
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_new_keys=True) as device:
        yield device


def test_a_language_model_runs_its_cells_on_a_phone_with_litert_lm_main(tmp_path: Path, phone) -> None:
    model = tiny_models() / "tiny-qwen3.litertlm"
    suite = tmp_path / "llm-phone.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "llm-phone", "models": [{"name": "tiny-qwen3", "path": str(model)}], "variants": ["litertlm"],
        "targets": [f"android:{phone.serial}"], "accelerators": [{"kind": "cpu", "threads": 2}],
        "scenario": {"repeats": 2, "llm": {"prefill": [32], "decode": [8, 16], "kv_cache": 256, "cache": "cold"}},
    }))
    outcome = benchlab.run(suite, tmp_path / "results")
    rows = outcome.record.results.sort_values("llm_decode_tokens")
    assert list(rows["accelerator"]) == ["cpu-t2@pp32-tg8", "cpu-t2@pp32-tg16"]
    assert (rows["status"] == "ok").all(), list(rows["error"])
    assert list(rows["llm_prefill_tokens"]) == [32, 32] and list(rows["llm_decode_tokens"]) == [8, 16]
    assert set(rows["runner"]) == {"litert_lm_main"} and set(rows["ttft_engine"]) == {"litert_lm_main"}
    assert (rows["decode_tps"] > 0).all() and (rows["peak_memory_mb"] > 0).all()
    assert (rows["decode_tps_repeats"] == 2).all()
    assert phone.host_path("/data/local/tmp/benchlab/litert_lm_main").is_file()
    assert not phone.host_path("/data/local/tmp/benchlab/benchmark_model").exists()  # a language model needs none
