"""Scores the whole pipeline: datasets, metrics (plain dicts) and the runner."""
