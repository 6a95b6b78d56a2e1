"""``edge notice --config PATH --out DIR``: the sign and the full notice, per language.

Cheap to import: the drawing libraries (the ``[setup]`` extra) load inside :func:`run`, and a
missing one is one line naming the pip command.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

from edge.config import Config, ConfigError, ConfigIssue, deployment_verdict
from edge.notice.text import NoticeText, SignText, notice_text, sign_text

EXTRA_HINT = "pip install 'edge-emotion[setup]'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, required=True, help="edge.yaml")
    parser.add_argument("--out", type=Path, required=True, help="folder for the files")


def check_deployment(config: Config, file: str, line: int | None) -> None:
    """A notice needs operator and contact, and is not made for a prohibited context."""
    dep = config.deployment
    issues = [
        ConfigIssue(f"deployment.{key}", line, f"edge notice needs deployment.{key}",
                    f"add deployment.{key} (see firmware_config/edge.yaml)")
        for key in ("operator", "contact")
        if getattr(dep, key) is None
    ]
    refusal = deployment_verdict(dep).refusal
    if refusal is not None:
        issues.append(ConfigIssue("deployment.context", line, refusal,
                                  deployment_verdict(dep).refusal_hint))
    if issues:
        raise ConfigError(file, issues)


def qr_data(config: Config, words: SignText) -> str:
    """The QR code's content: the full notice's URL, or else the sign's text."""
    dep = config.deployment
    if dep.notice_url:
        return dep.notice_url
    return "\n".join([words.title, *words.lines, words.operator, words.contact])


def markdown(notice: NoticeText) -> str:
    parts = [f"# {notice.title}", ""]
    for heading, body in notice.sections:
        parts += [f"## {heading}", "", body, ""]
    return "\n".join(parts)


def html_page(notice: NoticeText) -> str:
    esc = html.escape
    body = "\n".join(
        f"<h2>{esc(heading)}</h2>\n<p>{esc(text)}</p>" for heading, text in notice.sections
    )
    return (
        f'<!doctype html>\n<html lang="{notice.lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(notice.title)}</title>\n"
        "<style>body{font-family:sans-serif;max-width:42em;margin:2em auto;padding:0 1em;"
        "line-height:1.5}h1{color:#1d3557}</style>\n</head>\n<body>\n"
        f"<h1>{esc(notice.title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def write_notice(config: Config, out: Path) -> list[Path]:
    """Every file for every language in ``config.deployment.languages``; returns the paths."""
    from edge.notice.sign import write_sign

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for lang in config.deployment.languages:
        words = sign_text(config, lang)
        notice = notice_text(config, lang)
        pdf, png = out / f"sign-{lang}.pdf", out / f"sign-{lang}.png"
        write_sign(words, qr_data(config, words), pdf, png)
        md, page = out / f"notice-{lang}.md", out / f"notice-{lang}.html"
        md.write_text(markdown(notice), encoding="utf-8")
        page.write_text(html_page(notice), encoding="utf-8")
        written += [pdf, png, page, md]
    return written


def run(args: argparse.Namespace) -> int:
    from edge.config.loader import load_document

    loaded = load_document(args.config)  # a ConfigError is rendered by the CLI (exit 2)
    check_deployment(loaded.config, loaded.file, loaded.line_for("deployment"))
    try:
        import PIL  # noqa: F401
        import reportlab  # noqa: F401
        import segno  # noqa: F401
    except ImportError as exc:
        print(f"edge notice: {exc.name} is not installed; run {EXTRA_HINT}", file=sys.stderr)
        return 1
    for path in write_notice(loaded.config, args.out):
        print(path)
    return 0
