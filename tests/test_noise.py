"""The noise floor: run-to-run changes of unchanged rows, from history, and how wide a short history makes it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchlab.nightly.noise import MIN_CHANGES, noise_floor_pct, noise_floors, unchanged_changes

KEY = ("m", "fp32", "phone", "cpu-t1")


def history(medians: list[float], sha: list[str] | None = None, os_version: list[str] | None = None) -> pd.DataFrame:
    n = len(medians)
    return pd.DataFrame({"model": "m", "variant": "fp32", "device_id": "phone", "accelerator": "cpu-t1",
                         "status": "ok", "latency_ms_median": medians, "run_order": range(n),
                         "variant_sha256": sha or ["a"] * n, "os_version": os_version or ["14"] * n,
                         "runner": "benchmark_model", "runner_version": "2.16"})


def test_only_consecutive_runs_with_the_same_file_os_and_runner_count() -> None:
    changes = unchanged_changes(history([1.0, 1.1, 1.0, 2.0, 2.2], sha=["a", "a", "a", "b", "b"]))
    assert changes[KEY] == pytest.approx([math.log(1.1), math.log(1 / 1.1), math.log(1.1)])
    os_update = unchanged_changes(history([1.0, 1.0, 1.5], os_version=["14", "14", "15"]))
    assert os_update[KEY] == [0.0]  # the OS update is not noise


def test_a_floor_needs_enough_changes_and_a_short_history_makes_it_wider() -> None:
    assert noise_floor_pct([0.05] * (MIN_CHANGES - 1)) is None
    floors = [noise_floor_pct([0.05] * k) for k in (3, 10, 30, 300)]
    assert floors == sorted(floors, reverse=True)
    assert floors[-1] == pytest.approx(100 * math.expm1(1.959964 * 0.05), rel=0.05)  # long history: z * sd


def test_floors_from_short_seeded_histories_cover_95_percent_of_later_unchanged_nights() -> None:
    """Nights 5% apart (sd of log latency): a floor from 4 changes must not be too narrow for the next night."""
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(2000):
        floor = noise_floor_pct(rng.normal(0, 0.05, 4))
        covered += abs(100 * math.expm1(rng.normal(0, 0.05))) <= floor
    assert covered / 2000 >= 0.95


def test_calibration_changes_join_the_history() -> None:
    floors = noise_floors(history([1.0, 1.02]), calibration={KEY: [0.03, -0.04]})
    assert set(floors) == {KEY} and floors[KEY] > 0


def test_energy_gets_its_own_floor_from_its_own_column() -> None:
    table = history([1.0, 1.0, 1.0, 1.0]).assign(energy_mj=[10.0, 12.0, 10.0, 12.0])
    latency, energy = noise_floors(table), noise_floors(table, column="energy_mj")
    assert latency[KEY] == 0.0 and energy[KEY] > 20  # energy moved 20% a night, latency not at all
    assert noise_floors(history([1.0] * 4), column="energy_mj") == {}  # runs without energy: no floor
