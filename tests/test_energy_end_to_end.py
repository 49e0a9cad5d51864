"""Energy per inference through benchlab's real Android runner on loopback phones: a phone whose
powerstats HAL reports rails (android_runner/loopback/power_rails.py) gives mJ per inference per variant
with a noise floor, and `benchlab compare` fails on an energy regression as it does on latency; a
phone without rails runs and says once that energy is not available."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path

import pytest
import yaml

import benchlab
from benchlab.cli import main
from android_runner.loopback import FLAGSHIP, LOW_END, LoopbackAdbDevice, Personality
from android_runner.loopback.power_rails import PIXEL6_RAILS
from android_runner.loopback.replay import ReplayPersonality

NOT_AVAILABLE = "energy: not available on this phone"


@pytest.fixture()
def android_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(tmp_path / "no-sdk-key"))
    monkeypatch.setenv("BENCHLAB_ADB_SERVER", "0")
    runner = tmp_path / "benchmark_model"
    runner.write_bytes(b"\x7fELF placeholder: the loopback phone runs its benchmark_model stand-in\n")
    monkeypatch.setenv("BENCHLAB_ANDROID_BENCHMARK_MODEL", str(runner))
    monkeypatch.setenv("BENCHLAB_ENERGY_IDLE_S", "0.5")


@pytest.fixture()
def railed_phone(tmp_path: Path, android_env: None) -> Iterator[LoopbackAdbDevice]:
    # The tiny test model infers in microseconds: each inference is made to last 5 ms (waited out,
    # replay.py), so its energy stands well above what the readings' 10 ms clock makes of the idle
    # power, and a stall of this machine does not turn into a phone's work.
    values = {f.name: getattr(FLAGSHIP, f.name) for f in fields(Personality)}
    personality = ReplayPersonality(**{**values, "power_rails": PIXEL6_RAILS}, replay_inference_us=5000.0)
    with LoopbackAdbDevice(personality, tmp_path / "pixel", accept_new_keys=True) as phone:
        yield phone


def energy_suite(tmp_path: Path, keras_model: Path, digits: Path, serials: list[str], variants: list[str],
                 repeats: int) -> Path:
    suite = {
        "name": "energy-loopback",
        "models": [{"name": "tiny", "path": str(keras_model)}],
        "dataset": {"npz": str(digits), "limit": 4},
        "variants": variants,
        "targets": [f"android:{s}" for s in serials],
        "accelerators": [{"kind": "cpu", "threads": 1}],
        "scenario": {"warmup": 1, "iterations": 20, "min_seconds": 0, "repeats": repeats, "op_profile_runs": 0,
                     "energy": True},
        # 4 repeats a side: the fewest with which a two-sided Mann-Whitney test can reach p < 0.05.
        "regression": {"min_repeats": 4},
    }
    path = tmp_path / "energy.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def test_energy_per_inference_per_variant_with_a_noise_floor_and_compare_gates_on_it(
        tmp_path: Path, railed_phone: LoopbackAdbDevice, tiny_keras_path: Path, digits_npz: Path,
        capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the whole table, energy's column included
    # One variant: the rows are measured the same way, and each repeat on the loopback phone costs seconds.
    suite = energy_suite(tmp_path, tiny_keras_path, digits_npz, [railed_phone.serial], ["fp32"], 4)
    results = tmp_path / "results"
    assert main(["run", str(suite), "--results", str(results)]) == 0
    assert "mJ/inf" in capsys.readouterr().out
    (baseline,) = results.iterdir()
    df = benchlab.load_results(baseline).set_index("variant")
    assert set(df.index) == {"fp32"} and set(df["status"]) == {"ok"}
    active_mw = sum(r.active_mw for r in PIXEL6_RAILS)
    for variant, row in df.iterrows():
        assert row["energy_repeats"] == 4 and row["energy_source"] == "powerstats-hal2"
        assert row["energy_noise_floor_pct"] > 0
        # The loopback's rails add active_mw while an inference runs: energy is that power times
        # the mean inference (idle taken out); init and warmup share the process, within a factor.
        per_ms = row["energy_mj"] / row["latency_ms_median"]
        assert 0.3 * active_mw / 1000 < per_ms < 3 * active_mw / 1000, variant
        assert "S2M_VDD_CPUCL2" in row["energy_rails"] and row["energy_idle_mw"] == pytest.approx(
            sum(r.idle_mw for r in PIXEL6_RAILS), rel=0.2)
    import json

    from benchlab.results.layout import RunLayout

    (summary_row,) = json.loads(RunLayout(baseline).summary_json.read_text())  # numbers beside the cells
    assert summary_row["energy_mj"] == pytest.approx(df.loc["fp32", "energy_mj"])
    assert summary_row["energy_noise_floor_pct"] == pytest.approx(df.loc["fp32", "energy_noise_floor_pct"])
    assert summary_row["energy_repeats"] == 4 and summary_row["mJ/inf"].endswith("%")

    # The same phone drawing four times the power per inference: compare fails on energy alone.
    railed_phone.personality = replace(railed_phone.personality, power_rails=tuple(
        replace(r, active_mw=4 * r.active_mw) for r in PIXEL6_RAILS))
    assert main(["run", str(suite), "--results", str(results)]) == 0
    (candidate,) = [d for d in results.iterdir() if d != baseline]
    capsys.readouterr()
    summary = tmp_path / "compare.json"
    assert main(["compare", str(baseline), str(candidate), "--json", str(summary)]) == 1
    out = capsys.readouterr().out
    assert "energy" in out
    import json

    energy = [row["energy"] for row in json.loads(summary.read_text())["comparisons"]]
    assert len(energy) == 1 and {m["status"] for m in energy} == {"regression"}
    assert all(m["change"] > 150 and m["mdc_pct"] is not None for m in energy)


def test_a_phone_without_rails_runs_and_says_energy_is_not_available_once(
        tmp_path: Path, android_env: None, tiny_keras_path: Path, digits_npz: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    with LoopbackAdbDevice(LOW_END, tmp_path / "low", accept_new_keys=True) as phone:
        suite = energy_suite(tmp_path, tiny_keras_path, digits_npz, [phone.serial], ["fp32"], 2)
        with caplog.at_level(logging.WARNING):
            assert main(["run", str(suite), "--results", str(tmp_path / "results")]) == 0
    df = benchlab.load_results(next((tmp_path / "results").iterdir()))
    assert set(df["status"]) == {"ok"} and df["energy_mj"].isna().all()
    said = [r.getMessage() for r in caplog.records if NOT_AVAILABLE in r.getMessage()]
    assert len(said) == 1 and phone.serial in said[0]
