"""Where and how it runs: the Device protocol, the host device, the dispatcher, the thermal gate."""
