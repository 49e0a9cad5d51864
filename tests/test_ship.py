"""What to ship per tier, judged on each tier's slowest device, and how the shipped model is delivered.

The runs are written with the real store, one record per repeat as the executor stores them, and
read back through RunRecord, so the per-tier view sees what `benchlab report` sees. Their
latencies are shaped like a phone's: every round has its own drift shared by the jobs of a device
(8% between rounds), larger than a job's own repeat-to-repeat noise (2%) and its iterations' (1%).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchlab.cli import main
from benchlab.errors import SuiteError
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import load_suite
from benchlab.records import DeviceInfo, Fidelity, Measurement
from benchlab.results.run_record import RunRecord
from benchlab.decide.check import check_run
from benchlab.decide.delivery import MB, check_delivery
from benchlab.decide.pick import annotate, round_values
from benchlab.decide.ship import ship_per_tier, ship_plan, tier_coverage
from tests.test_compare import measurement, write_run

ROUNDS = 10
#: Variant -> (file size, accuracy change against fp32 in points); int4 is outside a 1-point budget.
VARIANTS = {"fp32": (4_000_000, 0.0), "fp16": (2_000_000, -0.1), "int8": (1_000_000, -0.3), "int4": (500_000, -5.0)}
#: Device -> (tier, model, true median ms per variant). The low-end Moto is the slower of its tier:
#: there int8 wins by far; on the Galaxy (fp16 arithmetic, no int8 dot product) fp16 would.
#: On the flagship int8 and fp16 take the same time, so the smaller int8 ties and wins on size.
DEVICES = {
    "moto-e": ("low-end", "Moto E13", {"fp32": 40.0, "fp16": 38.0, "int8": 24.0, "int4": 15.0}),
    "galaxy-a": ("low-end", "Galaxy A15", {"fp32": 25.0, "fp16": 12.0, "int8": 20.0, "int4": 10.0}),
    "pixel-9": ("flagship", "Pixel 9 Pro", {"fp32": 8.0, "fp16": 5.0, "int8": 5.0, "int4": 4.0}),
}


def repeat_records(rng: np.random.Generator) -> list[Measurement]:
    """One stored record per (job, round), latencies drawn as the module docstring says."""
    records = []
    for device, (tier, phone, medians_ms) in DEVICES.items():
        drift = rng.lognormal(0.0, 0.08, ROUNDS)  # shared by every job of the device in a round
        for name, (size, delta) in VARIANTS.items():
            own = rng.lognormal(0.0, 0.02, ROUNDS)
            for r in range(ROUNDS):
                iterations = tuple(float(v) for v in medians_ms[name] * 1000 * drift[r] * own[r]
                                   * rng.lognormal(0.0, 0.01, 20))
                m = measurement((iterations,), variant=name, recipe=name, device_id=device, tier=tier,
                                accelerator="cpu-t4", size_bytes=size, accuracy=98.0 + delta, accuracy_delta=delta,
                                fidelity=Fidelity("fp32", 1.0 if name == "fp32" else 0.97, 0.0, 0.0))
                records.append(replace(m, repeat=r, device=replace(m.device, model=phone),
                                       variant=replace(m.variant, size_compressed_bytes=int(size * 0.9))))
    return records


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunRecord:
    devices = [DeviceInfo(d, "android", model=phone, tier=tier) for d, (tier, phone, _) in DEVICES.items()]
    root = tmp_path_factory.mktemp("ship")
    return RunRecord.load(write_run(root, "run", repeat_records(np.random.default_rng(7)), devices=devices,
                                    suite={"delivery": {"app_base_mb": 199.5}}))


def test_each_tier_is_judged_on_its_slowest_device_with_the_reason_against_the_runner_up(run: RunRecord) -> None:
    annotated = annotate(run.results, 1.0, round_values(run.repeat_table))
    plan = ship_plan(run, annotated)
    low, flagship = plan.picks
    assert (low.tier, low.device_id, low.device_model) == ("low-end", "moto-e", "Moto E13")
    # The Galaxy alone would ship fp16: the tier's pick is the slow Moto's, not the fast phone's.
    per_device = annotated[annotated["pick"]].set_index("device_id")["variant"]
    assert per_device["galaxy-a"] == "fp16" and per_device["moto-e"] == "int8"
    assert (low.variant, low.accelerator, low.runner_up) == ("int8", "cpu-t4", "fp16 · cpu-t4")
    slower = re.fullmatch(r"the fastest within the budget; fp16 · cpu-t4 is (\d+)% slower \(\+[\d.]+% \[.+\] "
                          r"p=[\d.e-]+ \(significant\)\) and 100% larger; "
                          r"within budget by accuracy Δ -0\.30 ≥ -1 points; "
                          r"faster but outside the budget: int4 · cpu-t4 \(accuracy Δ -5\.00 < -1 points\)", low.reason)
    assert slower and 50 <= int(slower.group(1)) <= 66, low.reason  # fp16 takes 38/24 = +58% longer
    assert low.median_ms == pytest.approx(24.0, rel=0.1) and low.size_bytes == 1_000_000
    # On the flagship int8 is as fast as fp16 (int4 is faster but 5 points less accurate); which of
    # the two has the lower median is chance, so the reason names the tie either way round.
    assert (flagship.tier, flagship.device_id, flagship.variant) == ("flagship", "pixel-9", "int8")
    assert flagship.runner_up == "fp16 · cpu-t4"
    assert re.fullmatch(r"(the fastest within the budget; fp16 · cpu-t4 ties with it \(.*\(not significant.*\) "
                        r"but is 100% larger|not significantly slower than fp16 · cpu-t4 beyond 5% \(.*\(not "
                        r"significant.*\), the fastest within the budget, so tied with it and 50% smaller); "
                        r"within budget by accuracy Δ -0\.30 ≥ -1 points; faster but outside the budget: "
                        r"int4 · cpu-t4 \(accuracy Δ -5\.00 < -1 points\)", flagship.reason), flagship.reason


def test_a_tier_without_a_device_is_named_in_the_report_and_by_check(run: RunRecord) -> None:
    plan = ship_plan(run, annotate(run.results, 1.0, round_values(run.repeat_table)))
    assert plan.coverage.missing == ("mid",) and not plan.coverage.flagship_only
    assert plan.coverage.note().startswith("No device of tier mid in this run (phones of tier flagship, low-end only)")
    flagships = tier_coverage([DeviceInfo("pixel", "android", tier="flagship"), DeviceInfo("host", "host", tier="host")])
    assert flagships.flagship_only and flagships.missing == ("low-end", "mid")
    assert "flagship-only" not in [w.code for w in check_run(run)]  # the same definition: a low-end phone is here


def test_bundling_a_big_model_crosses_the_install_limits_and_a_small_one_does_not() -> None:
    big = check_delivery("llm", "int8", "tflite", 300 * MB)
    assert big.download_on_first_run
    assert [limit.label for limit in big.crossed_if_bundled] == ["Google Play base module 200 MB",
                                                                  "App Store cellular download 200 MB"]
    assert big.verdict() == ("download on first run (bundled, the app would cross: Google Play base module 200 MB, "
                             "App Store cellular download 200 MB)")
    crosses = {c.limit.label: c.crosses for c in big.checks}
    assert crosses["Google Play feature module 200 MB"] and not crosses["Google Play asset pack 1.5 GB"]
    small = check_delivery("mnist", "int8", "tflite", 5 * MB)
    assert not small.download_on_first_run and small.verdict() == "bundle in the app"
    coreml = check_delivery("mnist", "coreml-int8", "mlpackage", 5 * MB)
    assert {c.limit.store for c in coreml.checks} == {"App Store"}


def test_the_app_s_own_size_counts_against_the_install_limits(run: RunRecord) -> None:
    plan = ship_plan(run, annotate(run.results, 1.0, round_values(run.repeat_table)))
    (delivery,) = plan.deliveries  # int8 ships to both tiers: one delivery
    assert delivery.model_bytes == 900_000 and delivery.compressed and delivery.app_base_bytes == 199_500_000
    assert delivery.download_on_first_run  # 0.9 MB on top of a 199.5 MB app crosses 200 MB


def test_suite_delivery_defaults_to_no_app_and_refuses_a_negative_size(tmp_path: Path) -> None:
    body = {"name": "s", "models": [{"name": "m", "builtin": "quickstart-mnist"}], "variants": ["fp32"]}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(body))
    assert load_suite(path, RECIPES).delivery.app_base_mb == 0.0
    path.write_text(yaml.safe_dump({**body, "delivery": {"app_base_mb": -1}}))
    with pytest.raises(SuiteError, match=r"suite.yaml: delivery.app_base_mb: "):
        load_suite(path, RECIPES)


def test_a_real_run_shows_both_sections_in_the_report_and_the_terminal(tmp_path: Path, tiny_tflite_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    suite = {"name": "ship", "models": [{"name": "tiny", "path": str(tiny_tflite_path)}], "variants": ["tflite"],
             "targets": ["host"], "scenario": {"warmup": 0, "iterations": 3, "repeats": 2},
             "delivery": {"app_base_mb": 40}}
    path = tmp_path / "ship.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    (run_dir,) = (tmp_path / "results").iterdir()
    page = (run_dir / "report.html").read_text()
    assert "<h2>What to ship, per tier</h2>" in page and "<h2>Delivery</h2>" in page
    assert page.index("What to ship, per tier") < page.index("What to ship, per device and accelerator")
    assert "No device of tier low-end, mid, flagship in this run (no phone was targeted)" in page
    assert "bundle in the app" in page and "support.google.com/googleplay/android-developer/answer/9859372" in page
    out = capsys.readouterr().out
    assert "what to ship, per tier" in out and "delivery of tiny/original: bundle in the app" in out


def test_a_tier_without_an_ok_reference_has_no_slowest_device_and_says_so(run: RunRecord) -> None:
    results = run.results
    failed = results["device_id"].eq("pixel-9") & results["variant"].eq("fp32")
    annotated = annotate(results.assign(status=results["status"].where(~failed, "failed")), 1.0,
                         round_values(run.repeat_table))
    low, flagship = ship_per_tier(annotated, round_values(run.repeat_table))
    assert low.variant == "int8" and (flagship.device_id, flagship.variant) == (None, None)
    assert flagship.reason.startswith("no ok reference measurement on any device of this tier")
