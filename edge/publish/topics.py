"""Topic names: the only place topic strings are built. Pure."""

from __future__ import annotations

from dataclasses import dataclass

STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one device under one prefix."""

    prefix: str
    device_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def emotions(self) -> str:
        return f"{self.base}/emotions"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def state(self) -> str:
        """Retained copy of the latest window (Home Assistant sensors read it)."""
        return f"{self.base}/state"

    @property
    def telemetry(self) -> str:
        return f"{self.base}/telemetry"

    @property
    def analysis_set(self) -> str:
        """Commands ``ON``/``OFF`` that resume/pause analysis."""
        return f"{self.base}/analysis/set"

    @property
    def analysis_state(self) -> str:
        return f"{self.base}/analysis/state"
