"""A loopback phone whose benchmark tool replays a recorded real run: it sleeps, it does not compute.

A real phone computes on its own chip; loopback phones share this machine's cores, so 64 of them
benchmarking at once would measure the cores' contention rather than the harness. For
orchestration figures (benchmarks/farm.py) a replay personality swaps the stand-in benchmark_model
(a Python that loads LiteRT and runs the model, fake_benchmark_model.py) for a small ``/bin/sh``
script written into the phone's support folder: it reads the flags a harness passes, sleeps as
long as the recorded phone took for that many runs (init, warm-up runs at the recorded warm-up
average, timed runs at the recorded average, `--min_secs` and `--warmup_min_secs` honoured), and
prints the real tool's lines with the recorded figures. No Python and no LiteRT start per repeat,
so a phone's repeat costs this machine one ``sh`` and one ``sleep``. On a phone with power rails
it appends the replayed busy time to the rails' ledger, as the Python stand-in does.

What it cannot do, it refuses as a tool without the feature would: ``--output_filepath`` fails
(a replay has no outputs, so a suite measured on replaying phones has no dataset), ``--help``
lists no ``--output_filepath``. benchmark_model prints no per-iteration latencies, only
statistics, so every repeat prints the recorded run's statistics with the count run here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

from .personalities import Personality

#: The stand-in, rendered per phone with the recorded figures (integers in microseconds for the
#: sleeps, the recorded text for what it prints). dash has integer arithmetic only.
_SCRIPT = """#!/bin/sh
# benchmark_model on a loopback phone replaying {recorded} (android_runner/loopback/replay.py):
# sleeps as long as that phone took for the requested runs, prints its figures. No Python, no LiteRT.
runs=50 warmups=1 min_us=1000000 warmup_min_us=500000 graph= threads= unconsumed=
to_us() {{  # decimal seconds -> integer microseconds in $us, without a subshell
  whole=${{1%%.*}} frac=
  case $1 in *.*) frac=${{1#*.}} ;; esac
  frac="${{frac}}000000" ; frac=1${{frac%"${{frac#??????}}"}}  # a leading 1: no octal from 0-led digits
  us=$(( ${{whole:-0}} * 1000000 + frac - 1000000 ))
}}
sleep_us() {{ frac=$(( 1000000 + $1 % 1000000 )); sleep "$(( $1 / 1000000 )).${{frac#1}}"; }}
for arg; do
  case $arg in
    --help) printf 'usage: benchmark_model <flags>\\nFlags:\\n\\t--graph=\\tstring\\toptional\\tGraph\\n'; exit 1 ;;
    --graph=*) graph=${{arg#*=}} ;;
    --num_threads=*) threads=${{arg#*=}} ;;
    --num_runs=*) runs=${{arg#*=}} ;;
    --warmup_runs=*) warmups=${{arg#*=}} ;;
    --min_secs=*) to_us "${{arg#*=}}"; min_us=$us ;;
    --warmup_min_secs=*) to_us "${{arg#*=}}"; warmup_min_us=$us ;;
    --output_filepath=*) echo 'INFO: STARTING!'; echo 'ERROR: this phone replays a recorded run: it has no outputs to write'
                         echo 'ERROR: Benchmarking failed.'; exit 1 ;;
    --*=*) ;;
    *) unconsumed="$unconsumed $arg" ;;
  esac
done
echo 'INFO: STARTING!'
[ -n "$unconsumed" ] && echo "WARN: Unconsumed cmdline flags:$unconsumed"
echo 'INFO: Log parameter values verbosely: [0]'
echo "INFO: Graph: [$graph]"
[ -n "$threads" ] && echo "INFO: #threads used for CPU inference: [$threads]"
if [ ! -r "$graph" ]; then
  echo "ERROR: Could not open '$graph'."; echo 'ERROR: Failed to mmap model '"$graph"; echo 'ERROR: Benchmarking failed.'; exit 1
fi
echo "INFO: Loaded model $graph"
echo 'INFO: Initialized session in {init_ms}ms.'
[ $(( warmups * {warmup_us} )) -lt "$warmup_min_us" ] && warmups=$(( (warmup_min_us + {warmup_us} - 1) / {warmup_us} ))
[ $(( runs * {avg_us} )) -lt "$min_us" ] && runs=$(( (min_us + {avg_us} - 1) / {avg_us} ))
echo "INFO: Running benchmark for at least $warmups iterations and at least 0 seconds."
sleep_us $(( {init_us_int} + warmups * {warmup_us} ))  # the session's init, then the warm-up runs
[ "$warmups" -gt 0 ] && echo "INFO: count=$warmups first={first_us} curr={warmup_us} avg={warmup_avg_text}"
echo "INFO: Running benchmark for at least $runs iterations and at least 0 seconds."
sleep_us $(( runs * {avg_us} ))
# A phone with power rails (power_rails.py) charges its active power for the time it computed.
[ -n "$LOOPBACK_RAILS_LEDGER" ] && echo $(( warmups * {warmup_us} + runs * {avg_us} )) >> "$LOOPBACK_RAILS_LEDGER"
echo "INFO: count=$runs {stat_fields}"
echo 'INFO: Inference timings in us: Init: {init_us}, First inference: {first_us}, Warmup (avg): {warmup_avg_text}, Inference (avg): {avg_text}'
"""


@dataclass(frozen=True)
class ReplayPersonality(Personality):
    """A personality whose benchmark_model sleeps through a recorded run's timings (see the module)."""

    init_us: float = 0.0
    first_us: float = 0.0
    warmup_avg_us: float = 0.0
    replay_inference_us: float = 0.0
    #: The recorded timed runs' statistics after their count (min, max, std as recorded).
    stat_fields: str = ""
    #: Which recorded output the figures come from (shown next to the figures).
    recorded_from: str = ""

    def benchmark_model_script(self) -> str | None:
        """The sleeping stand-in's text (services.lay_out_device writes it, the shell runs it)."""
        return _SCRIPT.format(
            recorded=self.recorded_from, init_us_int=round(self.init_us), init_ms=f"{self.init_us / 1000:g}",
            init_us=f"{self.init_us:g}", first_us=f"{self.first_us:g}", warmup_us=max(1, round(self.warmup_avg_us)),
            warmup_avg_text=f"{self.warmup_avg_us:g}", avg_us=max(1, round(self.replay_inference_us)),
            avg_text=f"{self.replay_inference_us:g}", stat_fields=self.stat_fields)

    def repeat_seconds(self, warmup: int, iterations: int, min_seconds: float = 0.0) -> float:
        """How long one repeat of `iterations` timed runs after `warmup` sleeps on this phone."""
        runs = max(iterations, math.ceil(min_seconds * 1e6 / max(1, round(self.replay_inference_us))))
        return (round(self.init_us) + warmup * round(self.warmup_avg_us) + runs * round(self.replay_inference_us)) / 1e6


def replaying(base: Personality, recorded_output: Path) -> ReplayPersonality:
    """Return `base` whose benchmark_model replays the timings of a recorded benchmark_model run.

    Raises ValueError when the recorded output holds no complete run (init, warm-up and average).
    """
    from android_runner.benchmark_model import parse_output

    parsed = parse_output(recorded_output.read_text())
    if None in (parsed.avg_us, parsed.init_us, parsed.warmup_avg_us, parsed.first_us):
        raise ValueError(f"{recorded_output} holds no complete run (init, first, warm-up and average latency)")
    stats = " ".join(f"{key}={value:g}" for key, value in (("min", parsed.min_us), ("max", parsed.max_us),
                                                             ("avg", parsed.avg_us), ("std", parsed.std_us))
                     if value is not None)
    values = {f.name: getattr(base, f.name) for f in fields(Personality)}
    return ReplayPersonality(**values, init_us=parsed.init_us, first_us=parsed.first_us,
                             warmup_avg_us=parsed.warmup_avg_us, replay_inference_us=parsed.avg_us,
                             stat_fields=stats, recorded_from=recorded_output.name)
