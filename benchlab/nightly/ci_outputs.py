"""What a CI system reads from a comparison: JUnit XML, a JSON summary, a Markdown comment.

* JUnit XML: one testcase per compared measurement (classname ``benchlab.<model>.<variant>``, name
  ``<device> · <accelerator>``). A regression, a new failure or a broken accuracy budget is a
  ``<failure>`` whose message and text carry the numbers (baseline and candidate medians, change,
  95% CI, p-value, threshold); rows that could not be compared are ``<skipped>`` with the reason;
  everything else passes, with its numbers in ``<system-out>``.
* JSON: the verdict, thresholds, counts per status and every comparison with all its numbers
  (NaN written as null, so any JSON reader accepts it).
* Markdown: a pull-request comment: the verdict, the failing rows first with their numbers, then
  every row in a collapsed table.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchlab.metrics import headline, registered
from benchlab.metrics.base import Metric
from benchlab.nightly.compare import (
    FAILED,
    REGRESSION,
    SKIPPED_STATUSES,
    CompareResult,
    Comparison,
    MetricChange,
)
from benchlab.output_files import write_output


def _signed(value: float | None, unit: str, digits: int = 1) -> str:
    return "?" if value is None else f"{value:+.{digits}f}{unit}"


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "?"
    if unit == "bytes":
        return f"{value / 1024:,.1f} KB"
    if unit == "ms":
        return f"{value:.4g} ms"
    if unit == "%":
        return f"{value:.2f}%"
    return f"{value:.1f} {unit}"


def format_change(m: MetricChange) -> str:
    """Return the change alone: "+12.3% (95% CI +10.1% to +14.2%, p = 3.2e-05)" or "-0.70 points"."""
    if m.change is None:
        return m.reason or m.status
    unit = "%" if m.change_unit == "%" else " points"
    text = _signed(m.change, unit, 1 if m.change_unit == "%" else 2)
    if m.p_value is not None:  # compared at the repeat level: the interval and the test say how sure
        ci = (f"95% CI {_signed(m.ci_low, '%')} to {_signed(m.ci_high, '%')}" if m.ci_low is not None
              else "no 95% CI: too few samples")
        text += f" ({ci}, p = {m.p_value:.2g})"
    return text


def format_metric(m: MetricChange) -> str:
    """Return one metric on one line, numbers first, e.g.
    "latency 1.234 ms → 1.386 ms (n 200/200): +12.3% (95% CI ...) — regression, threshold ±5%"."""
    kind = " repeat medians" if m.sample_kind == "repeat medians" else ""
    counts = f" (n {m.n_baseline}/{m.n_candidate}{kind})" if m.n_baseline is not None else ""
    threshold = f"±{m.threshold:g}{'%' if m.change_unit == '%' else ' points'}"
    status = f"{m.status}: {m.reason}" if m.reason and m.change is not None else m.status
    if not m.gates:
        status += " (reported, never fails the check)"
    return (f"{m.metric} {_value(m.baseline, m.unit)} → {_value(m.candidate, m.unit)}{counts}: "
            f"{format_change(m)} — {status}, threshold {threshold}")


def failure_message(c: Comparison) -> str:
    """Return why a failing row fails, in one line with its numbers; "" for a row that passes."""
    parts = []
    if c.status == FAILED:
        parts.append(f"candidate failed: {c.reason}")
    if c.status == REGRESSION:
        parts.extend(f"{m.metric} {format_change(m)} beyond the {m.threshold:g}"
                     f"{'%' if m.change_unit == '%' else '-point'} threshold"
                     f" ({_value(m.baseline, m.unit)} → {_value(m.candidate, m.unit)})"
                     for m in c.metrics if m.gates and m.status == REGRESSION)
    if c.accuracy_gate:
        parts.append(f"accuracy gate: {c.accuracy_gate}")
    return "; ".join(parts)


def details(c: Comparison) -> str:
    """Return every number of a row, one metric per line, then its notes."""
    lines = [f"{c.name}: {c.label}"]
    lines += [f"  {format_metric(m)}" for m in c.metrics]
    if c.accuracy_gate:
        lines.append(f"  accuracy gate: {c.accuracy_gate}")
    if c.accuracy_standing:
        lines.append(f"  accuracy (reported, not gated): {c.accuracy_standing}")
    lines += [f"  note: {note}" for note in c.notes]
    return "\n".join(lines)


def junit_xml(result: CompareResult) -> str:
    """Return the comparison as a JUnit XML document (see the module docstring)."""
    failures = sum(c.failed for c in result.comparisons)
    skipped = sum(not c.failed and c.status in SKIPPED_STATUSES for c in result.comparisons)
    counts = {"tests": str(len(result.comparisons)), "failures": str(failures), "errors": "0",
              "skipped": str(skipped), "time": "0"}
    root = ET.Element("testsuites", {"name": "benchlab compare", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"benchlab.nightly.compare.{result.candidate_run}", **counts})
    properties = ET.SubElement(suite, "properties")
    for name, value in (("baseline", result.baseline_run), ("candidate", result.candidate_run),
                        ("verdict", result.verdict_text), ("latency_method", _method(result)),
                        *((f"threshold.{k}", str(v)) for k, v in result.thresholds.model_dump().items()),
                        ("accuracy_budget_points", str(result.budget_points))):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for c in result.comparisons:
        case = ET.SubElement(suite, "testcase", {"classname": f"benchlab.{c.model}.{c.variant}",
                                                 "name": f"{c.device_id} · {c.accelerator}", "time": "0"})
        if c.failed:
            kind = "accuracy-gate" if c.status not in (REGRESSION, FAILED) else c.status
            failure = ET.SubElement(case, "failure", {"type": kind, "message": failure_message(c)})
            failure.text = details(c)
        elif c.status in SKIPPED_STATUSES:
            ET.SubElement(case, "skipped", {"message": c.label})
        ET.SubElement(case, "system-out").text = details(c)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _method(result: CompareResult) -> str:
    return next((c.headline.method for c in result.comparisons if c.headline and c.headline.method), "") or ""


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def summary_dict(result: CompareResult) -> dict[str, Any]:
    """Return the JSON summary as plain data: verdict, thresholds, counts, every comparison."""
    return _clean({
        "baseline": result.baseline_run,
        "candidate": result.candidate_run,
        "baseline_dir": result.baseline_dir,
        "candidate_dir": result.candidate_dir,
        "verdict": result.verdict,
        "verdict_text": result.verdict_text,
        "thresholds": result.thresholds.model_dump(),
        "accuracy_budget_points": result.budget_points,
        "counts": result.counts(),
        "notes": list(result.notes),
        "comparisons": [_comparison_dict(c) for c in result.comparisons],
        "sustained": [{**asdict(s), "kept_change_points": s.kept_change_points} for s in result.sustained],
    })


def _comparison_dict(c: Comparison) -> dict[str, Any]:
    """Return one row as plain data: identity, status and one key per comparing metric (None: not compared)."""
    row = {"name": c.name, "failed": c.failed, "label": c.label,
           **{k: v for k, v in asdict(c).items() if k != "changes"}}
    row.update({metric.name: asdict(c.changes[metric.name]) if metric.name in c.changes else None
                for metric in registered() if metric.threshold is not None})
    return row


def summary_json(result: CompareResult) -> str:
    """Return the JSON summary as text (strict JSON: no NaN)."""
    return json.dumps(summary_dict(result), indent=2, allow_nan=False)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def compare_headings() -> list[str]:
    """Return the metric columns of a comparison table: the headline's baseline → candidate median and
    change, then each other metric with a compare heading, in the registry's order."""
    lead = headline()
    return [f"median {lead.label}", lead.compare_heading or lead.label,
            *(m.compare_heading for m in registered() if m.compare_heading and not m.headline)]


def compare_cells(c: Comparison) -> list[str]:
    """Return a row's cells under `compare_headings()` ("" where a metric was not compared)."""
    def change(name: str) -> str:
        metric = c.change(name)
        return "" if metric is None else format_change(metric)

    lead = c.headline
    medians = f"{_value(lead.baseline, lead.unit)} → {_value(lead.candidate, lead.unit)}" if lead else ""
    return [medians, change(headline().name),
            *(change(m.name) for m in registered() if m.compare_heading and not m.headline)]


def status_text(c: Comparison) -> str:
    """Return a row's status cell: its label, then a failing accuracy gate or a standing miss (not gated)."""
    return (c.label + (f"; accuracy gate: {c.accuracy_gate}" if c.accuracy_gate else "")
            + (f"; accuracy, not gated: {c.accuracy_standing}" if c.accuracy_standing else ""))


def _row(c: Comparison) -> str:
    status = ("❌ " if c.failed else "") + status_text(c)
    cells = [f"{c.model}/{c.variant}", f"{c.device_id} · {c.accelerator}", *compare_cells(c), status]
    return "| " + " | ".join(_cell(x) for x in cells) + " |"


def _header() -> str:
    headings = ["model/variant", "device · accelerator", *compare_headings(), "status"]
    return "| " + " | ".join(headings) + " |\n" + "|---" * len(headings) + "|"


def _threshold_text(metric: Metric, value: float) -> str:
    """Return e.g. "latency 5%" or "accuracy 0.5 points" (a field named ..._points is in points)."""
    unit = " points" if metric.threshold is not None and metric.threshold.field.endswith("_points") else "%"
    return f"{metric.label} {value:g}{unit}"


def summary_markdown(result: CompareResult) -> str:
    """Return a Markdown pull-request comment: verdict, failing rows with numbers, all rows folded."""
    icon = "❌" if result.verdict else "✅"
    t = result.thresholds
    lines = [
        f"### {icon} benchlab: {result.verdict_text}",
        "",
        f"Baseline `{result.baseline_run}` → candidate `{result.candidate_run}`. A change counts only when "
        f"significant (Mann-Whitney p < {t.alpha:g} and the 95% CI excludes zero), beyond its threshold (a latency "
        "change also beyond the row's noise floor, relative to the other rows of its device, and provisional until "
        "history or a calibration gives the row a floor): "
        + ", ".join(_threshold_text(metric, getattr(t, metric.threshold.field))
                    for metric in registered() if metric.gates and metric.threshold is not None)
        + (f"; accuracy budget vs fp32: {result.budget_points:g} points (a variant outside it in the baseline too "
           "is reported, not gated)." if result.budget_points is not None else "."),
        "",
    ]
    lines += [f"> {note}" for note in result.notes]
    if result.failures:
        lines += ["#### Failing", "", _header(), *(_row(c) for c in result.failures), ""]
    lines += ["<details><summary>All measurements</summary>", "", _header(), *(_row(c) for c in result.comparisons),
              "", "</details>", ""]
    if result.sustained:
        lines += ["#### Sustained load (reported, not gated)", "",
                  *(f"- {_cell(s.text())}" for s in result.sustained), ""]
    return "\n".join(lines)


def write_outputs(result: CompareResult, junit: Path | None = None, json_path: Path | None = None,
                  markdown: Path | None = None) -> list[Path]:
    """Write whichever of the three outputs has a path; return the paths written.

    Raises UsageError for a path that cannot be written, DiskFull when the disk fills.
    """
    written = []
    for path, render in ((junit, junit_xml), (json_path, summary_json), (markdown, summary_markdown)):
        if path is not None:
            write_output(Path(path), render(result))
            written.append(Path(path))
    return written
