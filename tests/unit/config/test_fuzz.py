"""Property-based fuzzing of the configuration loader: whatever the text, the result is a
Config or a ConfigError with issues, never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config import Config, ConfigError, parse_text
from edge.config.root import Config as Root
from edge.config.source import redact_secrets

#: Real section and key names, so the fuzzer reaches the validators and not only
#: "unknown key".
KEYS: dict[str, list[str]] = {
    name: list(field.annotation.model_fields)  # type: ignore[union-attr]
    for name, field in Root.model_fields.items()
    if hasattr(field.annotation, "model_fields")
}

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["rtsp://u:p@h/x", "file:/nonexistent.mp4", "picamera2", "v4l2:0", ".nan",
                     "~", "&a", "*a", "!!python/object:os.system", "{", "[", "- x", ": :"]),
)


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str):
        return value if value and value.isprintable() and value[0] not in "'\"" else repr(value)
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A YAML-ish document: real keys with random values, random keys, odd syntax, noise."""
    lines: list[str] = []
    for section in draw(st.lists(st.sampled_from([*KEYS, "bogus", "mqtt"]), max_size=6)):
        lines.append(f"{section}:")
        keys = KEYS.get(section, ["x"])
        for key in draw(st.lists(st.sampled_from([*keys, "nope"]), max_size=5)):
            value = draw(st.one_of(SCALARS, st.lists(SCALARS, max_size=4)))
            if isinstance(value, list):
                lines.append(f"  {key}: [{', '.join(_yaml_scalar(v) for v in value)}]")
            else:
                lines.append(f"  {key}: {_yaml_scalar(value)}")
    text = "\n".join(lines) + "\n"
    noise = draw(st.sampled_from(["", "none", "bytes", "deep", "tab", "anchor"]))
    if noise == "bytes":
        position = draw(st.integers(0, len(text)))
        text = text[:position] + draw(st.text(max_size=8)) + text[position:]
    elif noise == "deep":
        depth = draw(st.integers(10, 400))
        text += "z: " + "[" * depth + "]" * draw(st.integers(0, depth)) + "\n"
    elif noise == "tab":
        text = text.replace("  ", "\t", 1)
    elif noise == "anchor":
        text += "y: &q [1, 2]\nw: [*q, *q, *q]\nv: *missing\n"
    return text


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_document_gives_a_config_or_a_config_error(text: str) -> None:
    """1,200 generated documents (real keys with random values, random bytes, deep nesting,
    aliases, tabs): each one validates or raises ConfigError with at least one issue that
    has a message and a hint and no URL credentials; nothing else escapes."""
    try:
        config = parse_text(text, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.issues
        assert all(issue.message and issue.hint for issue in exc.issues)
        assert redact_secrets(exc.render()) == exc.render()  # no URL credentials echoed
    else:
        assert isinstance(config, Config)
