"""Decoding and validating received payloads (pure apart from reading the schema files)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

#: Schema ids (the payload's ``schema`` field) and their files under ``edge/schemas/``.
EMOTIONS_SCHEMA = "edge.emotions/1"
TELEMETRY_SCHEMA = "edge.telemetry/1"
_FILES = {EMOTIONS_SCHEMA: "emotions-1.schema.json", TELEMETRY_SCHEMA: "telemetry-1.schema.json"}

#: A window payload is under 1 KiB; anything above this is not one of ours.
MAX_PAYLOAD_BYTES = 64 * 1024


class PayloadError(ValueError):
    """A payload that is not a valid document; ``reason`` is a short machine-readable tag
    (``oversize``, ``binary``, ``json``, ``not_object``, ``unknown_schema``, ``schema``) and
    the message says what is wrong."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@cache
def load_schema(schema_id: str) -> dict[str, Any]:
    """The JSON Schema document of ``schema_id`` (e.g. ``edge.emotions/1``)."""
    text = resources.files("edge").joinpath("schemas", _FILES[schema_id]).read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


class PayloadDecoder:
    """Decodes UTF-8 JSON payloads and validates them against the schema they name (draft
    2020-12, with format checks), or against ``expect`` when given."""

    def __init__(self, max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        import jsonschema

        self.max_bytes = max_bytes
        checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
        self._validators = {
            sid: jsonschema.Draft202012Validator(load_schema(sid), format_checker=checker)
            for sid in _FILES
        }

    def validate(self, document: Any, schema_id: str = EMOTIONS_SCHEMA) -> None:
        """Raise :class:`PayloadError` (reason ``schema``) unless ``document`` is valid."""
        error = next(iter(self._validators[schema_id].iter_errors(document)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise PayloadError("schema", f"{schema_id} at {where}: {error.message[:300]}")

    def decode(self, payload: bytes, expect: str | None = None) -> dict[str, Any]:
        """The validated document in ``payload``; raises :class:`PayloadError`."""
        if len(payload) > self.max_bytes:
            raise PayloadError(
                "oversize", f"{len(payload)} bytes, more than the {self.max_bytes} allowed"
            )
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"{exc.reason} at byte {exc.start}"
            raise PayloadError("binary", f"not UTF-8 text ({where})") from None
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise PayloadError("json", f"not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise PayloadError("not_object", f"a JSON {type(document).__name__}, not an object")
        schema_id = document.get("schema")
        if schema_id not in self._validators or (expect is not None and schema_id != expect):
            wanted = expect or " or ".join(sorted(self._validators))
            raise PayloadError("unknown_schema", f"schema {schema_id!r}, expected {wanted}")
        self.validate(document, str(schema_id))
        return document
