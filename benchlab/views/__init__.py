"""What a person reads: the report, check warnings, plots, history and trends."""
