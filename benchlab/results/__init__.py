"""What was measured: the store, the run record, scoring and statistics."""
