"""Run against run: comparisons, noise floors, within-run A/B, change points, CI outputs."""
