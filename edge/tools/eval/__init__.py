"""Measuring the classifier: metrics, calibration, datasets and the ``edge eval`` verb."""
