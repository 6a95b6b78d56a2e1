"""The printable A4 sign: one layout, drawn twice (vector PDF with reportlab, PNG with Pillow).

The layout works in millimetres from the top-left corner and talks to a small
:class:`Painter`; each backend turns that into its own calls. Text is set in Bitstream Vera,
the font bundled with reportlab (covers ä ö ü ß é è ç; licence in reportlab/fonts), so no
system font is needed on a Pi. The pictogram (a camera looking at a face) is drawn here; the QR
code's modules come from segno. Imported only by ``edge notice`` (the ``[setup]`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import reportlab
import segno
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as pdf_canvas

from edge.notice.text import SignText

RGB = tuple[int, int, int]
PAGE_W_MM, PAGE_H_MM = 210.0, 297.0
MM_PER_PT = 25.4 / 72.0
PNG_DPI = 200
BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)
BAND: RGB = (29, 53, 87)
_FONTS = {False: "EdgeVera", True: "EdgeVeraBold"}


def font_path(bold: bool) -> Path:
    """Bitstream Vera as bundled with reportlab (no system font needed)."""
    return Path(reportlab.__file__).parent / "fonts" / ("VeraBd.ttf" if bold else "Vera.ttf")


def _register_fonts() -> None:
    for bold, name in _FONTS.items():
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(font_path(bold))))


def text_width_mm(text: str, size_pt: float, bold: bool = False) -> float:
    _register_fonts()
    return float(pdfmetrics.stringWidth(text, _FONTS[bold], size_pt)) * MM_PER_PT


def wrap(text: str, size_pt: float, width_mm: float, bold: bool = False) -> list[str]:
    """Greedy word wrap to ``width_mm`` (a word longer than the line stands alone)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        probe = f"{current} {word}" if current else word
        if current and text_width_mm(probe, size_pt, bold) > width_mm:
            lines.append(current)
            current = word
        else:
            current = probe
    if current:
        lines.append(current)
    return lines


class Painter(Protocol):
    """Drawing calls in millimetres, y downwards from the top-left corner."""

    def rect(
        self, x: float, y: float, w: float, h: float, *, fill: RGB | None = None,
        stroke: RGB | None = None, width: float = 0.0, radius: float = 0.0,
    ) -> None: ...
    def ellipse(
        self, x: float, y: float, w: float, h: float, *, fill: RGB | None = None,
        stroke: RGB | None = None, width: float = 0.0,
    ) -> None: ...
    def polygon(self, points: list[tuple[float, float]], fill: RGB) -> None: ...
    def polyline(self, points: list[tuple[float, float]], color: RGB, width: float) -> None: ...
    def text(
        self, x: float, y: float, text: str, *, size_pt: float, bold: bool, color: RGB
    ) -> None: ...


class PdfPainter:
    """reportlab canvas, one A4 page (vector)."""

    def __init__(self, path: Path) -> None:
        _register_fonts()
        self._c = pdf_canvas.Canvas(str(path), pagesize=A4)
        self._pt = 72.0 / 25.4

    def _xy(self, x: float, y: float) -> tuple[float, float]:
        return x * self._pt, (PAGE_H_MM - y) * self._pt

    def _style(self, fill: RGB | None, stroke: RGB | None, width: float) -> tuple[int, int]:
        if fill is not None:
            self._c.setFillColorRGB(*(v / 255 for v in fill))
        if stroke is not None:
            self._c.setStrokeColorRGB(*(v / 255 for v in stroke))
            self._c.setLineWidth(width * self._pt)
        return int(fill is not None), int(stroke is not None)

    def rect(self, x: float, y: float, w: float, h: float, *, fill: RGB | None = None,
             stroke: RGB | None = None, width: float = 0.0, radius: float = 0.0) -> None:
        f, s = self._style(fill, stroke, width)
        px, py = self._xy(x, y + h)
        self._c.roundRect(px, py, w * self._pt, h * self._pt, radius * self._pt, stroke=s, fill=f)

    def ellipse(self, x: float, y: float, w: float, h: float, *, fill: RGB | None = None,
                stroke: RGB | None = None, width: float = 0.0) -> None:
        f, s = self._style(fill, stroke, width)
        x0, y0 = self._xy(x, y + h)
        x1, y1 = self._xy(x + w, y)
        self._c.ellipse(x0, y0, x1, y1, stroke=s, fill=f)

    def polygon(self, points: list[tuple[float, float]], fill: RGB) -> None:
        self._style(fill, None, 0)
        path = self._c.beginPath()
        path.moveTo(*self._xy(*points[0]))
        for point in points[1:]:
            path.lineTo(*self._xy(*point))
        path.close()
        self._c.drawPath(path, stroke=0, fill=1)

    def polyline(self, points: list[tuple[float, float]], color: RGB, width: float) -> None:
        self._style(None, color, width)
        self._c.setLineCap(1)
        path = self._c.beginPath()
        path.moveTo(*self._xy(*points[0]))
        for point in points[1:]:
            path.lineTo(*self._xy(*point))
        self._c.drawPath(path, stroke=1, fill=0)

    def text(
        self, x: float, y: float, text: str, *, size_pt: float, bold: bool, color: RGB
    ) -> None:
        self._style(color, None, 0)
        self._c.setFont(_FONTS[bold], size_pt)
        self._c.drawString(*self._xy(x, y), text)

    def save(self) -> None:
        self._c.showPage()
        self._c.save()


class PngPainter:
    """Pillow image of the A4 page at ``dpi`` (the PNG records the dpi)."""

    def __init__(self, dpi: int = PNG_DPI) -> None:
        self.dpi = dpi
        self._k = dpi / 25.4
        size = (round(PAGE_W_MM * self._k), round(PAGE_H_MM * self._k))
        self.image = Image.new("RGB", size, WHITE)
        self._draw = ImageDraw.Draw(self.image)
        self._fonts: dict[tuple[float, bool], ImageFont.FreeTypeFont] = {}

    def _p(self, v: float) -> float:
        return v * self._k

    def rect(self, x: float, y: float, w: float, h: float, *, fill: RGB | None = None,
             stroke: RGB | None = None, width: float = 0.0, radius: float = 0.0) -> None:
        box = (self._p(x), self._p(y), self._p(x + w) - 1, self._p(y + h) - 1)
        self._draw.rounded_rectangle(box, radius=self._p(radius), fill=fill, outline=stroke,
                                     width=round(self._p(width)) if stroke else 0)

    def ellipse(self, x: float, y: float, w: float, h: float, *, fill: RGB | None = None,
                stroke: RGB | None = None, width: float = 0.0) -> None:
        box = (self._p(x), self._p(y), self._p(x + w), self._p(y + h))
        self._draw.ellipse(box, fill=fill, outline=stroke,
                           width=round(self._p(width)) if stroke else 0)

    def polygon(self, points: list[tuple[float, float]], fill: RGB) -> None:
        self._draw.polygon([(self._p(x), self._p(y)) for x, y in points], fill=fill)

    def polyline(self, points: list[tuple[float, float]], color: RGB, width: float) -> None:
        pixels = [(self._p(x), self._p(y)) for x, y in points]
        self._draw.line(pixels, fill=color, width=round(self._p(width)), joint="curve")

    def text(
        self, x: float, y: float, text: str, *, size_pt: float, bold: bool, color: RGB
    ) -> None:
        key = (size_pt, bold)
        if key not in self._fonts:
            self._fonts[key] = ImageFont.truetype(str(font_path(bold)), size_pt * self.dpi / 72)
        self._draw.text((self._p(x), self._p(y)), text, fill=color, font=self._fonts[key],
                        anchor="ls")

    def save(self, path: Path) -> None:
        self.image.save(path, format="PNG", dpi=(self.dpi, self.dpi), optimize=True)


def pictogram(p: Painter, x: float, y: float, size: float, color: RGB) -> None:
    """A camera (left) looking at a face (right) in a ``size`` x ``size`` mm box."""
    s = size
    p.rect(x, y + 0.32 * s, 0.36 * s, 0.3 * s, fill=color, radius=0.04 * s)
    p.polygon([(x + 0.36 * s, y + 0.4 * s), (x + 0.48 * s, y + 0.33 * s),
               (x + 0.48 * s, y + 0.61 * s), (x + 0.36 * s, y + 0.54 * s)], color)
    p.ellipse(x + 0.08 * s, y + 0.37 * s, 0.2 * s, 0.2 * s, fill=BAND)
    p.ellipse(x + 0.13 * s, y + 0.42 * s, 0.1 * s, 0.1 * s, fill=color)
    p.rect(x + 0.06 * s, y + 0.26 * s, 0.1 * s, 0.06 * s, fill=color, radius=0.01 * s)
    fx, fy, fd = x + 0.56 * s, y + 0.24 * s, 0.44 * s
    p.ellipse(fx, fy, fd, fd, stroke=color, width=0.035 * s)
    for ex in (0.32, 0.68):
        p.ellipse(fx + ex * fd - 0.04 * s, fy + 0.33 * fd, 0.08 * s, 0.08 * s, fill=color)
    smile = [(fx + (0.28 + 0.44 * i / 8) * fd,
              fy + 0.62 * fd + 0.12 * fd * (1 - ((i - 4) / 4) ** 2)) for i in range(9)]
    p.polyline(smile, color, 0.035 * s)


def qr_code(p: Painter, data: str, x: float, y: float, size: float) -> None:
    """``data`` as a QR code (quiet zone included) in a ``size`` mm square."""
    matrix = segno.make(data, error="m", micro=False).matrix_iter(scale=1, border=4)
    rows = [list(row) for row in matrix]
    module = size / len(rows)
    p.rect(x, y, size, size, fill=WHITE)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                p.rect(x + start * module, y + r * module, (c - start) * module, module,
                       fill=BLACK)
            else:
                c += 1


def draw_sign(p: Painter, words: SignText, qr_data: str) -> None:
    """The whole sign: header band with pictogram and title, the facts, operator and QR."""
    margin, inner = 15.0, PAGE_W_MM - 30.0
    p.rect(7, 7, PAGE_W_MM - 14, PAGE_H_MM - 14, stroke=BAND, width=1.6, radius=6)
    p.rect(margin, margin, inner, 62, fill=BAND, radius=4)
    pictogram(p, margin + 4, margin + 4, 54, WHITE)
    title = wrap(words.title, 24, inner - 68, bold=True)
    ty = margin + 31 - (len(title) - 1) * 5.5 + 4
    for line in title:
        p.text(margin + 64, ty, line, size_pt=24, bold=True, color=WHITE)
        ty += 11
    size = 17.0
    paragraphs = [*words.lines, *([words.purpose] if words.purpose else [])]
    while True:  # shrink the body until it fits above the operator block
        blocks = [wrap(t, size, inner, bold=i == 1) for i, t in enumerate(paragraphs)]
        height = sum(len(b) for b in blocks) * size * 1.3 * MM_PER_PT + 5 * len(blocks)
        if height <= 105 or size <= 10:
            break
        size -= 1
    y = margin + 62 + 14
    for index, block in enumerate(blocks):
        bold = index == 1  # "no image is stored or sent" stands out
        for line in block:
            p.text(margin, y, line, size_pt=size, bold=bold, color=BLACK)
            y += size * 1.3 * MM_PER_PT
        y += 5
    qr_size, qr_y = 62.0, PAGE_H_MM - 15 - 62 - 12
    p.rect(margin, qr_y - 6, inner, 0.6, fill=BAND)
    qr_code(p, qr_data, PAGE_W_MM - margin - qr_size, qr_y, qr_size)
    ty = qr_y + 8
    for text, bold in ((words.operator, True), (words.contact, False)):
        for line in wrap(text, 14, inner - qr_size - 6, bold):
            p.text(margin, ty, line, size_pt=14, bold=bold, color=BLACK)
            ty += 7
        ty += 3
    cy = qr_y + qr_size + 4
    for line in wrap(words.qr_caption, 9, qr_size + 20):
        p.text(PAGE_W_MM - margin - qr_size - 20, cy, line, size_pt=9, bold=False, color=BLACK)
        cy += 4


def write_sign(words: SignText, qr_data: str, pdf: Path, png: Path) -> None:
    """The sign as a vector PDF and a PNG (A4)."""
    vector = PdfPainter(pdf)
    draw_sign(vector, words, qr_data)
    vector.save()
    raster = PngPainter()
    draw_sign(raster, words, qr_data)
    raster.save(png)
