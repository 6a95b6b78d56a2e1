"""Tracking stage: ephemeral in-memory tracks with smoothed estimates (pure, clock injected)."""

from __future__ import annotations

from edge.tracking.schedule import Schedule, TrackPlan
from edge.tracking.tracker import Tracker

__all__ = ["Schedule", "TrackPlan", "Tracker"]
