"""What a host runtime declares, and the Session the measuring worker drives (see benchlab.execute.host_runtimes)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib.metadata import PackageNotFoundError, version
from typing import ClassVar

import numpy as np

from benchlab.tensors import Feeds, ModelIO


class ModelRefused(Exception):
    """The runtime would not load or prepare the model; the message is one line, in the runtime's words."""


class Session(ABC):
    """One model loaded in the worker's process: inputs set by sample, invoked, outputs read."""

    #: The model's inputs and outputs, as the runtime describes them.
    io: ModelIO

    def prepare(self, feeds: Feeds) -> None:
        """Fit the model to the data before the first sample is set (resize dynamic inputs); most need nothing.

        Raises ValueError when the data does not fit.
        """

    @abstractmethod
    def set_sample(self, feeds: Feeds, index: int) -> None:
        """Set every input to sample `index` of its feed (keyed by the input's name)."""

    @abstractmethod
    def invoke(self) -> None:
        """Run the model once on the inputs set last: the call the worker times."""

    @abstractmethod
    def outputs(self) -> dict[str, np.ndarray]:
        """Return the last invocation's outputs by name, one sample each (batch first), as numbers to compare."""


class HostRuntime(ABC):
    """A runtime that runs one variant format on this machine's CPU."""

    #: The format it runs (a benchlab.formats name).
    name: ClassVar[str]
    #: The runner's name in a Measurement, e.g. "litert-python".
    runner: ClassVar[str]
    #: The package whose version is the runner's version.
    package: ClassVar[str]

    def version(self) -> str:
        """Return the runner's version: its package's, or "missing" when it is not installed."""
        try:
            return version(self.package)
        except PackageNotFoundError:
            return "missing"

    @abstractmethod
    def load_library(self) -> None:
        """Import the runtime's library: the worker does it before it starts the init timer, so the init time
        is the model's load, not the import of torch or LiteRT."""

    @abstractmethod
    def open(self, model_path: str, threads: int, xnnpack: bool) -> Session:
        """Load the model on `threads` threads (with the XNNPACK delegate where the runtime can leave it
        out and `xnnpack` asks for it) and return its Session. Raises ModelRefused in one line."""
