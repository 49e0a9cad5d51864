"""Planning, the interleaved schedule, the dispatcher, device selection, scoring and the pick.

The dispatcher is exercised with a recording device (a minimal Device that measures nothing and
remembers the order it was asked to run repeats in): what is under test is the order, the
quarantine and the stop, not a runner. Real runners are covered end to end elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchlab.execute.devices import select_devices
from benchlab.errors import DeviceError, DeviceLost
from benchlab.execute.executor import LocalExecutor, StopControl, interleaved_schedule, plan_jobs
from benchlab.records import (
    AcceleratorSetting,
    Capabilities,
    Conditions,
    DeviceInfo,
    Job,
    Measurement,
    Scenario,
    Variant,
)
from benchlab.decide.pick import annotate
from benchlab.plan.profiles import ThermalLimits
from benchlab.results.scoring import score_measurements

CPU1 = AcceleratorSetting(name="cpu-t1", kind="cpu", threads=1)
GPU = AcceleratorSetting(name="gpu", kind="gpu")
COREML = AcceleratorSetting(name="coreml-all", kind="coreml")


def variant(name: str, fmt: str = "tflite", reference: bool = False, model: str = "m", size: int = 1000) -> Variant:
    return Variant(model=model, name=name, recipe=name, format=fmt, status="built", path=f"/models/{name}",
                   size_bytes=size, is_reference=reference)


class RecordingDevice:
    """Runs nothing: returns an ok repeat at once and remembers (job_id, repeat) in call order."""

    thermal_limits = None

    def __init__(self, device_id: str, tier: str = "mid", lose_after: int | None = None) -> None:
        self.info = DeviceInfo(id=device_id, platform="android", tier=tier)
        self.calls: list[tuple[str, int]] = []
        self.lose_after = lose_after
        self.closed = False

    def capabilities(self) -> Capabilities:
        return Capabilities(kinds=frozenset({"cpu", "gpu"}), formats=frozenset({"tflite"}))

    def conditions(self) -> Conditions:
        return Conditions(timestamp=0.0)

    def prepare(self, artifacts: Sequence[Path]) -> None:
        pass

    def run(self, job: Job) -> Measurement:
        if self.lose_after is not None and len(self.calls) >= self.lose_after:
            raise DeviceLost("adb: device offline")
        self.calls.append((job.job_id, job.repeat))
        return Measurement(job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant,
                           device=self.info, accelerator=job.accelerator, status="ok", runner="recording",
                           samples_us=((1000.0,),))

    def abort(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_plan_gives_each_variant_the_accelerators_its_format_runs_on() -> None:
    devices = [RecordingDevice("a"), RecordingDevice("b")]
    variants = [variant("fp32", reference=True), variant("coreml-fp16", fmt="mlpackage")]
    jobs = plan_jobs("run", "suite", variants, devices, [CPU1, GPU], Scenario(repeats=3), {"m": "/inputs/m.npy"})
    assert [(j.device_id, j.variant.name, j.accelerator.name) for j in jobs] == [
        ("a", "fp32", "cpu-t1"), ("a", "fp32", "gpu"), ("a", "coreml-fp16", "none"),
        ("b", "fp32", "cpu-t1"), ("b", "fp32", "gpu"), ("b", "coreml-fp16", "none")]
    assert all(j.eval_inputs_path == "/inputs/m.npy" for j in jobs)


def jobs_for(device_ids: Sequence[str], names: Sequence[str], repeats: int = 6) -> list[Job]:
    devices = [RecordingDevice(d) for d in device_ids]
    return plan_jobs("run-1", "suite", [variant(n) for n in names], devices, [CPU1], Scenario(repeats=repeats),
                     {"m": "/inputs/m.npy"})


def test_the_schedule_runs_every_job_once_per_round_in_a_seeded_shuffled_order() -> None:
    jobs = jobs_for(["a"], ["v1", "v2", "v3", "v4"])
    schedule = interleaved_schedule(jobs, seed="run-1")
    rounds = [schedule[i:i + 4] for i in range(0, 24, 4)]
    for index, round_ in enumerate(rounds):
        assert sorted(j.job_id for j in round_) == sorted(j.job_id for j in jobs)
        assert {j.repeat for j in round_} == {index} and [j.slot for j in round_] == [0, 1, 2, 3]
        assert all(j.scenario.repeats == 1 for j in round_)
    orders = {tuple(j.job_id for j in round_) for round_ in rounds}
    assert len(orders) > 1  # shuffled: not the same order every round
    assert [j.job_id for j in interleaved_schedule(jobs, seed="run-1")] == [j.job_id for j in schedule]
    assert [j.job_id for j in interleaved_schedule(jobs, seed="run-2")] != [j.job_id for j in schedule]
    evaluating = [j for j in schedule if j.evaluate]
    assert {j.repeat for j in evaluating} == {0} and len(evaluating) == 4  # outputs once per job
    assert all(j.eval_inputs_path for j in schedule)  # every repeat times the same real sample


def test_a_resumed_schedule_skips_what_is_done_and_keeps_the_order_of_the_rest() -> None:
    jobs = jobs_for(["a"], ["v1", "v2", "v3"], repeats=3)
    full = interleaved_schedule(jobs, seed="s")
    done = {(full[0].job_id, 0), (full[1].job_id, 0)}
    dead = {full[2].job_id}
    rest = interleaved_schedule(jobs, seed="s", done=done, dead=dead)
    assert [(j.job_id, j.repeat) for j in rest] == [(j.job_id, j.repeat) for j in full
                                                    if (j.job_id, j.repeat) not in done and j.job_id not in dead]


def test_devices_run_in_parallel_each_in_its_own_schedule_order() -> None:
    devices = [RecordingDevice("a"), RecordingDevice("b")]
    jobs = plan_jobs("r", "s", [variant("v1"), variant("v2")], devices, [CPU1], Scenario(repeats=2), {})
    schedule = interleaved_schedule(jobs, seed="r")
    stored: list[Measurement] = []
    lock = threading.Lock()

    def sink(m: Measurement) -> Measurement:
        with lock:
            stored.append(m)
        return m

    LocalExecutor().execute(schedule, devices, sink)
    for device in devices:
        assert device.calls == [(j.job_id, j.repeat) for j in schedule if j.device_id == device.info.id]
    assert len(stored) == 8 and {(m.repeat, m.slot) for m in stored} == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_a_lost_device_is_quarantined_with_retryable_records() -> None:
    device = RecordingDevice("a", lose_after=2)
    schedule = interleaved_schedule(jobs_for(["a"], ["v1", "v2", "v3"], repeats=2), seed="r")
    stored: list[Measurement] = []
    LocalExecutor().execute(schedule, [device], lambda m: stored.append(m) or m)
    assert [m.status for m in stored] == ["ok", "ok", "failed", "skipped", "skipped"]
    assert all(m.retryable for m in stored[2:]) and stored[2].error == "adb: device offline"
    assert {m.job_id for m in stored[3:]} | {stored[2].job_id} == {j.job_id for j in schedule}


def test_a_stop_lets_nothing_new_start() -> None:
    device = RecordingDevice("a")
    schedule = interleaved_schedule(jobs_for(["a"], ["v1", "v2"]), seed="r")
    stop = StopControl()
    stored: list[Measurement] = []

    def sink(m: Measurement) -> Measurement:
        stored.append(m)
        stop.stop_dispatch.set()  # asked to stop while the first repeat was in flight
        return m

    LocalExecutor().execute(schedule, [device], sink, stop)
    assert len(stored) == 1 and stored[0].status == "ok"


class HeatingDevice(RecordingDevice):
    """A RecordingDevice with thermal limits whose thermal status after each repeat is scripted; it
    notes before which repeat the gate (anyone but its own run) read its conditions."""

    thermal_limits = ThermalLimits(max_status=1, max_battery_temp_c=45.0, cooldown_s=0.0, wait_limit_s=0.0)

    def __init__(self, status_after: Sequence[int]) -> None:
        super().__init__("a")
        self.status_after, self.status = list(status_after), 0
        self.gate_reads: list[int] = []
        self._running = False

    def conditions(self) -> Conditions:
        if not self._running:
            self.gate_reads.append(len(self.calls))
        return Conditions(timestamp=time.time(), thermal_status=self.status)

    def run(self, job: Job) -> Measurement:
        self._running = True
        before = self.conditions()
        self.status = self.status_after[len(self.calls)]
        m = super().run(job)
        after = self.conditions()
        self._running = False
        return replace(m, conditions_before=before, conditions_after=after)


def test_the_gate_reads_a_device_again_only_when_its_last_repeat_did_not_end_cool(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import benchlab.execute.executor as executor

    monkeypatch.setattr(executor, "FRESH_SECONDS", 3600.0)  # however busy this machine, "a moment ago"
    device = HeatingDevice(status_after=[0, 3, 3, 0])
    schedule = interleaved_schedule(jobs_for(["a"], ["v1"], repeats=4), seed="r")
    stored: list[Measurement] = []
    LocalExecutor().execute(schedule, [device], lambda m: stored.append(m) or m)
    # Before the first repeat nothing was read; the second starts right after a cool reading; the
    # third and fourth after hot ones, so the gate reads (and, with no time to wait, flags them).
    assert device.gate_reads == [0, 2, 3]
    assert ["started-hot" in m.flags for m in stored] == [False, False, True, True]
    assert all(m.conditions_before and m.conditions_after for m in stored)  # still read and recorded
    # A cool reading from longer ago than FRESH_SECONDS is no reason to skip: the gate reads every repeat.
    monkeypatch.setattr(executor, "FRESH_SECONDS", -1.0)
    stale = HeatingDevice(status_after=[0, 0, 0, 0])
    LocalExecutor().execute(schedule, [stale], lambda m: m)
    assert stale.gate_reads == [0, 1, 2, 3]


def test_select_devices_by_tier_platform_and_id_and_says_what_is_connected() -> None:
    low, flagship = RecordingDevice("s1", tier="low-end"), RecordingDevice("s2", tier="flagship")
    assert select_devices([low, flagship], ["tier:flagship"]) == [flagship]
    assert select_devices([low, flagship], ["android:s1", "all"]) == [low, flagship]
    assert select_devices([low, flagship], ["platform:android"]) == [low, flagship]
    with pytest.raises(DeviceError, match=r"no connected device matches target 'tier:mid' \(connected: android:s1, "):
        select_devices([low, flagship], ["tier:mid"])


def stored_measurement(name: str, outputs: np.ndarray | None, reference: bool = False,
                       accelerator: AcceleratorSetting = CPU1) -> Measurement:
    return Measurement(job_id=f"{name}.{accelerator.name}", run_id="r", suite="s", variant=variant(name, reference=reference),
                       device=DeviceInfo(id="host", platform="host"), accelerator=accelerator, status="ok",
                       runner="x", outputs_file="out" if outputs is not None else None,
                       outputs=None if outputs is None else {"scores": outputs})


def test_scoring_needs_no_reference_first_and_compares_like_with_like() -> None:
    labels = np.array([0, 1, 2, 1])
    reference = np.eye(3)[[0, 1, 2, 1]]
    flipped = np.eye(3)[[0, 1, 2, 2]]  # one of four samples changed its prediction
    measurements = [stored_measurement("int8", flipped), stored_measurement("fp32", reference, reference=True),
                    stored_measurement("int8-gpu", flipped, accelerator=GPU), stored_measurement("none", None)]
    scored = score_measurements(measurements, lambda m: m.outputs, lambda model: labels)
    int8, fp32, on_gpu, none = scored
    assert (fp32.accuracy, fp32.accuracy_delta, fp32.fidelity.top1_agreement) == (100.0, 0.0, 1.0)
    assert (int8.accuracy, int8.accuracy_delta, int8.fidelity.top1_agreement) == (75.0, -25.0, 0.75)
    assert on_gpu.accuracy == 75.0 and on_gpu.fidelity is None  # no fp32 on the GPU to compare with
    assert none.accuracy is None
    misfit = score_measurements([stored_measurement("bad", np.ones((3, 3)))], lambda m: m.outputs, lambda _: labels)
    assert misfit[0].accuracy is None and misfit[0].accuracy_note == "not scored: 3 outputs but 4 labels"


def test_every_output_is_compared_and_labels_score_the_output_the_suite_names() -> None:
    rng = np.random.default_rng(4)
    labels = np.array([0, 1, 2, 3, 4, 0])
    scores = np.eye(5)[labels] * 0.9 + 0.02
    box = rng.random((6, 4))
    mask = rng.random((6, 8, 8, 1))
    reference = {"box": box, "scores": scores, "mask": mask}
    # The candidate keeps the scores, moves one box corner a little and blurs the mask hard.
    candidate = {"box": box + np.array([0.01, 0, 0, 0]), "scores": scores, "mask": mask * 0.5 + 0.25}

    def made(name: str, outputs: dict, is_reference: bool = False) -> Measurement:
        m = stored_measurement(name, np.zeros(1), reference=is_reference)
        return replace(m, outputs=outputs)

    scored = score_measurements([made("int8", candidate), made("fp32", reference, True)], lambda m: m.outputs,
                                lambda _: labels, lambda _model: ("scores", 1))
    fidelity = scored[0].fidelity
    assert scored[0].accuracy == 100.0 and scored[0].accuracy_delta == 0.0
    per_output = {o.name: o for o in fidelity.outputs}
    assert set(per_output) == {"box", "scores", "mask"}
    assert fidelity.top1_agreement == 1.0 and per_output["scores"].top1_agreement == 1.0
    assert per_output["box"].top1_agreement is None and per_output["mask"].top1_agreement is None
    assert per_output["box"].max_abs_error == pytest.approx(0.01) and per_output["scores"].snr_db is None
    assert per_output["mask"].snr_db < per_output["box"].snr_db  # the blurred mask is the worse output
    assert fidelity.worst_cosine == per_output["mask"].cosine < 0.99 < per_output["box"].cosine


def pick_table(rows: list[tuple[str, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"model": "m", "device_id": "host", "accelerator": "cpu-t1", "job_id": name,
                          "variant": name, "status": "ok", "size_bytes": size, "latency_ms_median": median,
                          "accuracy_delta": delta, "fidelity_top1_agreement": None,
                          "fidelity_reference": "fp32"} for name, size, median, delta in rows])


def test_the_pick_is_the_smallest_variant_not_significantly_slower_than_the_fastest() -> None:
    rng = np.random.default_rng(1)
    drift = rng.normal(0, 0.1, 6)  # rounds drift together, as interleaving makes them
    rounds = {"fp32": dict(enumerate(np.exp(drift) * 1.00)),
              "fp16": dict(enumerate(np.exp(drift + rng.normal(0, 0.005, 6)) * 1.01)),   # a tie
              "int8": dict(enumerate(np.exp(drift + rng.normal(0, 0.005, 6)) * 1.40)),   # clearly slower
              "int4": dict(enumerate(np.exp(drift) * 0.99))}
    table = pick_table([("fp32", 4000, 1.00, 0.0), ("fp16", 2000, 1.01, -0.1), ("int8", 1000, 1.40, -0.2),
                        ("int4", 500, 0.99, -5.0)])  # int4 is fastest but out of the accuracy budget
    picked = annotate(table, 1.0, rounds).set_index("variant")
    assert picked["pick"].tolist() == [False, True, False, False]
    assert picked.loc["fp16", "pick_reason"].startswith("not significantly slower than fp32 beyond 5% (+1.")
    assert picked.loc["fp16", "pick_reason"].endswith(
        "and 50% smaller; faster but outside the budget: int4 (accuracy Δ -5.00 < -1 points)")
    without_rounds = annotate(table, 1.0, {}).set_index("variant")  # nothing can tell them apart
    assert without_rounds.loc["int8", "pick"]


def test_a_variant_measured_in_too_few_rounds_is_a_tie() -> None:
    rounds = {"fp32": {0: 1.0, 1: 1.0}, "fp16": {0: 2.0, 1: 2.0}}
    table = pick_table([("fp32", 4000, 1.0, 0.0), ("fp16", 2000, 2.0, 0.0)])
    picked = annotate(table, 1.0, rounds).set_index("variant")
    assert picked.loc["fp16", "pick"] and "too few rounds" in picked.loc["fp16", "pick_reason"]



def test_a_device_with_two_run_modes_gets_a_job_per_mode_the_scenario_asks_for() -> None:
    two_ways = Capabilities(kinds=frozenset({"cpu"}), formats=frozenset({"tflite", "pte"}), run_modes=("shell", "app"),
                            mode_formats=(("app", frozenset({"tflite"})),))
    one_way = Capabilities(kinds=frozenset({"cpu"}), formats=frozenset({"tflite"}))
    both = Scenario(run_modes=("app", "shell"))
    assert [(s.name, sc.run_mode) for s, sc in two_ways.job_settings(CPU1, both, "tflite")] == [
        (CPU1.name, "shell"), (f"{CPU1.name}@app", "app")]  # in the device's order, its default keeps the name
    assert [(s.name, sc.run_mode) for s, sc in one_way.job_settings(CPU1, both, "tflite")] == [(CPU1.name, None)]
    # A format the second mode does not measure gets one job in the default mode, also when only that mode is asked.
    for scenario in (both, Scenario(run_modes=("app",))):
        assert [(s.name, sc.run_mode) for s, sc in two_ways.job_settings(CPU1, scenario, "pte")] == [
            (CPU1.name, "shell")]
    # A device with modes the scenario does not name measures in its default one.
    assert [(s.name, sc.run_mode) for s, sc in two_ways.job_settings(CPU1, Scenario(run_modes=("xctest",)), "tflite")] == [
        (CPU1.name, "shell")]
