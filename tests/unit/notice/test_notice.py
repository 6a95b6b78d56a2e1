"""``edge notice``: the A4 sign (PDF, PNG, QR code) and the full notice in en/de/fr, made from
the deployment section, with the facts of docs/privacy.md in every language."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from PIL import Image

from edge.config import ConfigError, parse_text
from edge.notice.cli import check_deployment, write_notice
from edge.notice.sign import font_path
from edge.notice.text import LANGUAGES, notice_text, sign_text
from tests.artifacts import artifact_path

CONFIG = """\
# installation at the museum
deployment:
  operator: Musée Zürich & Söhne
  contact: datenschutz@example.org
  context: museum
  purpose: to see which exhibits visitors react to
  notice_location: at the entrance
  notice_url: https://example.org/edge-notice
  languages: [en, de, fr]
privacy:
  min_faces: 4
"""

#: Facts of docs/privacy.md every notice must state, per language.
FACTS = {
    "en": ["No image is stored or sent", "at least 4 faces", "not of how you feel",
           "Art. 50(3)", "Art. 5(1)(f)", "nobody is identified"],
    "de": ["kein Bild gespeichert oder gesendet", "mindestens 4 Gesichtern",
           "nicht wie Sie sich", "Art. 50 Abs. 3", "Art. 5 Abs. 1 Buchst. f",
           "niemand wird identifiziert"],
    "fr": ["Aucune image n'est enregistrée ni envoyée", "au moins 4 visages",
           "pas de ce que vous ressentez", "art. 50, par. 3", "art. 5, par. 1, point f",
           "personne n'est identifié"],
}


def test_texts_state_the_privacy_facts_and_operator_in_every_language() -> None:
    """Sign and full notice carry the operator, the contact, k and the key facts of
    docs/privacy.md (no image stored or sent, estimates not feelings, Art. 50(3) and
    Art. 5(1)(f)) in English, German and French."""
    config = parse_text(CONFIG)
    for lang in LANGUAGES:
        sign = sign_text(config, lang)
        notice = notice_text(config, lang)
        full = " ".join([sign.title, *sign.lines, *(t for s in notice.sections for t in s)])
        assert "Musée Zürich & Söhne" in sign.operator and "datenschutz@example.org" in full
        for fact in FACTS[lang]:
            assert fact.lower() in full.lower(), (lang, fact)


def test_bundled_font_covers_german_and_french() -> None:
    """The sign's font (bundled with reportlab, no system font) has glyphs for ä ö ü ß é è ç."""
    from reportlab.pdfbase.ttfonts import TTFont

    for bold in (False, True):
        face = TTFont("probe", str(font_path(bold))).face
        assert all(ord(c) in face.charToGlyph for c in "äöüßÄÖÜéèçàœ«»")


def test_files_are_a4_and_qr_decodes_to_the_url(tmp_path: Path) -> None:
    """For each language: a one-page A4 PDF, an A4 PNG at 200 dpi that decodes, whose QR
    code reads back as notice_url, and HTML/Markdown with the operator; the English PNG is
    kept as an artifact."""
    config = parse_text(CONFIG)
    written = write_notice(config, tmp_path)
    assert len(written) == 12
    detector = cv2.QRCodeDetector()
    for lang in LANGUAGES:
        pdf = (tmp_path / f"sign-{lang}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF")
        boxes = re.findall(rb"/MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", pdf)
        assert len(boxes) == 1
        assert abs(float(boxes[0][0]) - 595.28) < 0.1 and abs(float(boxes[0][1]) - 841.89) < 0.1
        png = tmp_path / f"sign-{lang}.png"
        with Image.open(png) as image:
            image.load()
            assert image.size == (1654, 2339)  # 210 x 297 mm at 200 dpi
            assert round(image.info["dpi"][0]) == 200
        decoded, _points, _ = detector.detectAndDecode(cv2.imread(str(png)))
        assert decoded == "https://example.org/edge-notice"
        page = (tmp_path / f"notice-{lang}.html").read_text(encoding="utf-8")
        assert f'<html lang="{lang}">' in page and "Musée Zürich &amp; Söhne" in page
        markdown = (tmp_path / f"notice-{lang}.md").read_text(encoding="utf-8")
        assert markdown.startswith("# ") and "Musée Zürich & Söhne" in markdown
    kept = artifact_path("sign-en.png")
    shutil.copyfile(tmp_path / "sign-en.png", kept)
    print(f"sign artifact: {kept}")


def test_qr_holds_the_text_without_a_url(tmp_path: Path) -> None:
    """Without notice_url the QR code holds the sign's text (title, facts, operator)."""
    config = parse_text(CONFIG.replace("  notice_url: https://example.org/edge-notice\n", "")
                        .replace("[en, de, fr]", "[de]"))
    write_notice(config, tmp_path)
    decoded, _p, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imread(str(tmp_path / "sign-de.png")))
    assert decoded.startswith("Kamera: anonyme Statistik")
    assert "Musée Zürich & Söhne" in decoded
    assert not (tmp_path / "sign-en.png").exists()


def test_notice_needs_operator_and_contact_and_a_lawful_context() -> None:
    """Without operator and contact, or in a workplace without exemption, no notice is
    made: a ConfigError names each missing key / Art. 5(1)(f)."""
    with pytest.raises(ConfigError) as info:
        check_deployment(parse_text("deployment:\n  context: museum\n"), "e.yaml", 2)
    assert [i.path for i in info.value.issues] == ["deployment.operator", "deployment.contact"]
    bad = parse_text("deployment:\n  operator: A\n  contact: b\n  context: education\n")
    with pytest.raises(ConfigError, match=r"Art\. 5\(1\)\(f\)"):
        check_deployment(bad, "e.yaml", 2)


@pytest.mark.integration
def test_cli_writes_files_and_exits_2_on_missing_operator(tmp_path: Path) -> None:
    """`edge notice` prints the written paths (exit 0); without deployment.operator it exits
    2 naming the key and the file's line."""
    good = tmp_path / "good.yaml"
    good.write_text(CONFIG.replace("[en, de, fr]", "[fr]"))
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "edge", "notice", "--config", str(good),
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "notice-fr.html", "notice-fr.md", "sign-fr.pdf", "sign-fr.png"]
    assert str(out / "sign-fr.pdf") in res.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("deployment:\n  contact: x@example.org\n")
    res = subprocess.run([sys.executable, "-m", "edge", "notice", "--config", str(bad),
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert f"{bad}:1: deployment.operator" in res.stderr


@pytest.mark.integration
def test_missing_extra_is_one_line_naming_pip(tmp_path: Path) -> None:
    """Without reportlab (the [setup] extra) `edge notice` exits 1 with one line that names
    the pip command, no traceback."""
    good = tmp_path / "good.yaml"
    good.write_text(CONFIG)
    code = ("import sys; sys.modules['reportlab'] = None; from edge.cli import main; "
            f"sys.exit(main(['notice', '--config', {str(good)!r}, '--out', {str(tmp_path)!r}]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "edge notice: reportlab is not installed; run pip install 'edge-emotion[setup]'"]
