"""A generated Markdown document in its other forms: a standalone HTML page, and a PDF.

Both are rendered from the same HTML, converted from the Markdown with raw HTML in the sources (a manifest's free
text) shown as text, never interpreted. The PDF is set in the DejaVu fonts that matplotlib ships in its package,
so that no font of the machine is needed, with one bookmark per heading; its creation date is given, so that the
same document always renders to the same bytes (and archives as the same revision).
"""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from embedded.cli.exceptions import ApiUsageError

if TYPE_CHECKING:
    from datetime import datetime

# The page's only styling: readable tables and code, in the page itself (no stylesheet to fetch).
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#111}"
    "table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #999;padding:.25rem .5rem;text-align:left}"
    "code{font-family:ui-monospace,monospace;background:#f2f2f2;padding:0 .2rem}"
)
UNTITLED = "LEAIM document"
# The fonts of the PDF, by style, from matplotlib's `mpl-data/fonts/ttf`.
SANS = {
    "": "DejaVuSans.ttf",
    "B": "DejaVuSans-Bold.ttf",
    "I": "DejaVuSans-Oblique.ttf",
    "BI": "DejaVuSans-BoldOblique.ttf",
}
MONO = {"": "DejaVuSansMono.ttf", "B": "DejaVuSansMono-Bold.ttf"}
BODY_POINTS = 10


def title_of(markdown_text: str) -> str:
    """The document's first level-one heading."""
    return next((line[2:] for line in markdown_text.splitlines() if line.startswith("# ")), UNTITLED)


def html_body(markdown_text: str) -> str:
    """The Markdown as HTML, its tables included; raw HTML in it is escaped."""
    import markdown

    converter = markdown.Markdown(extensions=["tables"], output_format="html")
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    body: str = converter.convert(markdown_text)
    return body


def html_page(markdown_text: str) -> str:
    """A generated Markdown document as a standalone HTML page, titled by its first heading."""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title_of(markdown_text))}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{html_body(markdown_text)}\n</body>\n</html>\n"
    )


def font_directory() -> Path:
    """Where matplotlib keeps its TrueType fonts, found without importing it."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise ApiUsageError("a PDF needs the DejaVu fonts of matplotlib: install the project's local group")
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"


def pdf_document(markdown_text: str, *, created_at: datetime) -> bytes:
    """A generated Markdown document as an A4 PDF: its headings (each a bookmark), paragraphs, lists, tables and
    code, titled by its first heading and dated `created_at`."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace, TextStyle

    fonts = font_directory()
    pdf = FPDF(format="A4")
    for style, file in SANS.items():
        pdf.add_font("dejavu", style, fonts / file)
    for style, file in MONO.items():
        pdf.add_font("dejavu-mono", style, fonts / file)
    pdf.set_title(title_of(markdown_text))
    pdf.set_creator("LEAIM")
    pdf.set_creation_date(created_at)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("dejavu", size=BODY_POINTS)
    pdf.write_html(
        html_body(markdown_text),
        table_line_separators=True,
        tag_styles={
            "code": FontFace(family="dejavu-mono"),
            "pre": TextStyle(font_family="dejavu-mono", font_size_pt=BODY_POINTS - 1),
        },
    )
    return bytes(pdf.output())
