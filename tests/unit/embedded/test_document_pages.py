"""Generated documents as standalone HTML pages: the Markdown's structure, and the sources' raw HTML shown as text."""

from __future__ import annotations

from embedded.cli.evidence import html_page

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
