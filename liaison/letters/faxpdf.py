"""Fax rendering: a letter as an A4 PDF with the Chinese font embedded (fpdf2).

Owns: the page layout — a cover line (from, to, pages, reply-by) on top of the first page, then the text — and
the clear error when the configured font (``liaison.fax_font``; Debian package fonts-wqy-microhei) is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from directory.errors import SettingsError

FONT_PACKAGE = "fonts-wqy-microhei"


@dataclass(frozen=True)
class FaxPage:
    sender: str
    recipient: str
    title: str
    body: str
    reply_by: str = ""  # e.g. "2026-03-16"; empty: no reply expected


def check_font(path: str) -> Path:
    font = Path(path)
    if not font.is_file():
        raise SettingsError(
            f"liaison.fax_font: font file {font} not found (install the Debian package {FONT_PACKAGE}: "
            f"apt-get install {FONT_PACKAGE}, or point liaison.fax_font at a TrueType font with Chinese glyphs)"
        )
    return font


def render(page: FaxPage, font_path: str) -> bytes:
    """The fax as PDF bytes (A4, font embedded); ``{nb}`` in the cover line becomes the page count."""
    from fpdf import FPDF  # imported when a fax is rendered: it costs ~35 MB that most services never need

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(page.title)
    pdf.set_author(page.sender)
    pdf.add_font("cjk", fname=str(check_font(font_path)))
    pdf.alias_nb_pages()
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("cjk", size=10)
    cover = f"发件：{page.sender}　收件：{page.recipient}　共 {{nb}} 页"
    if page.reply_by:
        cover += f"　请于 {page.reply_by} 前回复"
    pdf.multi_cell(0, 6, cover, border="B")
    pdf.ln(4)
    pdf.set_font("cjk", size=16)
    pdf.multi_cell(0, 10, page.title, align="C")
    pdf.ln(2)
    pdf.set_font("cjk", size=12)
    pdf.multi_cell(0, 8, page.body)
    return bytes(pdf.output())
