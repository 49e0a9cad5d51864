"""JUnit XML, JSON and Markdown outputs of a comparison carry the numbers a CI reader needs."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from benchlab.nightly.ci_outputs import junit_xml, summary_json, summary_markdown, write_outputs
from benchlab.nightly.compare import CompareResult, compare_runs
from tests.test_compare import measurement, night, repeats


@pytest.fixture()
def result(tmp_path: Path) -> CompareResult:
    """One regression (fp16 30% slower), one unchanged, one not comparable, one accuracy-gate failure."""
    rng = np.random.default_rng(1)
    base = night(tmp_path, "20261101-base", 1,
                 measurement(repeats(rng), variant="fp16"),
                 measurement(repeats(rng), variant="fp32", recipe="fp32", accuracy_delta=0.0),
                 measurement(repeats(rng), device_id="a15", os_version="13"),
                 measurement(repeats(rng), variant="full-int8", accuracy=69.0, accuracy_delta=-0.4))
    cand = night(tmp_path, "20261102-cand", 2,
                 measurement(repeats(rng, median_us=2600.0), variant="fp16"),
                 measurement(repeats(rng), variant="fp32", recipe="fp32", accuracy_delta=0.0),
                 measurement(repeats(rng), device_id="a15", os_version="14"),
                 measurement(repeats(rng), variant="full-int8", accuracy=69.0, accuracy_delta=-2.0))
    return compare_runs(base, cand, noise_floors={"latency": {("mobilenet", "fp16", "pixel7", "cpu-t4"): 6.0}})


def test_junit_xml_has_one_testcase_per_measurement_and_failures_with_numbers(result: CompareResult) -> None:
    root = ET.fromstring(junit_xml(result))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "2"
    assert suite.get("skipped") == "1"
    cases = {f"{c.get('classname')}::{c.get('name')}": c for c in suite.findall("testcase")}
    assert set(cases) == {"benchlab.mobilenet.fp16::pixel7 · cpu-t4", "benchlab.mobilenet.fp32::pixel7 · cpu-t4",
                          "benchlab.mobilenet.fp16::a15 · cpu-t4", "benchlab.mobilenet.full-int8::pixel7 · cpu-t4"}

    failure = cases["benchlab.mobilenet.fp16::pixel7 · cpu-t4"].find("failure")
    assert failure is not None and failure.get("type") == "regression"
    message = failure.get("message")
    # change %, CI, p-value, threshold, baseline -> candidate medians
    assert re.search(r"latency \+\d+\.\d% \(95% CI \+\d+\.\d% to \+\d+\.\d%, p = [\d.e-]+\) beyond the 5% "
                     r"threshold \(2\.\d+ ms → 2\.\d+ ms\)", message), message
    assert "n 10/10" in failure.text

    gate = cases["benchlab.mobilenet.full-int8::pixel7 · cpu-t4"].find("failure")
    assert gate is not None and gate.get("type") == "accuracy-gate"
    assert "outside budget by accuracy Δ -2.00 < -1 points" in gate.get("message")

    skipped = cases["benchlab.mobilenet.fp16::a15 · cpu-t4"].find("skipped")
    assert skipped is not None and skipped.get("message") == "not comparable: os_version differs (13 vs 14)"
    assert cases["benchlab.mobilenet.fp32::pixel7 · cpu-t4"].find("failure") is None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["baseline"] == "20261101-base" and properties["threshold.latency_pct"] == "5.0"


def test_json_summary_is_strict_json_with_every_number(result: CompareResult, tmp_path: Path) -> None:
    written = write_outputs(result, json_path=tmp_path / "ci" / "summary.json")
    data = json.loads(written[0].read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert data["verdict"] == 1 and data["verdict_text"].startswith("FAIL: 1 regression, 1 accuracy gate failed")
    fp16 = next(c for c in data["comparisons"] if c["name"] == "mobilenet/fp16 on pixel7 · cpu-t4")
    latency = fp16["latency"]
    assert latency["status"] == "regression" and latency["ci_low"] > 5 and latency["p_value"] < 1e-3
    assert latency["baseline"] < latency["candidate"] and latency["n_baseline"] == 10
    assert json.loads(summary_json(result))["counts"] == {"regression": 1, "not significant": 2,
                                                          "not comparable": 1, "accuracy gate failed": 1}


def test_markdown_lists_the_failures_first(result: CompareResult) -> None:
    text = summary_markdown(result)
    assert text.startswith("### ❌ benchlab: FAIL: 1 regression, 1 accuracy gate failed")
    failing = text.split("#### Failing")[1].split("<details>")[0]
    assert "mobilenet/fp16" in failing and "mobilenet/full-int8" in failing and "a15" not in failing
    assert "| mobilenet/fp16 | a15 · cpu-t4 |" in text.split("<details>")[1]
