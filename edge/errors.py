"""Which runtime failures the CLI reports as one clear line instead of a traceback."""

from __future__ import annotations


def describe_failure(exc: BaseException) -> str | None:
    """A user-facing message for known failure types; None for bugs (let them raise)."""
    from edge.camera.base import CaptureError
    from edge.inference.models import ModelError
    from edge.inference.runtime import RuntimeUnavailableError
    from edge.publish.connect import MqttSetupError
    from edge.publish.outbox_records import OutboxError
    from edge.service.health import WorkerFailedError
    from edge.service.state import StateDirError

    if isinstance(exc, ModelError | CaptureError | StateDirError | RuntimeUnavailableError):
        return str(exc)
    if isinstance(exc, MqttSetupError | OutboxError | WorkerFailedError):
        return str(exc)
    if isinstance(exc, RuntimeError) and "sequence file" in str(exc):
        return str(exc)
    return None
