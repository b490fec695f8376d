"""Pieces shared by the self-contained HTML reports: the figure record, the style sheet, inlined images."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
table.results{border-collapse:collapse;margin:1em 0}
table.results th,table.results td{border:1px solid #ccc;padding:.3em .6em}
table.results th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.5em 0}figure img{max-width:100%}figcaption{color:#555;font-size:.9em}
.note{color:#8a5a00}pre{background:#f7f7f7;padding:1em;overflow:auto}
"""


@dataclass(frozen=True)
class Plot:
    """One figure of a report: where it is (relative to the report folder), its caption and PNG bytes."""

    path: str
    caption: str
    png: bytes


def figure_html(plot: Plot) -> str:
    """The plot as an HTML <figure> whose image is inlined as a base64 data URI."""
    caption = html.escape(plot.caption)
    data = base64.b64encode(plot.png).decode("ascii")
    return f'<figure><img alt="{caption}" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'
