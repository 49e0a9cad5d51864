"""Loopback TCP ports a test names before anything binds them: for a server it starts in another
process (a stock adb server, a Dask scheduler), or as a port where nothing answers.

A port the kernel picked (bind to 0, then close) is free only until the kernel hands it to someone
else: a loopback phone of the other pytest-xdist worker, an outgoing connection. These come from
below the kernel's ephemeral range (Linux: 32768-60999), which it never hands out by itself, from a
block of each xdist worker's own, so the suite's workers never name the same port. Each is checked
free when it is given, and the next call gives the next port of the block, so a server that is still
closing is not named again. Where in its block a process starts is random: two test sessions on one
machine rarely meet, and when one holds a port the other's check skips it.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

#: The first block's lowest port.
FIRST_PORT = 20_000
#: Ports per xdist worker; six blocks fit below 32768.
BLOCK = 2_000
WORKER_BLOCKS = 6

#: Offsets into the block, from a random one (its own generator: a test that seeds `random` does not move it).
_offsets = itertools.count(random.Random().randrange(BLOCK))


def _block_start() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # set in each xdist worker (gw0, gw1, ...)
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    return FIRST_PORT + BLOCK * (index % WORKER_BLOCKS)


def free_port() -> int:
    """Return a port of this worker's block that nothing on 127.0.0.1 is bound to now.

    Raises RuntimeError when the whole block is taken.
    """
    start = _block_start()
    for _ in range(BLOCK):
        port = start + next(_offsets) % BLOCK
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # bound by another session, or a server of ours still closing
        return port
    raise RuntimeError(f"no free port in {start}-{start + BLOCK - 1} on 127.0.0.1")
