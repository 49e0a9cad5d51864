"""A loopback Android phone for tests: the device side of ADB on 127.0.0.1.

See ``device.py`` for the protocol and the fault switches, ``services.py`` for how shell and sync
map the phone's files onto a folder, ``personalities.py`` for the two phones, and
``fake_benchmark_model.py`` for the stand-in benchmark_model, ``ports.py`` for the ports its servers'
neighbours (an adb server, a Dask scheduler) are told to bind.
"""

from .android_pubkey import AndroidPublicKey, PublicKeyError
from .android_pubkey import decode as decode_public_key
from .device import Faults, LoopbackAdbDevice
from .personalities import FLAGSHIP, LOW_END, PERSONALITIES, Personality

__all__ = [
    "AndroidPublicKey",
    "FLAGSHIP",
    "Faults",
    "LOW_END",
    "LoopbackAdbDevice",
    "PERSONALITIES",
    "Personality",
    "PublicKeyError",
    "decode_public_key",
]
