"""A loopback phone whose benchmark tool spends the device's time waiting, not on this CPU.

A real phone computes on its own chip; loopback phones share this machine's cores, so four of
them benchmarking at once would measure the cores' contention rather than the harness. For
orchestration figures (benchmarks/farm.py) a replay personality makes the stand-in
benchmark_model run each inference for real (the outputs stay real) and then wait out the rest of
a latency taken from a recorded real run, so a repeat lasts about as long as on that phone while
this machine's CPU does little.

benchmark_model prints no per-iteration latencies, only statistics, so every iteration waits the
recorded run's average.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from .personalities import Personality


@dataclass(frozen=True)
class ReplayPersonality(Personality):
    """A personality whose stand-in benchmark_model waits `replay_inference_us` per inference."""

    replay_inference_us: float = 0.0
    #: Which recorded output the latency comes from (shown next to the figures).
    recorded_from: str = ""

    def benchmark_config(self) -> dict[str, object]:
        """The base facts plus the replayed latency (read by fake_benchmark_model.device_config)."""
        return {**super().benchmark_config(), "replay_inference_us": self.replay_inference_us}


def replaying(base: Personality, recorded_output: Path) -> ReplayPersonality:
    """Return `base` whose inferences last as long as the average of a recorded benchmark_model run.

    Raises ValueError when the recorded output holds no average latency.
    """
    from android_runner.benchmark_model import parse_output

    parsed = parse_output(recorded_output.read_text())
    if parsed.avg_us is None:
        raise ValueError(f"{recorded_output} holds no average inference latency")
    values = {f.name: getattr(base, f.name) for f in fields(Personality)}
    return ReplayPersonality(**values, replay_inference_us=parsed.avg_us, recorded_from=recorded_output.name)
