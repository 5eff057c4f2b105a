"""Exports for staff: records and month × topic counts as CSV or XLSX, and the annual-report paragraph.

Pure functions: they take loaded rows and numbers and return bytes or text, so the console, the CLI and
the tests produce identical files. Questions are already masked in the records; users appear only as
a shortened keyed pseudonym.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import IllegalCharacterError

from bot.answers.topics import CATEGORIES
from bot.records.followups import SATISFACTION
from bot.records.models import Consultation
from bot.staff.plain_text import strip_xml_illegal
from bot.staff.reviews import VERDICTS
from bot.staff.statistics import REPORT_TZ, Period, Summary

Cell = str | int | float | datetime | None
PSEUDONYM_CHARS = 16  # 64 bits of the HMAC: enough to tell users apart in a year's records
REPORT_CATEGORIES = 6  # the paragraph names the largest categories, then says 等
# Spreadsheet programs run a cell that starts with these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

RECORD_HEADER = (
    "编号", "时间", "渠道", "用户代号", "问题（已遮蔽）", "类别", "置信度", "引用条文", "答复",
    "无匹配条文", "紧急情况", "求助人工", "复核状态", "复核结论", "更正答复", "复核人", "复核时间",
    "复核备注", "群众评价",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sheet:
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]


def _local(at: datetime | None) -> datetime | None:
    """Naive China Standard Time, which is what a spreadsheet user reads."""
    return at.astimezone(REPORT_TZ).replace(tzinfo=None, microsecond=0) if at else None


def _yes(flag: bool) -> str:
    return "是" if flag else ""


def record_row(row: Consultation) -> list[Cell]:
    return [
        row.id,
        _local(row.created_at),
        row.channel,
        (row.user_ref or "")[:PSEUDONYM_CHARS],
        row.question,
        row.category,
        round(row.confidence, 3) if row.confidence is not None else None,
        "；".join(row.cited),
        row.reply,
        _yes(row.no_hit),
        _yes(row.emergency),
        _yes(row.asked_for_person),
        "已复核" if row.review_status == "reviewed" else "未复核",
        VERDICTS.get(row.verdict or "", row.verdict),
        row.corrected_answer,
        row.reviewer,
        _local(row.reviewed_at),
        row.review_note,
        SATISFACTION.get(row.satisfaction or 0, ""),
    ]


def records_sheet(rows: Iterable[Consultation]) -> Sheet:
    return Sheet("咨询记录", RECORD_HEADER, [record_row(row) for row in rows])


def counts_sheet(table: Mapping[str, Counter[str]]) -> Sheet:
    """Months down, the 15 categories across, with totals in the last row and column."""
    rows: list[list[Cell]] = [
        [month, *(counts[c] for c in CATEGORIES), sum(counts.values())] for month, counts in table.items()
    ]
    grand: Counter[str] = Counter()
    for counts in table.values():
        grand.update(counts)
    rows.append(["合计", *(grand[c] for c in CATEGORIES), sum(grand.values())])
    return Sheet("月度分类统计", ("月份", *CATEGORIES, "合计"), rows)


def _safe_text(value: Cell) -> Cell:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(sheet: Sheet) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel on a township PC reads the Chinese correctly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(sheet.header)
    writer.writerows([_safe_text(value) for value in row] for row in sheet.rows)
    return out.getvalue().encode("utf-8-sig")


class SheetError(ValueError):
    """A row that openpyxl refused; the message names the row and never shows its values."""


def _xml_safe(value: Cell) -> Cell:
    return strip_xml_illegal(value) if isinstance(value, str) else value


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    """One worksheet per sheet; text is always stored as text, never as a formula.

    Characters XML cannot hold are dropped (notes stored before they were refused may have them).
    """
    book = Workbook()
    book.remove(book.worksheets[0])  # the default empty sheet
    for sheet in sheets:
        ws = book.create_sheet(sheet.title)
        ws.append(list(sheet.header))
        for number, values in enumerate(sheet.rows, start=2):
            try:
                ws.append([_xml_safe(value) for value in values])
            except (ValueError, IllegalCharacterError):  # openpyxl's message quotes the cell's text
                raise SheetError(f"row {number} of sheet {sheet.title!r} cannot be written") from None
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # openpyxl would otherwise take "=..." as a formula
                elif isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
        ws.freeze_panes = "A2"
        for index, title in enumerate(sheet.header, start=1):
            ws.column_dimensions[get_column_letter(index)].width = max(8, min(40, 2 * len(title) + 4))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report_paragraph(summary: Summary, *, period: Period, township: str, bot_name: str) -> str:
    """The sentence for the 法治政府建设年度报告, every number taken from `summary`."""
    text = (
        f"{period.label}，{township}通过微信公众号“{bot_name}”开展线上法律咨询"
        f"{summary.consultations:,}人次，服务群众{summary.users:,}人"
    )
    named = [(c, n) for c, n in summary.by_category.items() if n > 0]
    if named:
        parts = "、".join(f"{c}类{n:,}件" for c, n in named[:REPORT_CATEGORIES])
        text += f"，其中{parts}{'等' if len(named) > REPORT_CATEGORIES else ''}"
    text += f"；普法志愿者复核答复{summary.reviewed:,}件，转介人民调解{summary.asked_for_person:,}件"
    if summary.satisfaction_answered:  # county reviews ask for 满意率; said only once villagers have judged
        text += f"；群众评价答复{summary.satisfaction_answered:,}件，满意率{summary.share_satisfied:.1%}"
    return text + "。"
