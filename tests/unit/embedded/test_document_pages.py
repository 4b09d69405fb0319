"""Generated documents as standalone HTML pages and as PDFs: the Markdown's structure, and the sources' raw HTML
shown as text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from embedded.cli.rendering import html_page, pdf_document

CREATED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)

DOCUMENT = """# Technical documentation: card-fraud v3 (card_fraud)

Generated from the registry.

## 5. Risk management system

Reviewed <script>alert("x")</script> quarterly & on every drift alert; see `GET /v1/decisions/{id}`.

| gate | passed |
| --- | --- |
| min_auc | yes |
"""


def test_the_page_keeps_headings_and_tables_and_is_titled_by_the_first_heading() -> None:
    page = html_page(DOCUMENT)

    assert page.startswith('<!doctype html>\n<html lang="en">')
    assert "<title>Technical documentation: card-fraud v3 (card_fraud)</title>" in page
    assert "<h2>5. Risk management system</h2>" in page
    assert "<th>gate</th>" in page and "<td>min_auc</td>" in page
    assert "<code>GET /v1/decisions/{id}</code>" in page
    # Nothing is fetched: the style is in the page.
    assert "<style>" in page and "<link" not in page and "src=" not in page


def test_raw_html_in_the_sources_is_shown_never_run() -> None:
    page = html_page(DOCUMENT)

    assert "<script>" not in page
    assert 'Reviewed &lt;script&gt;alert("x")&lt;/script&gt; quarterly' in page
    assert "quarterly &amp; on every drift alert" in page


def outline(pdf: bytes) -> list[str]:
    """The titles of the PDF's bookmarks and its title, as fpdf2 writes them (literal strings)."""
    titles = re.findall(rb"/Title \(((?:[^()\\]|\\.)*)\)", pdf)
    return [re.sub(rb"\\(.)", rb"\1", title).decode("latin-1") for title in titles]


def test_the_pdf_has_a_bookmark_per_heading_and_renders_the_same_bytes_each_time() -> None:
    document = DOCUMENT + "\n```\nleaim documents card_fraud --verify\n```\n\nÜnïcödé: ≤ 0.1 — ✓\n"
    pdf = pdf_document(document, created_at=CREATED)

    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    titles = outline(pdf)
    assert "Technical documentation: card-fraud v3 (card_fraud)" in titles
    assert "5. Risk management system" in titles
    assert b"/CreationDate (D:20261201093000Z" in pdf
    # The fonts travel inside the file, subset: no font of the machine is needed to read it.
    assert pdf.count(b"/FontFile2") >= 2 and len(pdf) < 200_000
    assert pdf_document(document, created_at=CREATED) == pdf
    assert pdf_document(document + "\nAmended.\n", created_at=CREATED) != pdf
