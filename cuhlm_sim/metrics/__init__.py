"""Metric collection during a run (recorder) and the summary computed after it (compute)."""
