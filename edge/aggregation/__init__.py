"""Aggregation stage: tumbling windows, k-anonymity, shares and dwell (pure, clock injected)."""

from __future__ import annotations

from edge.aggregation.windows import Aggregator

__all__ = ["Aggregator"]
