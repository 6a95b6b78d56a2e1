"""The wire contract both sides share: the payload JSON Schemas (``edge/schemas/``) and the
code that decodes and validates payloads against them.

The device's tests validate what it publishes with :class:`PayloadDecoder`, and the fleet
collector (:mod:`edge.fleet`) validates what it receives with the same class, so there is one
copy of the rules. ``jsonschema`` is imported only when a decoder is built (the test and fleet
extras have it; a device's install does not need it).
"""

from edge.contract.decode import (
    EMOTIONS_SCHEMA,
    MAX_PAYLOAD_BYTES,
    TELEMETRY_SCHEMA,
    PayloadDecoder,
    PayloadError,
    load_schema,
)

__all__ = [
    "EMOTIONS_SCHEMA",
    "MAX_PAYLOAD_BYTES",
    "TELEMETRY_SCHEMA",
    "PayloadDecoder",
    "PayloadError",
    "load_schema",
]
