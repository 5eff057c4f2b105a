"""Bar charts as inline SVG, drawn on the server: no script, no CDN, readable on a phone.

Sizes are in viewBox units; the SVG scales to the width of its box. Colours come from console.css
(classes `bar`, `axis`, `label`), because the page's CSP forbids inline styles.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 400  # about a phone's width in CSS pixels, so 14-unit text reads as 14px there
BAR_ROW = 26  # height of one horizontal bar's row
LABEL_WIDTH = 150  # room for 人格权（名誉、隐私） at 14 units a character
COLUMN_HEIGHT = 160
MAX_COLUMN_LABELS = 8  # more labels than this under the columns would overlap


def _svg(height: int, body: list[str], title: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def horizontal_bars(points: Sequence[tuple[str, int]], *, title: str) -> Markup:
    """One labelled bar per (label, value), the value written at the bar's end."""
    top = max((value for _, value in points), default=0) or 1
    room = WIDTH - LABEL_WIDTH - 40
    body = []
    for row, (label, value) in enumerate(points):
        y = row * BAR_ROW
        length = round(room * value / top, 1)
        body.append(
            f'<text class="label" x="{LABEL_WIDTH - 6}" y="{y + 17}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 4}" width="{length}" height="{BAR_ROW - 8}"/>'
            f'<text class="value" x="{LABEL_WIDTH + length + 4}" y="{y + 17}">{value}</text>'
        )
    return _svg(max(1, len(points)) * BAR_ROW, body, title)


def columns(points: Sequence[tuple[str, int]], *, title: str) -> Markup:
    """A column per (label, value) over time; only some labels are written when there are many."""
    top = max((value for _, value in points), default=0) or 1
    slot = WIDTH / max(1, len(points))
    every = max(1, -(-len(points) // MAX_COLUMN_LABELS))
    body = [
        f'<line class="axis" x1="0" y1="{COLUMN_HEIGHT}" x2="{WIDTH}" y2="{COLUMN_HEIGHT}"/>',
        f'<text class="value" x="2" y="12">最多 {top}</text>',
    ]
    for index, (label, value) in enumerate(points):
        height = round((COLUMN_HEIGHT - 20) * value / top, 1)
        x = round(index * slot + slot * 0.15, 1)
        body.append(
            f'<rect class="bar" x="{x}" y="{COLUMN_HEIGHT - height}" width="{round(slot * 0.7, 1)}" '
            f'height="{height}"><title>{escape(label)}：{value}</title></rect>'
        )
        if index % every == 0:
            centre = min(max(x + slot * 0.35, 16), WIDTH - 16)  # keep "2/1" inside the picture
            body.append(
                f'<text class="label" x="{round(centre, 1)}" y="{COLUMN_HEIGHT + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return _svg(COLUMN_HEIGHT + 24, body, title)
