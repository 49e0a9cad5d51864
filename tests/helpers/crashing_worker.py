"""A host worker that dies of SIGSEGV, as a LiteRT kernel bug would take a worker down."""

import os
import signal

os.kill(os.getpid(), signal.SIGSEGV)
