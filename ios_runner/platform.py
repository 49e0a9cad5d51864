"""What benchlab knows of iPhones before finding one (benchlab.platforms): the accelerator kinds the
runner app runs and the options ios_runner.protocol reads of each (Core ML's compute units among
them), and the formats an iPhone runs. Imports no device library: the suite is validated with it
before any iPhone is discovered.
"""

from __future__ import annotations

from benchlab.platforms import AcceleratorKind, Platform

#: Core ML's MLComputeUnits, the `compute_units` option of a `coreml` accelerator.
COMPUTE_UNITS = ("cpuOnly", "cpuAndGPU", "cpuAndNeuralEngine", "all")

IOS = Platform(
    name="ios",
    accelerators=(
        AcceleratorKind("cpu"),
        # LiteRT's Metal delegate.
        AcceleratorKind("gpu", frozenset({"gpu_precision_loss_allowed"})),
        # An .mlpackage with these compute units, or LiteRT's Core ML delegate for a .tflite.
        # require_full_delegation is accepted as on Android's delegates, but an iPhone enforces the
        # scenario's require_full_delegation (benchlab.records.full_delegation_failure), not this option.
        AcceleratorKind("coreml", frozenset({"compute_units", "require_full_delegation"}),
                        choices=(("compute_units", COMPUTE_UNITS),)),
    ),
    formats=frozenset({"tflite", "mlpackage"}),
)
