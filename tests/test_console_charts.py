"""Inline SVG charts (bot.console.charts): proportional bars, escaped labels, thinned axis labels."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from bot.console.charts import MAX_COLUMN_LABELS, columns, horizontal_bars

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # also proves the SVG is well-formed XML


def test_horizontal_bars_are_proportional_and_labels_are_escaped() -> None:
    svg = _parse(horizontal_bars([("婚姻家庭", 4), ("<b>x</b>&", 2), ("其他", 0)], title="按类别"))
    widths = [float(r.get("width", "")) for r in svg.iter(f"{SVG}rect")]
    assert widths[0] > 0 and widths[1] == widths[0] / 2 and widths[2] == 0
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels == ["婚姻家庭", "<b>x</b>&", "其他"]  # the text survives as text, not as markup
    assert "<b>" not in str(horizontal_bars([("<b>x</b>", 1)], title="t"))


def test_columns_write_at_most_a_dozen_labels_and_survive_all_zeros() -> None:
    days = [(f"3/{d}", d % 3) for d in range(1, 32)]
    svg = _parse(columns(days, title="每日咨询人次"))
    assert len(list(svg.iter(f"{SVG}rect"))) == 31
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels[0] == "3/1" and 1 < len(labels) <= MAX_COLUMN_LABELS
    empty = str(columns([("1月", 0), ("2月", 0)], title="t"))
    assert not re.search(r'height="-', empty) and "nan" not in empty.lower()
