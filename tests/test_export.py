"""Exports (bot.staff.sheets, bot.staff.exports): CSV / XLSX cells, masking, formula safety, the report paragraph."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime

import openpyxl
import pytest
from sqlalchemy.orm import Session

from bot.answers.topics import CATEGORIES
from bot.settings import Settings
from bot.staff import statistics as st
from bot.staff.exports import ExportError, annual_paragraph, export_bytes
from bot.staff.sheets import (
    PSEUDONYM_CHARS,
    RECORD_HEADER,
    Sheet,
    SheetError,
    counts_sheet,
    records_sheet,
    report_paragraph,
    to_csv,
    to_xlsx,
)
from knowledge.corpus import Corpus
from tests.fixtures.console import SEEDS, seed_consultations

YEAR = st.Period.year(2026)
IN_2026 = [s for s in SEEDS if s.local.startswith("2026")]


def _summary(**changes: object) -> st.Summary:
    values: dict[str, object] = dict(
        consultations=1234,
        users=567,
        by_category={"婚姻家庭": 210, "借贷欠款": 180},
        asked_for_person=45,
        emergency=3,
        no_hit=7,
        reviewed=320,
        judged_correct=300,
    )
    return st.Summary(**{**values, **changes})  # type: ignore[arg-type]


def _xlsx_rows(content: bytes, title: str) -> list[list[object]]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [list(row) for row in book[title].iter_rows(values_only=True)]


@pytest.fixture
def seeded(db_session: Session, mini_corpus: Corpus) -> list[int]:
    return seed_consultations(db_session, mini_corpus)


def test_the_report_paragraph_reads_as_the_annual_report_wants() -> None:
    text = report_paragraph(_summary(), period=YEAR, township="青山镇", bot_name="普法助手")
    assert text == (
        "2026年，青山镇通过微信公众号“普法助手”开展线上法律咨询1,234人次，服务群众567人，"
        "其中婚姻家庭类210件、借贷欠款类180件；普法志愿者复核答复320件，转介人民调解45件。"
    )
    many = {c: 10 - i for i, c in enumerate(CATEGORIES[:8])}
    text = report_paragraph(_summary(by_category=many), period=YEAR, township="青山镇", bot_name="普法助手")
    assert "继承类8件、借贷欠款类7件、合同买卖类6件、房屋宅基地类5件等；" in text and "土地承包" not in text
    empty = report_paragraph(
        _summary(consultations=0, users=0, by_category={}),
        period=YEAR,
        township="青山镇",
        bot_name="普法助手",
    )
    assert "其中" not in empty and "0人次" in empty


def test_record_rows_are_masked_and_pseudonymised(db_session: Session, seeded: list[int]) -> None:
    sheet = records_sheet(st.consultations_in(db_session, YEAR))
    assert tuple(sheet.header) == RECORD_HEADER
    assert [row[0] for row in sheet.rows] == seeded[1:]  # oldest first; the 2025 record is outside
    questions = [row[4] for row in sheet.rows]
    assert "我电话138****5678" in questions[1] and "13812345678" not in "".join(map(str, questions))
    users = [row[3] for row in sheet.rows]
    assert all(isinstance(u, str) and len(u) == PSEUDONYM_CHARS for u in users)
    assert len(set(users)) == len({s.openid for s in IN_2026})  # same villager, same code
    assert not any(s.openid in str(row) for row in sheet.rows for s in SEEDS)
    assert sheet.rows[4][1] == datetime(2026, 3, 1, 7, 30)  # China time, as staff read it


def test_counts_have_months_down_categories_across_and_totals() -> None:
    table = {"2026-01": Counter({"婚姻家庭": 2, "继承": 1}), "2026-02": Counter({"婚姻家庭": 1})}
    sheet = counts_sheet(table)
    assert (
        sheet.header[0] == "月份" and tuple(sheet.header[1:-1]) == CATEGORIES and sheet.header[-1] == "合计"
    )
    marriage = 1 + CATEGORIES.index("婚姻家庭")
    assert [(r[0], r[marriage], r[-1]) for r in sheet.rows] == [
        ("2026-01", 2, 3),
        ("2026-02", 1, 1),
        ("合计", 3, 4),
    ]


def test_csv_has_a_bom_and_defuses_formulas() -> None:
    sheet = Sheet("t", ("问题", "n"), [['=HYPERLINK("http://evil")', 1], ["-1+1", 2], ["普通问题", 3]])
    content = to_csv(sheet)
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows == [["问题", "n"], ['\'=HYPERLINK("http://evil")', "1"], ["'-1+1", "2"], ["普通问题", "3"]]


def test_xlsx_keeps_every_cell_and_stores_formula_lookalikes_as_text() -> None:
    when = datetime(2026, 3, 1, 7, 30)
    sheet = Sheet("记录", ("a", "b", "c"), [["=1+1", when, 0.5], [None, "x", 3]])
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx([sheet])))
    ws = book["记录"]
    assert [list(r) for r in ws.iter_rows(values_only=True)] == [
        ["a", "b", "c"],
        ["=1+1", when, 0.5],
        [None, "x", 3],
    ]
    assert ws["A2"].data_type == "s"


def test_xlsx_drops_characters_xml_cannot_hold_instead_of_failing() -> None:
    """A note stored before control characters were refused (issue 24: \\x0b made every export fail)."""
    sheet = Sheet("记录", ("备注", "n"), [["村\x0b委\x01会说\x00过\ufffe", 1], ["换行\n和\t制表", 2]])
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx([sheet])))
    assert [list(r) for r in book["记录"].iter_rows(values_only=True)][1:] == [
        ["村委会说过", 1],
        ["换行\n和\t制表", 2],
    ]


def test_a_row_openpyxl_refuses_is_reported_without_its_text() -> None:
    sheet = Sheet("记录", ("备注",), [[{"note": "邻居张三的电话"}]])  # type: ignore[list-item]
    with pytest.raises(SheetError) as raised:
        to_xlsx([sheet])
    assert "row 2" in str(raised.value) and "张三" not in str(raised.value)
    assert raised.value.__suppress_context__  # the traceback does not chain openpyxl's message either


def test_export_files_hold_the_same_numbers_as_the_statistics(db_session: Session, seeded: list[int]) -> None:
    content = export_bytes(db_session, YEAR, kind="records", fmt="xlsx")
    records = _xlsx_rows(content, "咨询记录")
    assert (
        records[0] == list(RECORD_HEADER) and len(records) - 1 == st.summary(db_session, YEAR).consultations
    )
    counts = _xlsx_rows(content, "月度分类统计")
    assert counts[-1][-1] == len(IN_2026)
    assert [(r[0], r[-1]) for r in counts[1:-1]] == st.per_month(db_session, YEAR)
    csv_rows = list(
        csv.reader(io.StringIO(export_bytes(db_session, YEAR, kind="counts", fmt="csv").decode("utf-8-sig")))
    )
    assert csv_rows[1:] == [[str(v) for v in row] for row in counts[1:]]
    with pytest.raises(ExportError, match="formats: xlsx, csv"):
        export_bytes(db_session, YEAR, kind="records", fmt="pdf")


def test_annual_paragraph_uses_the_settings_names(db_session: Session, seeded: list[int]) -> None:
    settings = Settings(_env_file=None, township="青山镇", bot_name="青山普法")  # type: ignore[call-arg]
    text = annual_paragraph(db_session, YEAR, settings)
    summary = st.summary(db_session, YEAR)
    assert text.startswith(
        f"2026年，青山镇通过微信公众号“青山普法”开展线上法律咨询{summary.consultations}人次"
    )
    assert f"转介人民调解{summary.asked_for_person}件" in text
    march = st.Period(date(2026, 3, 1), date(2026, 3, 31))
    assert annual_paragraph(db_session, march, settings).startswith("2026年3月1日至2026年3月31日，")
