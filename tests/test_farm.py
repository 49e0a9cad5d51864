"""A device farm on this machine: a real Dask scheduler and two `benchlab worker` processes, each
owning its own loopback phones over the real ADB wire protocol, driven by the client that owns the
store. The same suite gives the rows the local executor gives; a worker killed mid-run leaves
interrupted rows that `--resume` finishes, with no repeat lost or measured twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import benchlab
from benchlab.cli import main
from benchlab.execute.executor import interleaved_schedule, plan_jobs
from benchlab.execute.farm import cluster_session
from benchlab.file_hash import path_sha256
from benchlab.pipeline import Callbacks, run_suite
from benchlab.records import Capabilities
from benchlab.results.run_record import RunRecord
from benchlab.results.store import read_repeat_records
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import load_suite
from android_runner.loopback import FLAGSHIP, LOW_END, LoopbackAdbDevice, Personality
from android_runner.loopback.farm import LoopbackFarm
from android_runner.loopback.ports import free_port


def farm_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            layout: dict[str, list[Personality]]) -> Iterator[LoopbackFarm]:
    with LoopbackFarm(tmp_path, layout) as farm:
        for key, value in farm.client_env.items():  # this process reaches the phones too (local runs)
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
        yield farm


def suite_file(tmp_path: Path, model: Path, digits: Path, targets: list[str], repeats: int) -> Path:
    suite = {
        "name": "farm-loopback",
        "models": [{"name": "tiny", "path": str(model)}],
        "dataset": {"npz": str(digits), "limit": 4},
        "variants": ["tflite"],
        "targets": targets,
        "accelerators": [{"kind": "cpu", "threads": 1}, {"kind": "gpu"}],
        "scenario": {"warmup": 1, "iterations": 3, "min_seconds": 0, "repeats": repeats},
    }
    path = tmp_path / "farm.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def planned_order(run_dir: Path) -> list[tuple[str, str, int]]:
    """The interleaved schedule the run's id and suite give: (device, job, repeat) in order."""
    record = RunRecord.load(run_dir)
    suite = record.meta.suite.validated(RECIPES, run_dir)
    devices = [_Planned(info) for info in record.meta.devices]
    jobs = plan_jobs(record.run_id, suite.name, record.variants, devices, suite.accelerator_settings(),
                     suite.scenario.scenario(), {})
    return [(j.device_id, j.job_id, j.repeat) for j in interleaved_schedule(jobs, seed=record.run_id)]


@dataclass(frozen=True)
class _Planned:
    """A device as a stored run names it: planning needs its info, and its capabilities only for the
    ways it measures a job (these suites measure each one way)."""

    info: object

    def capabilities(self) -> Capabilities:
        return Capabilities(kinds=frozenset(), formats=frozenset())


@pytest.fixture()
def farm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackFarm]:
    # Two hosts; the low-end tier has a phone on each, so `tier:low-end` resolves across hosts.
    yield from farm_of(tmp_path, monkeypatch, {"w1": [LOW_END], "w2": [FLAGSHIP, LOW_END]})


def test_a_farm_gives_the_rows_the_local_executor_gives(tmp_path: Path, farm: LoopbackFarm, tiny_tflite_path: Path,
                                                         digits_npz: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = suite_file(tmp_path, tiny_tflite_path, digits_npz, ["tier:low-end", "tier:flagship"], repeats=2)
    serials = {p.serial: farm.owner(p) for p in farm.all_phones}

    assert main(["run", str(suite), "--results", str(tmp_path / "farm-results"), "--cluster", farm.address]) == 0
    monkeypatch.setenv("BENCHLAB_ANDROID_CONNECT", ",".join(serials))  # the same phones, reached from here
    assert main(["run", str(suite), "--results", str(tmp_path / "local-results")]) == 0

    (farm_run,) = (tmp_path / "farm-results").iterdir()
    (local_run,) = (tmp_path / "local-results").iterdir()
    farm_records, local_records = read_repeat_records(farm_run), read_repeat_records(local_run)

    def outcome(records):  # type: ignore[no-untyped-def]
        return Counter((r.job_id, r.repeat, r.status, r.failure_cause) for r in records)

    assert outcome(farm_records) == outcome(local_records)
    assert {r.device.id for r in farm_records} == set(serials)  # every phone of both hosts ran
    assert {r.status for r in farm_records} == {"ok", "failed"}  # the low-end phones have no GPU
    for run_dir, records in ((farm_run, farm_records), (local_run, local_records)):
        # Each device ran its repeats in the run's interleaved order, a model failure ending its job.
        ran = [(r.device.id, r.job_id, r.repeat) for r in records]
        planned = [step for step in planned_order(run_dir)
                   if not any(r.job_id == step[1] and r.status == "failed" and r.repeat < step[2] for r in records)]
        for serial in serials:
            assert [s for s in ran if s[0] == serial] == [s for s in planned if s[0] == serial]

    farm_rows = benchlab.load_results(farm_run).set_index("job_id").sort_index()
    local_rows = benchlab.load_results(local_run).set_index("job_id").sort_index()
    for column in ("status", "device_model", "tier", "accuracy", "latency_count", "variant", "accelerator"):
        farm_values, local_values = (rows[column].astype(object).fillna("-").tolist() for rows in (farm_rows, local_rows))
        assert farm_values == local_values, column
    assert farm_rows["accuracy"].notna().any()  # outputs came back from the workers and were scored
    (variant,) = RunRecord.load(farm_run).variants
    for worker in ("w1", "w2"):  # each worker ran the variant from its own cache, shipped by content hash
        cached = tmp_path / f"cache-{worker}" / "farm-files" / path_sha256(Path(variant.path))
        assert (cached / Path(variant.path).name).is_file()
    transports = {d.id: d.transport for d in benchlab.results.store.read_run_meta(farm_run).devices}
    assert transports == {serial: f"tcp via {name}" for serial, name in serials.items()}


@pytest.fixture()
def two_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackFarm]:
    yield from farm_of(tmp_path, monkeypatch, {"w1": [FLAGSHIP], "w2": [FLAGSHIP]})


def test_a_killed_worker_leaves_interrupted_rows_that_resume_finishes(tmp_path: Path, two_hosts: LoopbackFarm,
                                                                      tiny_tflite_path: Path, digits_npz: Path) -> None:
    farm = two_hosts
    (doomed,), (survivor,) = farm.phones["w1"], farm.phones["w2"]
    suite_path = suite_file(tmp_path, tiny_tflite_path, digits_npz, [f"android:{doomed.serial}",
                                                                     f"android:{survivor.serial}"], repeats=3)
    suite = load_suite(suite_path, RECIPES)

    def on_measurement(m) -> None:  # type: ignore[no-untyped-def]
        if m.device.id == doomed.serial and farm.workers["w1"].poll() is None:
            doomed.faults.hang_shell = "benchmark_model"  # its next repeat cannot finish before the kill
            farm.kill_worker("w1")

    with cluster_session(farm.address) as (devices, executor):
        outcome = run_suite(suite, suite_path, tmp_path / "results", Callbacks(say=lambda _m: None,
                            on_measurement=on_measurement), devices=devices, executor=executor)
    assert not outcome.interrupted  # the run went on with the other worker
    records = read_repeat_records(outcome.run_dir)
    planned = {(job, repeat) for _device, job, repeat in planned_order(outcome.run_dir)}
    assert Counter((r.job_id, r.repeat) for r in records) == Counter(planned)  # each repeat once, none lost
    lost = [r for r in records if r.device.id == doomed.serial]
    assert lost[0].status == "ok"
    assert [r.status for r in lost[1:]] == ["interrupted"] * (len(lost) - 1) and len(lost) > 1
    assert all(r.failure_cause == "interrupted" and "worker w1 left the cluster" in r.error for r in lost[1:])
    assert {r.status for r in records if r.device.id == survivor.serial} == {"ok"}

    doomed.faults.hang_shell = None
    farm.start_worker("w1")  # the host comes back
    farm.wait_for_devices([doomed.serial, survivor.serial])
    assert main(["run", "--resume", str(outcome.run_dir), "--cluster", farm.address]) == 0
    after = read_repeat_records(outcome.run_dir)
    latest = {(r.job_id, r.repeat): r for r in after}
    assert set(latest) == planned and {r.status for r in latest.values()} == {"ok"}
    rerun = Counter((r.job_id, r.repeat) for r in after[len(records):])
    assert set(rerun) == {(r.job_id, r.repeat) for r in lost[1:]} and set(rerun.values()) == {1}


def test_devices_lists_every_hosts_devices_with_their_host(farm: LoopbackFarm, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("BENCHLAB_CLUSTER", farm.address)  # as a farm's nightly job sets it
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    for name, owned in farm.phones.items():
        for phone in owned:
            line = next(line for line in out.splitlines() if phone.serial in line)
            assert phone.personality.model in line and line.rstrip().rstrip("│").rstrip().endswith(name)
        assert any(f"host@{name}" in line for line in out.splitlines())
    with cluster_session(farm.address) as (devices, _executor):
        phone = next(d for d in devices if d.info.id == farm.phones["w2"][0].serial)
        assert phone.worker_name == "w2" and phone.conditions().thermal_status == 0  # read on w2 over ADB


def test_an_unreachable_cluster_is_a_one_line_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["devices", "--cluster", f"tcp://127.0.0.1:{free_port()}"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("benchlab: error: cannot reach the Dask scheduler at tcp://127.0.0.1:")
    assert err.count("\n") == 1


def test_a_bad_suite_or_baseline_is_refused_before_the_farm_is_connected_to(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture) -> None:
    unreachable = f"tcp://127.0.0.1:{free_port()}"  # reaching it would end in exit 3, "cannot reach"
    bad_suite = tmp_path / "bad.yaml"
    bad_suite.write_text("name: bad\nmodels: []\n")
    assert main(["run", str(bad_suite), "--cluster", unreachable]) == 2
    assert "cannot reach" not in capsys.readouterr().err
    good_suite = tmp_path / "good.yaml"
    good_suite.write_text("name: good\nmodels: [{name: m, builtin: quickstart}]\nrecipes: [fp32]\n")
    for args in (["run", str(good_suite)], ["run", "--resume", str(tmp_path)]):
        assert main([*args, "--baseline", "no-such-run", "--results", str(tmp_path / "r"), "--cluster", unreachable]) == 2
        err = capsys.readouterr().err
        assert "no-such-run" in err and "cannot reach" not in err


def test_a_worker_re_advertises_a_phone_that_goes_and_comes_back(tmp_path: Path) -> None:
    with LoopbackFarm(tmp_path, {"w1": [FLAGSHIP]}, rediscover_seconds=0.5) as farm:
        (phone,) = farm.phones["w1"]
        phone.stop()  # the cable is pulled between runs
        farm.wait_for_devices([phone.serial], state="offline")
        back = LoopbackAdbDevice(FLAGSHIP, tmp_path / "w1-phone0", accept_new_keys=True, port=phone.port)
        with back:  # plugged in again
            farm.wait_for_devices([phone.serial], state="ready")


def test_a_worker_gone_before_its_files_are_shipped_gives_interrupted_rows(tmp_path: Path, two_hosts: LoopbackFarm,
                                                                           tiny_tflite_path: Path,
                                                                           digits_npz: Path) -> None:
    farm = two_hosts
    (gone,), (there,) = farm.phones["w1"], farm.phones["w2"]
    suite_path = suite_file(tmp_path, tiny_tflite_path, digits_npz, [f"android:{gone.serial}",
                                                                     f"android:{there.serial}"], repeats=1)
    with cluster_session(farm.address) as (devices, executor):
        farm.kill_worker("w1")  # after the client listed its phone
        outcome = run_suite(load_suite(suite_path, RECIPES), suite_path, tmp_path / "results", Callbacks(say=lambda _m: None),
                            devices=devices, executor=executor)
    records = read_repeat_records(outcome.run_dir)
    assert {(r.device.id, r.status) for r in records} == {(gone.serial, "interrupted"), (there.serial, "ok")}
    assert all("worker w1" in r.error for r in records if r.device.id == gone.serial)


def test_a_farm_phone_brings_back_energy_and_runs_its_sustained_session_on_its_worker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_tflite_path: Path, digits_npz: Path) -> None:
    """A railed phone that heats (simulated time: the same curve on any machine) owned by a worker: its
    repeats carry energy per inference back to the client, and its session runs on the worker, each
    window streamed back, with its energy, and stored by the client."""
    from dataclasses import replace

    from benchlab.results.layout import RunLayout
    from benchlab.results.sustained import sustained_curves
    from android_runner.loopback.personalities import HOT_FLAGSHIP
    from android_runner.loopback.power_rails import PIXEL6_RAILS

    # The worker's idle window, 0.5 s instead of 5 s: the loopback rails' idle power needs no longer.
    monkeypatch.setenv("BENCHLAB_ENERGY_IDLE_S", "0.5")
    with LoopbackFarm(tmp_path, {"w1": [replace(HOT_FLAGSHIP, power_rails=PIXEL6_RAILS)]}) as farm:
        for key, value in farm.client_env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
        (phone,) = farm.all_phones
        suite = suite_file(tmp_path, tiny_tflite_path, digits_npz, [f"android:{phone.serial}"], repeats=1)
        settings = yaml.safe_load(suite.read_text())
        settings["accelerators"] = [{"kind": "cpu", "threads": 1}]
        del settings["dataset"]  # no accuracy evaluation: what this test proves is energy and the session
        settings["scenario"].update({"energy": True, "sustained_minutes": 0.5, "op_profile_runs": 0})
        suite.write_text(yaml.safe_dump(settings))
        assert main(["run", str(suite), "--results", str(tmp_path / "results"), "--cluster", farm.address]) == 0
    (run_dir,) = (tmp_path / "results").iterdir()
    (row,) = benchlab.load_results(run_dir).to_dict("records")
    assert row["energy_repeats"] == 1 and row["energy_source"] == "powerstats-hal2", "energy came back from w1"
    (curve,) = sustained_curves(RunLayout(run_dir))
    assert curve.complete and curve.device_id == phone.serial and len(curve.points) == 10
    # Ten 3 s windows of simulated time on the hot flagship: it heats and throttles (tests/test_sustained.py).
    assert curve.kept_pct is not None and curve.kept_pct < 100
    assert [p.thermal_status for p in curve.points] == sorted(p.thermal_status for p in curve.points)
    assert all(p.energy_mj is not None for p in curve.points), "each window's energy came back with it"


def test_a_tasks_stop_watcher_passes_on_the_clients_stop_then_abort(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker side of Ctrl-C: the client's stop and abort Events reach a device's StopControl
    (and the device's abort), in that order; a finished task's watcher leaves without acting."""
    import threading

    from distributed import Client, Event, LocalCluster

    from benchlab.execute.executor import StopControl
    from benchlab.execute import farm_worker
    from benchlab.execute.farm_worker import _mirror_stop

    monkeypatch.setattr(farm_worker, "STOP_WATCH_SECONDS", 0.2)  # a finished task's watcher leaves sooner
    class Device:
        def __init__(self) -> None:
            self.aborted = threading.Event()

        def abort(self) -> None:
            self.aborted.set()

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster, Client(cluster):
        for ends_first in (False, True):
            stop, finished, device = StopControl(), threading.Event(), Device()
            watcher = threading.Thread(target=_mirror_stop, args=(f"run-{ends_first}", stop, finished, device))
            watcher.start()
            if ends_first:  # the task finished: the watcher leaves without acting
                finished.set()
                watcher.join(timeout=60)
                assert not watcher.is_alive() and not stop.stopping and not device.aborted.is_set()
                continue
            Event(f"run-{ends_first}-stop").set()
            assert stop.stop_dispatch.wait(timeout=60) and not stop.abort.is_set()
            Event(f"run-{ends_first}-abort").set()
            assert device.aborted.wait(timeout=60) and stop.abort.is_set()
            watcher.join(timeout=60)
            assert not watcher.is_alive()
