"""What to run: the suite, its data, the built-in model and device profiles."""
