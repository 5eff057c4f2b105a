"""Report files from the database: the statistics queries fed to the pure export functions.

The console's download links, `pufa export` and `pufa report` all call these, so they cannot disagree.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.settings import Settings
from bot.staff import statistics as st
from bot.staff.sheets import counts_sheet, records_sheet, report_paragraph, to_csv, to_xlsx

KINDS = ("records", "counts")  # records: one row per consultation; counts: months × categories
FORMATS = ("xlsx", "csv")


class ExportError(ValueError):
    """An export that cannot be made as asked; the message lists what is accepted."""


def export_bytes(session: Session, period: st.Period, *, kind: str, fmt: str) -> bytes:
    """The export file for `period`. XLSX of records also carries the counts as a second sheet."""
    if kind not in KINDS or fmt not in FORMATS:
        raise ExportError(
            f"cannot export kind={kind!r} as {fmt!r}; kinds: {', '.join(KINDS)}; "
            f"formats: {', '.join(FORMATS)}."
        )
    counts = counts_sheet(st.month_by_category(session, period))
    if kind == "counts":
        return to_xlsx([counts]) if fmt == "xlsx" else to_csv(counts)
    records = records_sheet(st.consultations_in(session, period))
    return to_xlsx([records, counts]) if fmt == "xlsx" else to_csv(records)


def export_filename(period: st.Period, *, kind: str, fmt: str) -> str:
    return f"pufa-{kind}-{period.first}_{period.last}.{fmt}"


def annual_paragraph(session: Session, period: st.Period, settings: Settings) -> str:
    """The 年度报告 sentence for `period`, with this deployment's township and account names."""
    return report_paragraph(
        st.summary(session, period), period=period, township=settings.township, bot_name=settings.bot_name
    )
