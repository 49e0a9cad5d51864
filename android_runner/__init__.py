"""benchlab's Android runner: devices over ADB."""
