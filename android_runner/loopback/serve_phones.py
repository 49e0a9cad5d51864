"""Serve loopback phones from their own process (benchmarks/farm.py), so their ADB servers do not
share an interpreter lock with the process that measures the harness, and so they can be served
inside a farm host's network namespace (hosts.py).

    python -m android_runner.loopback.serve_phones ROOT [--ports P1,P2,...] PERSONALITY[@RECORDED_OUTPUT] ...

Starts one phone per argument (a personality name from personalities.py, replaying the recorded
benchmark_model output when one is given; see replay.py) on 127.0.0.1, at the given ports (else
any free one), prints one line of JSON with their serials, and serves them until its standard
input closes.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path

from .device import LoopbackAdbDevice
from .personalities import PERSONALITIES
from .replay import replaying

#: The phones live as long as this process (its parent closes stdin to end it), not LoopbackAdbDevice's default.
LIFETIME_SECONDS = 7 * 24 * 3600.0


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--ports", type=lambda text: [int(p) for p in text.split(",")], default=None)
    parser.add_argument("specs", nargs="+", metavar="PERSONALITY[@RECORDED_OUTPUT]")
    args = parser.parse_args(argv)
    ports = args.ports or [0] * len(args.specs)
    if len(ports) != len(args.specs):
        parser.error(f"{len(ports)} ports for {len(args.specs)} phones")
    with ExitStack() as stack:
        serials = []
        for index, (spec, port) in enumerate(zip(args.specs, ports)):
            name, _, recorded = spec.partition("@")
            personality = replaying(PERSONALITIES[name], Path(recorded)) if recorded else PERSONALITIES[name]
            phone = stack.enter_context(LoopbackAdbDevice(personality, args.root / f"phone{index}", accept_new_keys=True,
                                                          port=port, lifetime_s=LIFETIME_SECONDS))
            serials.append(phone.serial)
        print(json.dumps(serials), flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main(sys.argv[1:])
