"""A host worker that finds the disk full, as benchlab.execute.host_worker reports it."""

import sys

from benchlab.execute.host_device import EXIT_DISK_FULL

print("disk full at /tmp/benchlab-host-x/outputs.npz", file=sys.stderr)
sys.exit(EXIT_DISK_FULL)
