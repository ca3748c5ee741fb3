"""Scoring core: policy file, six-dimension hardship scorer, removal scorer, alert decisions."""
