"""``edge privacy report --config PATH``: what leaves the device with this config, in plain words.

Written for an operator's data-protection record (records of processing, DPIA annex). Every
statement is derived from the validated configuration and the shipped JSON Schemas, so the
report cannot drift from what the service does. Cheap to import: heavy work happens in ``run``.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from importlib import resources
from typing import Any

from edge.config.source import redact_secrets

#: Plain-language meaning of every field of edge.emotions/1 (a test checks the coverage).
EMOTIONS_FIELDS: dict[str, str] = {
    "schema": "payload format name and version",
    "device": "this sensor's id (the same as in the topic)",
    "epoch": "random id of this device's message store, new when its storage is wiped",
    "seq": "window counter of this device, to detect lost messages",
    "window_start": "start time of the window (UTC)",
    "window_end": "end time of the window (UTC)",
    "duration_s": "window length in seconds",
    "faces": "number of distinct faces (short-lived tracks) counted in the window",
    "mean_faces_present": "average number of faces visible at once",
    "median_dwell_s": "median time the window's faces were seen for",
    "expressions": "share of each of 7 expression estimates over all faces together",
    "dominant": "the expression estimate with the largest share",
    "dominant_counts": "how many faces had each expression estimate as their most likely one",
    "valence": "one number in [-1, 1] summarising the shares (pleasant minus unpleasant)",
    "confidence": "the models' average certainty (not calibrated accuracy)",
    "frames": "how many camera frames were analysed",
    "suppressed": "true when too few faces were counted to publish expressions",
    "partial": "true for a window cut short (shutdown, pause)",
    "historical": "true when the window was delivered late (after an outage)",
    "camera_lost_s": "seconds of the window in which the camera delivered no picture",
    "dp": "differential-privacy statement: epsilon and noise scales",
    "model": "names and checksums of the two models used",
}

#: Fields other payloads share, for schemas that do not describe them.
COMMON_FIELDS: dict[str, str] = {
    "schema": "payload format name and version",
    "device": "this sensor's id",
    "time": "when the message was made (UTC)",
    "model": "names and checksums of the models",
    "outbox": "undelivered window summaries waiting on the device: count, bytes, age, drops",
    "camera": "whether the camera delivers pictures (ok, opening, lost, paused), since when",
}

NEVER_SENT = (
    "images, video, thumbnails or crops of any kind",
    "face boxes, coordinates, landmarks or any position in the picture",
    "face embeddings, templates or anything that could re-identify a person",
    "track ids or any per-person record; every number describes a whole window",
    "anything about the masked regions (their pixels never reach a model)",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``edge privacy report --config PATH``."""
    actions = parser.add_subparsers(dest="privacy_action", required=True, metavar="ACTION")
    report = actions.add_parser(
        "report", help="plain-language statement of what leaves the device with a config"
    )
    report.add_argument("--config", "-c", required=True, help="edge.yaml")


def run(args: argparse.Namespace) -> int:
    from edge.config import device_id, load

    config = load(args.config)  # a ConfigError is rendered by the CLI (exit 2)
    print(render(config, device_id(config.device), source=str(args.config)))
    return 0


def _schemas() -> dict[str, dict[str, Any]]:
    folder = resources.files("edge") / "schemas"
    out: dict[str, dict[str, Any]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".schema.json"):
            document: dict[str, Any] = json.loads(entry.read_text(encoding="utf-8"))
            out[entry.name] = document
    return out


def _para(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=96, initial_indent=indent, subsequent_indent=indent)


def _item(text: str) -> str:
    return textwrap.fill(text, width=96, initial_indent="    - ", subsequent_indent="      ")


def _fields(schema: dict[str, Any], plain: dict[str, str]) -> list[str]:
    lines = []
    for name, spec in schema.get("properties", {}).items():
        meaning = plain.get(name) or spec.get("description") or COMMON_FIELDS.get(name)
        lines.append(_item(f"{name}: {meaning or '(see the schema)'}"))
    return lines


def _cadence(seconds: float) -> str:
    per_hour = 3600.0 / seconds
    return f"every {seconds:g} s ({per_hour:g} per hour)"


def _topics_section(config: Any, device: str) -> list[str]:
    from edge.publish.topics import Topics

    topics = Topics(config.mqtt.topic_prefix, device)
    window = _cadence(config.aggregation.window_s)
    rows = [
        (topics.emotions, f"one window summary {window}, QoS {config.mqtt.qos}, not retained"),
        (topics.status, "the word online/offline, retained"),
    ]
    state = getattr(topics, "state", None)
    if state is not None:
        rows.append((state, "a retained copy of the latest window summary (identical bytes)"))
    telemetry = getattr(config, "telemetry", None)
    if telemetry is not None and hasattr(topics, "telemetry"):
        rows.append(
            (topics.telemetry, f"health numbers {_cadence(telemetry.interval_s)} (fields below)")
        )
    if hasattr(topics, "analysis_state"):
        rows.append((topics.analysis_state, "the word ON/OFF (analysis paused or not), retained"))
    ha = getattr(config, "homeassistant", None)
    if ha is not None and ha.enabled:
        rows.append(
            (f"{ha.discovery_prefix}/...", "Home Assistant discovery: entity names and topics")
        )
    tls = getattr(config.mqtt, "tls", None)
    secured = "TLS-encrypted" if tls is not None and tls.enabled else "NOT encrypted (no TLS)"
    lines = [_para(f"Broker {config.mqtt.host}:{config.mqtt.port}, connection {secured}.")]
    lines += [_item(f"{topic}: {what}") for topic, what in rows]
    return lines


def _privacy_section(config: Any, live_count: bool) -> list[str]:
    from edge.privacy.dp import DpBudget

    privacy = config.privacy
    k = privacy.min_faces
    lines = [
        _para(
            f"k-anonymity: a window with fewer than k = {k} distinct faces carries only counts "
            "and times (faces, mean_faces_present, median_dwell_s, frames) and "
            "suppressed: true; no "
            "expression shares, dominant expression, dominant_counts, valence or confidence."
            + (" k = 1 or 2 gives little protection." if k < 3 else "")
        )
    ]
    budget = DpBudget.from_config(privacy.dp)
    if budget is None:
        lines.append(_para("Differential privacy: off. Published numbers are exact."))
    else:
        hourly = budget.epsilon * 3600.0 / config.aggregation.window_s
        lines.append(
            _para(
                f"Differential privacy: on, epsilon = {budget.epsilon:g} per window and per "
                f"face track ({budget.counts_epsilon:g} on counts, Laplace scale "
                f"{budget.counts_scale:.3g}; {budget.shares_epsilon:g} on expression shares, "
                f"scale {budget.shares_scale:.3g}). median_dwell_s and confidence are withheld. "
                "Budgets add up: a person seen in n windows is covered by n x epsilon, e.g. "
                f"{hourly:g} for one hour in view at this window length. The suppressed flag "
                "is exact and not covered by epsilon."
                + (
                    " Telemetry's live face count (faces_now) is withheld (null) while DP is on."
                    if live_count
                    else ""
                )
            )
        )
    return lines


def _region(region: Any) -> str:
    if region.rect is not None:
        return f"rectangle {[f'{v:g}' for v in region.rect]} ({region.units})".replace("'", "")
    return f"polygon of {len(region.polygon())} points ({region.units})"


def _device_section(config: Any) -> list[str]:
    privacy = config.privacy
    cam = config.camera
    masks = privacy.masks
    mask_text = (
        f"{len(masks)} privacy mask(s) are blacked out on every frame before any model sees "
        f"it: {'; '.join(_region(m) for m in masks)}."
        if masks
        else "No privacy masks: the whole picture is analysed."
    )
    roi = privacy.roi
    roi_text = (
        f"Region of interest, {_region(roi)}: only faces whose centre lies inside it are "
        "analysed and counted."
        if roi is not None
        else "No region of interest: faces anywhere in the (masked) picture count."
    )
    size_text = (
        f"Faces smaller than {privacy.min_face_px} px (shorter side of the face box) are ignored."
        if privacy.min_face_px
        else "No minimum face size."
    )
    tracking = config.tracking
    return [
        _para(
            f"Camera source {redact_secrets(cam.source)}. Each frame is held in memory only "
            "while it is analysed and is then overwritten by the next; frames are never "
            "written to disk or sent."
        ),
        _para(mask_text),
        _para(roi_text + " " + size_text),
        _para(
            "Faces are followed by short-lived in-memory tracks with numbers that never leave "
            f"the process; a track is forgotten {tracking.max_missed_s:g} s after its face was "
            f"last seen and counts only once seen for {tracking.min_seen_s:g} s. A person who "
            "leaves and comes back later counts as a new face."
        ),
        _para(
            "On disk (state directory): the window sequence number and, while the broker is "
            "unreachable, undelivered window summaries (the same JSON as on the wire). The "
            "service log records per window only seq, faces, frames, suppressed and partial."
        ),
    ]


def _deployment_section(config: Any) -> list[str]:
    """``deployment:`` as declared, and what the AI Act makes of its context."""
    from edge.config.deployment import deployment_verdict

    dep = getattr(config, "deployment", None)
    if dep is None:
        return [_para("No deployment section in this configuration.")]
    rows = [
        ("operator", dep.operator),
        ("contact", dep.contact),
        ("context", dep.context),
        ("purpose", dep.purpose),
        ("notice posted", dep.notice_location),
        ("full notice", dep.notice_url),
        ("languages", ", ".join(dep.languages)),
        ("exemption", dep.exemption),
    ]
    lines = [_item(f"{name}: {value if value is not None else '(not declared)'}")
             for name, value in rows]
    verdict = deployment_verdict(dep)
    for text in (verdict.refusal, verdict.warning, verdict.note):
        if text is not None:
            lines.append(_para(text[0].upper() + text[1:] + "."))
    return lines


def _has_live_count(config: Any, schemas: dict[str, dict[str, Any]]) -> bool:
    telemetry = schemas.get("telemetry-1.schema.json", {})
    return hasattr(config, "telemetry") and "faces_now" in telemetry.get("properties", {})


def render(config: Any, device: str, *, source: str = "edge.yaml") -> str:
    """The whole report as plain text."""
    schemas = _schemas()
    parts = [
        f"edge-emotion privacy report for {source} (device {device})",
        "",
        "1. On the device",
        *_device_section(config),
        "",
        "2. What is sent",
        *_topics_section(config, device),
        "",
        "3. Anonymity rules",
        *_privacy_section(config, _has_live_count(config, schemas)),
        "",
        "4. Every field sent",
    ]
    deployment = _deployment_section(config)
    for name, schema in schemas.items():
        title = schema.get("title", name)
        parts.append(_para(f"{title} ({name}):"))
        plain = EMOTIONS_FIELDS if name.startswith("emotions") else {}
        parts += _fields(schema, plain)
    parts += ["", "5. Never sent", *(_item(item) for item in NEVER_SENT)]
    parts += [
        "",
        "6. What the numbers are",
        _para(
            "Expression estimates describe how faces look to a model trained on posed "
            "photographs; they are not measurements of feelings, are less accurate for some "
            "groups of people, and must not be used to decide anything about an individual. "
            "The EU AI Act, Art. 5(1)(f), prohibits emotion recognition in workplaces and "
            "education institutions (except for medical or safety reasons): do not deploy "
            "there. See docs/privacy.md."
        ),
    ]
    parts += ["", "7. Deployment", *deployment]
    return "\n".join(parts)
