"""The wire side of the remote pause: ``ON``/``OFF`` on ``analysis/set`` and the retained state.

Pure. The persisted switch that acts on it is :class:`edge.service.pause.AnalysisSwitch`.
"""

from __future__ import annotations

from edge.publish.message import OutboundMessage
from edge.publish.topics import Topics

ANALYSIS_ON = "ON"
ANALYSIS_OFF = "OFF"


def parse_switch(payload: bytes) -> bool | None:
    """Exactly ``ON`` -> True, exactly ``OFF`` -> False (what Home Assistant's switch sends);
    anything else -> None, which the caller ignores."""
    return {b"ON": True, b"OFF": False}.get(payload)


def analysis_state_message(topics: Topics, enabled: bool) -> OutboundMessage:
    """Retained ``ON``/``OFF`` on ``{prefix}/{device}/analysis/state``."""
    text = ANALYSIS_ON if enabled else ANALYSIS_OFF
    return OutboundMessage(topics.analysis_state, text.encode(), 1, retain=True)
