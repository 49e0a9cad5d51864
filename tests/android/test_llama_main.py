"""ExecuTorch's llama_main on Android: its PyTorchObserver stats line (recorded public output), its command,
and an ExecuTorch language model's cells end to end on a loopback phone whose llama_main stand-in generates
with TextLLMRunner on this machine (examples/tiny_llm.py's random-weight model)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import benchlab
from android_runner.llama_main import parse_output
from android_runner.tools import ToolMissing, llama_main_binary
from benchlab.cli import main
from benchlab.llm_bench import observer_figures
from tests.android.test_tools_fetch import ARM64_ELF
from tests.test_llm import tiny_models
from android_runner.loopback import FLAGSHIP, LoopbackAdbDevice

PUBLIC = Path(__file__).parent / "public"
#: The llama_main this module adds stays in this module's cache.
pytestmark = pytest.mark.usefixtures("module_cache")


@pytest.mark.parametrize(("name", "expected"), [
    # prompt, generated tokens; init s; prefill, decode tok/s; TTFT s (README.md there: the source of each)
    ("llama_main_arm_llama32_1b_android.txt", (5, 114, 3.926, 49.0196, 39.2968, 0.102)),
    ("llama_main_arm_pixel8pro_warmup_tabs.txt", (54, 36, 0.900, 415.3846, 53.0191, 0.130)),
    ("llama_main_et_vulkan_galaxy_s24.txt", (14, 54, 2.277, 85.3659, 52.6829, 0.164)),
])
def test_the_stats_line_gives_the_runners_own_figures(name: str, expected: tuple) -> None:
    stats = parse_output((PUBLIC / name).read_text())
    assert stats is not None
    f = observer_figures(stats)
    got = (f.prefill_tokens, f.decode_tokens, f.init_s, f.prefill_tps, f.decode_tps, f.ttft_s)
    assert got == pytest.approx(expected, rel=1e-4)  # as the runner's own log lines print them


def test_output_without_a_stats_line_is_no_result() -> None:
    text = (PUBLIC / "llama_main_arm_llama32_1b_android.txt").read_text()
    assert parse_output(text.split("PyTorchObserver")[0]) is None
    assert parse_output(text.replace('"SCALING_FACTOR_UNITS_PER_SECOND":1000}', '"SCALING_FACT')) is None  # cut off


@pytest.fixture()
def phone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackAdbDevice]:
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(tmp_path / "no-sdk-key"))
    monkeypatch.setenv("BENCHLAB_ADB_SERVER", "0")
    monkeypatch.delenv("BENCHLAB_ANDROID_LLAMA_MAIN", raising=False)
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_new_keys=True) as device:
        yield device


def test_an_executorch_language_model_runs_its_cells_with_the_llama_main_the_user_added(tmp_path: Path, phone) -> None:
    suite = tmp_path / "etlm-phone.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "etlm-phone", "models": [{"name": "tiny-llama", "path": str(tiny_models() / "tiny-llama.etlm")}],
        "variants": ["etlm"], "targets": [f"android:{phone.serial}"], "accelerators": [{"kind": "cpu", "threads": 1}],
        "scenario": {"repeats": 2, "llm": {"prefill": [16], "decode": [8], "kv_cache": 64, "cache": "cold"}},
    }))
    with pytest.raises(ToolMissing, match="benchlab tools add android llama_main PATH"):  # a failed row's error
        llama_main_binary("arm64-v8a")
    built = tmp_path / "llama_main"
    built.write_bytes(ARM64_ELF)  # the loopback phone runs its llama_main stand-in in its place
    assert main(["tools", "add", "android", "llama_main", str(built)]) == 0
    row = benchlab.run(suite, tmp_path / "results").record.results.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert (row["accelerator"], row["runner"], row["ttft_engine"]) == ("cpu-t1@pp16-tg8", "llama_main", "llama_main")
    assert (row["llm_prefill_tokens"], row["llm_decode_tokens"], row["decode_tps_repeats"]) == (16, 8, 2)
    assert row["decode_tps"] > 0 and row["prefill_tps"] > 0 and row["init_ms"] > 0
    assert phone.host_path("/data/local/tmp/benchlab/llama_main").is_file()
