"""The pick: which figure puts a variant within the budget, and the tie rule with the reason it gives.

Tables are shaped like a run's results table (benchlab.results.run_record): one row per
(variant, device, accelerator) with its median, file size and fidelity columns. Per-round
latencies are seeded draws: a drift shared by every job of a round (what interleaving gives) times
each job's own noise, and each row's median is the median of its rounds.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchlab.cli import main
from benchlab.errors import SuiteError
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import MIN_COSINE, load_suite
from benchlab.results.run_record import RunRecord
from benchlab.results.within_run import paired_change
from benchlab.decide.check import check_run
from benchlab.decide.pick import TIE_THRESHOLD_PCT, annotate, round_values
from benchlab.results.run_meta import StoredSuite
from benchlab.decide.ship import ship_per_tier, ship_plan

ROUNDS = 10
#: What the fidelity columns of a reference row hold: it is compared with itself.
REFERENCE = {"accuracy_delta": None, "fidelity_top1_agreement": None, "fidelity_worst_cosine": 1.0}


def drawn(rng: np.random.Generator, spec: dict[str, tuple[float, float, int, dict]]
          ) -> tuple[pd.DataFrame, dict[str, dict[int, float]]]:
    """Rows and per-round latencies for variant -> (true median ms, own log-noise sd, size, fidelity columns)."""
    drift = rng.lognormal(0.0, 0.08, ROUNDS)
    rounds = {name: dict(enumerate((median * drift * rng.lognormal(0.0, sd, ROUNDS)).tolist()))
              for name, (median, sd, _, _) in spec.items()}
    rows = [{"model": "m", "device_id": "moto-e", "device_model": "Moto E13", "tier": "low-end",
             "accelerator": "cpu-t4", "job_id": name, "variant": name, "recipe": name, "format": "tflite",
             "status": "ok", "size_bytes": size, "size_compressed_bytes": None, "accuracy": None,
             "latency_ms_median": float(np.median(list(rounds[name].values()))), "fidelity_reference": "fp32",
             **REFERENCE, **fidelity} for name, (_, _, size, fidelity) in spec.items()]
    return pd.DataFrame(rows), rounds


def cosine(value: float) -> dict:
    return {**REFERENCE, "fidelity_worst_cosine": value}


def test_without_labels_or_class_scores_the_worst_output_cosine_judges_and_says_so() -> None:
    # Synthetic inputs, a mask output: fp16 and a sound int8 follow fp32 closely, a broken int8 does not.
    table, rounds = drawn(np.random.default_rng(1), {
        "fp32": (0.40, 0.02, 4_000_000, REFERENCE), "fp16": (0.30, 0.02, 2_000_000, cosine(0.999991)),
        "int8": (0.20, 0.02, 1_000_000, cosine(0.99874)), "int8-per-tensor": (0.19, 0.02, 1_000_000, cosine(0.93))})
    picked = annotate(table, 1.0, rounds).set_index("variant")
    assert picked["budget_reason"].to_dict() == {
        "fp32": "the reference",
        "fp16": "within budget by worst-output cosine 1.0000 ≥ 0.99",
        "int8": "within budget by worst-output cosine 0.9987 ≥ 0.99",
        "int8-per-tensor": "outside budget by worst-output cosine 0.9300 < 0.99",
    }
    assert picked.index[picked["pick"]].tolist() == ["int8"]  # before: fp32, the only row with a figure
    (tier,) = ship_per_tier(annotate(table, 1.0, rounds), rounds)
    assert tier.variant == "int8" and tier.runner_up == "fp16 · cpu-t4"
    # The faster int8 the budget ruled out is named, with the figure that did, not passed over silently.
    assert tier.reason.endswith("; within budget by worst-output cosine 0.9987 ≥ 0.99; faster but outside the "
                                "budget: int8-per-tensor · cpu-t4 (worst-output cosine 0.9300 < 0.99)"), tier.reason
    assert picked.loc["int8", "pick_reason"].endswith(
        "; faster but outside the budget: int8-per-tensor (worst-output cosine 0.9300 < 0.99)")
    strict = annotate(table, 1.0, rounds, min_cosine=0.999).set_index("variant")  # the suite's accuracy.min_cosine
    assert picked.loc["fp16", "in_budget"] and not strict.loc["int8", "in_budget"] and strict.loc["fp16", "pick"]


def test_labels_come_first_then_top1_agreement_then_cosine() -> None:
    def row(delta: float | None, agreement: float | None, worst: float | None) -> dict:
        return {"accuracy_delta": delta, "fidelity_top1_agreement": agreement, "fidelity_worst_cosine": worst}

    spec = {"fp32": (1.0, 0.02, 4_000_000, REFERENCE),
            "labelled": (1.0, 0.02, 1_000_000, row(-0.4, 0.50, 0.50)),  # the labels say fine: nothing else counts
            "labelled-bad": (1.0, 0.02, 1_000_000, row(-1.004, 1.0, 1.0)),
            "scores": (1.0, 0.02, 1_000_000, row(None, 0.995, 0.50)),
            "scores-bad": (1.0, 0.02, 1_000_000, row(None, 0.97, 0.999999)),
            "mask-edge": (1.0, 0.02, 1_000_000, row(None, None, 0.98996)),
            "nothing": (1.0, 0.02, 1_000_000, row(None, None, None))}
    table, rounds = drawn(np.random.default_rng(2), spec)
    reasons = annotate(table, 1.0, rounds).set_index("variant")["budget_reason"].to_dict()
    assert reasons == {
        "fp32": "the reference",
        "labelled": "within budget by accuracy Δ -0.40 ≥ -1 points",
        "labelled-bad": "outside budget by accuracy Δ -1.004 < -1 points",  # -1.00 would read as within
        "scores": "within budget by top-1 agreement 99.5% ≥ 99%",
        "scores-bad": "outside budget by top-1 agreement 97.0% < 99%",
        "mask-edge": "outside budget by worst-output cosine 0.98996 < 0.99",
        "nothing": "not judged (no accuracy, top-1 agreement or output cosine against the reference)",
    }


#: The odd output of the old tie rule, shaped like a microsecond model on a phone: fp32 is the fastest
#: by median but its rounds are noisy (nothing can be told apart from it), while fp16 and int8 are
#: steady and int8 takes 40% longer than fp16. Judged against the fastest alone, int8 tied and won
#: as the smallest, and the reason against its runner-up read "29% slower (significant) and 50% smaller".
MICROSECONDS = {"fp32": (0.0070, 0.5, 4_000_000, {**REFERENCE, "accuracy_delta": 0.0}),
                "fp16": (0.0071, 0.02, 2_000_000, {**REFERENCE, "accuracy_delta": -0.1}),
                "int8": (0.0100, 0.02, 1_000_000, {**REFERENCE, "accuracy_delta": -0.2})}


def test_a_tie_measurably_slower_than_another_tie_does_not_win() -> None:
    table, rounds = drawn(np.random.default_rng(14), MICROSECONDS)
    median = table.set_index("variant")["latency_ms_median"]
    assert median.idxmin() == "fp32" and median["int8"] > 1.3 * median["fp16"]
    assert "not significant" in paired_change(rounds["fp32"], rounds["int8"]).verdict  # a tie of the fastest alone
    assert paired_change(rounds["fp16"], rounds["int8"]).verdict == "regression"
    picked = annotate(table, 1.0, rounds).set_index("variant")
    assert picked.index[picked["pick"]].tolist() == ["fp16"]
    assert re.fullmatch(r"not significantly slower than fp32 beyond 5% \(\+\d+\.\d% \[.+\] p=[\d.]+ \(not significant "
                        r"\(minimum detectable change ±[\d.]+%\)\)\), the fastest within the budget, so tied with it "
                        r"and 50% smaller", picked.loc["fp16", "pick_reason"]), picked.loc["fp16", "pick_reason"]
    (tier,) = ship_per_tier(annotate(table, 1.0, rounds), rounds)
    assert (tier.variant, tier.runner_up) == ("fp16", "fp32 · cpu-t4")  # compared with the fastest, named
    assert tier.reason.startswith("not significantly slower than fp32 · cpu-t4 beyond 5% (")


def test_the_fastest_s_reason_names_the_next_row_and_its_real_difference() -> None:
    table, rounds = drawn(np.random.default_rng(3), {
        "fp32": (0.40, 0.02, 4_000_000, REFERENCE), "fp16": (0.20, 0.02, 2_000_000, cosine(0.99999)),
        "int8": (0.30, 0.02, 1_000_000, cosine(0.999))})
    (tier,) = ship_per_tier(annotate(table, 1.0, rounds), rounds)
    assert (tier.variant, tier.runner_up) == ("fp16", "int8 · cpu-t4")
    assert re.fullmatch(r"the fastest within the budget; int8 · cpu-t4 is \d+% slower \(\+[\d.]+% \[.+\] p=[\d.]+ "
                        r"\(significant\)\) though 50% smaller; within budget by worst-output cosine 1.0000 ≥ 0.99",
                        tier.reason), tier.reason


@pytest.mark.parametrize("seed", range(40))
def test_the_pick_is_never_significantly_slower_than_a_faster_row_within_the_budget(seed: int) -> None:
    """Six variants, some with noisy rounds; judged against the fastest alone, seeds 28 and 37 broke this."""
    rng = np.random.default_rng(100 + seed)
    names = ["fp32", "fp16", "dynamic-int8", "full-int8", "int16x8", "weight-only-int8"]
    spec = {name: (float(rng.uniform(0.005, 0.012)), float(rng.choice([0.02, 0.1, 0.6])),
                   int(rng.integers(1, 9)) * 500_000, REFERENCE if name == "fp32" else cosine(0.999))
            for name in names}
    table, rounds = drawn(rng, spec)
    picked = annotate(table, 1.0, rounds)
    (pick,) = picked[picked["pick"]].itertuples()
    faster = picked[picked["latency_ms_median"] < pick.latency_ms_median]
    for other in faster.itertuples():
        assert paired_change(rounds[other.job_id], rounds[pick.job_id], TIE_THRESHOLD_PCT).verdict != "regression"
    fastest = picked.loc[picked["latency_ms_median"].idxmin(), "variant"]
    if pick.variant != fastest:
        assert pick.pick_reason.startswith(f"not significantly slower than {fastest} beyond 5% (")
        assert pick.size_bytes < picked.set_index("variant").loc[fastest, "size_bytes"]


def test_the_suite_s_min_cosine_defaults_to_0_99_and_an_older_run_reads_the_default(tmp_path: Path) -> None:
    body = {"name": "s", "models": [{"name": "m", "builtin": "quickstart-mnist"}], "variants": ["fp32"]}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(body))
    assert load_suite(path, RECIPES).accuracy.min_cosine == MIN_COSINE == 0.99
    path.write_text(yaml.safe_dump({**body, "accuracy": {"min_cosine": 1.5}}))
    with pytest.raises(SuiteError, match=r"suite.yaml: accuracy.min_cosine: "):
        load_suite(path, RECIPES)
    older = StoredSuite.from_json({"accuracy": {"top_k": 1, "budget_points": 2.0}}).accuracy  # stored before the field
    assert (older.budget_points, older.min_cosine) == (2.0, 0.99)
    stated = StoredSuite.from_json({"accuracy": {"budget_points": 2.0, "min_cosine": 0.995}}).accuracy
    assert (stated.budget_points, stated.min_cosine) == (2.0, 0.995)


def test_a_model_with_no_dataset_and_no_class_scores_ships_an_optimized_variant(
        tmp_path: Path, dynamic_tflite_path: Path) -> None:
    """End to end: a mask-and-score model on synthetic inputs; before, fp32 ("original") was always the pick."""
    suite = tmp_path / "masks.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "masks", "targets": ["host"], "scenario": {"warmup": 1, "iterations": 5, "min_seconds": 0, "repeats": 2},
        "models": [{"name": "masks", "path": str(dynamic_tflite_path), "input_shapes": {"image": [24, 32, 3]}}],
        "variants": ["tflite", "fp16", "dynamic-int8"]}))
    assert main(["run", str(suite), "--results", str(tmp_path / "results")]) == 0
    (run_dir,) = (tmp_path / "results").iterdir()
    record = RunRecord.load(run_dir)
    accuracy = record.meta.suite.accuracy
    annotated = annotate(record.results, accuracy.budget_points, round_values(record.repeat_table),
                         accuracy.min_cosine).set_index("variant")
    assert set(annotated["data"]) == {"synthetic: fidelity only"} and annotated["fidelity_top1_agreement"].isna().all()
    for variant in ("fp16", "dynamic-int8"):
        assert re.fullmatch(r"within budget by worst-output cosine 0\.99\d\d ≥ 0\.99|within budget by worst-output "
                            r"cosine 1\.0000 ≥ 0\.99", annotated.loc[variant, "budget_reason"])
    # Two repeats are too few to tell any two apart, so every variant ties and the smallest file wins.
    (pick,) = annotated.index[annotated["pick"]]
    assert pick != "original" and annotated.loc[pick, "size_bytes"] == annotated["size_bytes"].min()
    assert "pick-is-fp32" not in [w.code for w in check_run(record)]
    (tier,) = ship_plan(record, annotated.reset_index()).picks
    assert tier.variant == pick and "; within budget by worst-output cosine" in tier.reason
    assert "within budget by worst-output cosine" in (run_dir / "report.html").read_text()
