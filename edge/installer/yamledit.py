"""Write masks and the region of interest into the YAML file, keeping its comments and layout
(ruamel.yaml round-trip), after the same checks as ``edge config check``.

Only ``privacy.masks`` and ``privacy.roi`` change; every region is written in normalised
units (``units: normalized``, points as ``[x, y]`` fractions), which the loader has always
read next to pixel regions. The new text is validated and pre-flighted from a temporary file
beside the original and then moved over it atomically, so a failed save leaves the file as
it was.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from edge.config.errors import ConfigError
from edge.installer.geometry import Point


def _null(representer: Any, _data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(type(None), _null)  # keep `null`, not an empty value
    return yaml


def _comment_lines(parent: CommentedMap, key: str) -> tuple[str, list[str]]:
    """The comments that follow ``parent[key]`` (an inline one and whole lines), removed from
    where ruamel keeps them, so they can be put back after the new value."""
    inline, lines = "", []
    entry = parent.ca.items.get(key)
    if entry is not None and len(entry) > 2 and entry[2] is not None:
        text = str(entry[2].value)
        first, _, rest = text.partition("\n")
        inline = first.strip()
        lines += [line.strip() for line in rest.split("\n")][:-1]
        entry[2] = None
    value = parent.get(key)
    if isinstance(value, CommentedSeq) and value.ca.end:
        for token in value.ca.end:
            lines += [line.strip() for line in str(token.value).split("\n")][:-1]
        value.ca.end = []
    return inline, lines


def _put_back(parent: CommentedMap, key: str, inline: str, lines: list[str], indent: int) -> None:
    """Attach the comments taken by :func:`_comment_lines` after the new ``parent[key]``."""
    if not inline and not lines:
        return
    value = parent[key]
    whole = [CommentToken((line + "\n") if line else "\n", CommentMark(indent)) for line in lines]
    if isinstance(value, CommentedSeq) and not value.fa.flow_style() and len(value):
        if inline:
            whole.insert(0, CommentToken(inline + "\n", CommentMark(indent)))
        value.ca.end = whole
        return
    if isinstance(value, CommentedMap):
        keys = list(parent.keys())
        following = keys[keys.index(key) + 1] if keys.index(key) + 1 < len(keys) else None
        if following is not None:
            if inline:
                whole.insert(0, CommentToken(inline + "\n", CommentMark(indent)))
            entry = parent.ca.items.setdefault(following, [None, None, None, None])
            entry[1] = whole + list(entry[1] or [])
        return
    text = (inline + "\n" if inline else "\n") + "".join(
        (" " * indent + line if line else "") + "\n" for line in lines
    )
    entry = parent.ca.items.setdefault(key, [None, None, None, None])
    entry[2] = CommentToken(text, CommentMark(indent))


def _flow(items: list[object]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _region(points: Sequence[Point]) -> CommentedMap:
    region = CommentedMap()
    region["units"] = "normalized"
    region["points"] = _flow([_flow([x, y]) for x, y in points])
    return region


def _key_indent(text: str, section: str) -> int:
    """Indentation of the keys under ``section:`` in ``text`` (2 when it cannot be seen)."""
    found = False
    for line in text.splitlines():
        if line.startswith(f"{section}:"):
            found = True
        elif found and line.strip() and not line.lstrip().startswith("#"):
            return len(line) - len(line.lstrip(" "))
    return 2


def with_regions(text: str, masks: Sequence[Sequence[Point]], roi: Sequence[Point] | None) -> str:
    """``text`` with ``privacy.masks`` and ``privacy.roi`` replaced; everything else (comments,
    order, other keys) as it was."""
    yaml = _yaml()
    document = yaml.load(text) if text.strip() else None
    if document is None:
        document = CommentedMap()
    if not isinstance(document, CommentedMap):
        raise ValueError("the file does not hold a mapping of keys")
    privacy = document.get("privacy")
    if not isinstance(privacy, CommentedMap):
        privacy = CommentedMap()
        document["privacy"] = privacy
    indent = _key_indent(text, "privacy")
    mask_seq = CommentedSeq([_region(m) for m in masks]) if masks else _flow([])
    for key, value in (("masks", mask_seq), ("roi", _region(roi) if roi is not None else None)):
        inline, lines = _comment_lines(privacy, key) if key in privacy else ("", [])
        privacy[key] = value
        _put_back(privacy, key, inline, lines, indent)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def save_regions(
    path: Path,
    masks: Sequence[Sequence[Point]],
    roi: Sequence[Point] | None,
    env: Mapping[str, str],
) -> str:
    """Validate and write; return the new text. Raises
    :class:`~edge.config.errors.ConfigError` (the file untouched) when the result would not
    pass ``edge config check``."""
    from edge.preflight import checked_config

    new_text = with_regions(path.read_text(encoding="utf-8"), masks, roi)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_text)
            fh.flush()
            os.fsync(fh.fileno())
        try:  # the same validation and pre-flight as `edge config check`
            checked_config(tmp, env)
        except ConfigError as exc:
            raise ConfigError(str(path), exc.issues) from None
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return new_text
