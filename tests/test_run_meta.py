"""run.json as a typed record (benchlab.results.run_meta): every run.json benchlab wrote reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchlab.errors import StoreError
from benchlab.records import DeviceInfo, Variant
from benchlab.results.run_meta import DataInfo, RunMeta, StoredSuite
from benchlab.results.store import RunStore, read_run_meta

#: A run.json of schema version 2 (before `data`, `host`, `accuracy.min_cosine`, `delivery` and
#: per-model top-k), with a key no benchlab wrote.
OLDER = {"schema_version": 2, "run_id": "old", "suite_name": "s", "harness_version": "0.0.9",
         "suite": {"name": "s", "accuracy": {"top_k": 5, "budget_points": 2.0}, "dataset": {"builtin": "mnist"},
                   "models": [{"name": "m", "accuracy": {"top_k": 1}}, {"name": "n"}]},
         "devices": [{"id": "pixel", "platform": "android", "tier": "flagship", "a_newer_field": 1}],
         "variants": [{"model": "m", "name": "fp32", "recipe": "none", "format": "tflite", "status": "built"}],
         "started_at": "2026-01-01T00:00:00+00:00", "finished_at": None, "a_newer_key": [1, 2]}


def test_an_older_run_json_reads_with_today_s_defaults_and_keeps_what_it_does_not_know(tmp_path: Path) -> None:
    run = tmp_path / "old"
    run.mkdir()
    (run / "run.json").write_text(json.dumps(OLDER))
    meta = read_run_meta(run)
    assert meta.devices == (DeviceInfo("pixel", "android", tier="flagship"),)
    assert meta.variants == (Variant("m", "fp32", "none", "tflite", "built"),)
    assert (meta.suite.accuracy.budget_points, meta.suite.accuracy.min_cosine) == (2.0, 0.99)
    assert meta.suite.delivery.app_base_mb == 0.0 and meta.suite.regression.latency_pct > 0
    assert meta.accuracy_settings("m") == (None, 1) and meta.accuracy_settings("n") == (None, 5)
    assert meta.suite.dataset == {"builtin": "mnist"} and meta.data == {}
    RunStore(run).finish("2026-01-01T01:00:00+00:00")  # rewrites run.json
    again = json.loads((run / "run.json").read_text())
    assert again["a_newer_key"] == [1, 2] and again["suite"] == OLDER["suite"] and again["schema_version"] == 2
    assert read_run_meta(run).finished_at == "2026-01-01T01:00:00+00:00"


def test_a_run_meta_reads_back_as_written(tmp_path: Path) -> None:
    meta = RunMeta(suite_name="s", suite=StoredSuite.from_json({"name": "s", "delivery": {"app_base_mb": 3.5}}),
                   host={"hostname": "h"}, devices=(DeviceInfo("host", "host"),),
                   data={"m": DataInfo("mnist", accuracy_output="probs", inputs=("image",))}, started_at="now")
    store = RunStore(tmp_path / "run")
    store.create(meta)
    stored = store.read_meta()
    assert stored.run_id == "run" and stored.schema_version is not None
    assert stored == RunMeta.from_json(meta.to_json() | {"run_id": "run", "schema_version": stored.schema_version})
    assert stored.suite.delivery.app_base_mb == 3.5 and stored.accuracy_settings("m") == ("probs", 1)


def test_a_stored_threshold_the_schema_refuses_is_one_line_naming_it(tmp_path: Path) -> None:
    run = tmp_path / "bad"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({**OLDER, "suite": {"regression": {"latency_pct": -1}}}))
    with pytest.raises(StoreError, match=r"run.json: not a run record \(suite.regression.latency_pct: "):
        read_run_meta(run)
