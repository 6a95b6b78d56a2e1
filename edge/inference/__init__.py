"""Inference stage: model manifest and loader, LiteRT runtime, face detector, classifier."""
