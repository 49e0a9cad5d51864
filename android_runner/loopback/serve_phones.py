"""Serve loopback phones from their own process (benchmarks/farm.py), so their ADB servers do not
share an interpreter lock with the process that measures the harness.

    python -m android_runner.loopback.serve_phones ROOT PERSONALITY[@RECORDED_OUTPUT] ...

Starts one phone per argument (a personality name from personalities.py, replaying the recorded
benchmark_model output when one is given; see replay.py), prints one line of JSON with their
serials, and serves them until its standard input closes.
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path

from .device import LoopbackAdbDevice
from .personalities import PERSONALITIES
from .replay import replaying


def main(argv: list[str]) -> None:
    root, specs = Path(argv[0]), argv[1:]
    with ExitStack() as stack:
        serials = []
        for index, spec in enumerate(specs):
            name, _, recorded = spec.partition("@")
            personality = replaying(PERSONALITIES[name], Path(recorded)) if recorded else PERSONALITIES[name]
            phone = stack.enter_context(LoopbackAdbDevice(personality, root / f"phone{index}", accept_new_keys=True))
            serials.append(phone.serial)
        print(json.dumps(serials), flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main(sys.argv[1:])
