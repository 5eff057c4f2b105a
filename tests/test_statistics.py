"""Statistics (bot.staff.statistics) against an oracle computed from the seed list itself."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from bot.records.models import Consultation
from bot.staff import statistics as st
from bot.staff.counts import consultation_stats
from bot.staff.reviews import record_review
from bot.staff.users import VOLUNTEER, create_user
from knowledge.corpus import Corpus
from tests.fixtures.console import SEEDS, Seed, seed_consultations

YEAR = st.Period.year(2026)
IN_2026 = [s for s in SEEDS if s.local.startswith("2026")]


@pytest.fixture
def ids(db_session: Session, mini_corpus: Corpus) -> list[int]:
    return seed_consultations(db_session, mini_corpus)


def test_periods_are_china_calendar_days() -> None:
    assert YEAR.start == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert YEAR.end == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert YEAR.label == "2026年"
    assert st.Period(date(2026, 3, 1), date(2026, 3, 31)).label == "2026年3月1日至2026年3月31日"
    assert st.Period.parse("", "2026-02-10", default=YEAR) == st.Period(date(2026, 1, 1), date(2026, 2, 10))
    with pytest.raises(st.PeriodError, match="2026-03-01"):
        st.Period.parse("2026/3/1", "", default=YEAR)
    with pytest.raises(st.PeriodError, match="swap"):
        st.Period(date(2026, 2, 1), date(2026, 1, 1))


def test_summary_counts_what_the_seeds_hold(db_session: Session, ids: list[int]) -> None:
    summary = st.summary(db_session, YEAR)
    assert summary.consultations == len(IN_2026)
    assert summary.users == len({s.openid for s in IN_2026})
    assert summary.by_category == dict(
        sorted(Counter(s.category for s in IN_2026).items(), key=lambda item: (-item[1], item[0]))
    )
    assert summary.asked_for_person == sum(s.person for s in IN_2026)
    assert summary.emergency == sum(s.emergency for s in IN_2026)
    assert summary.no_hit == sum(not s.articles for s in IN_2026)
    assert (summary.reviewed, summary.share_reviewed, summary.share_correct) == (0, 0.0, 0.0)
    # One source of truth: the totals are those `pufa stats --json` prints for the same bounds.
    totals = consultation_stats(db_session, start=YEAR.start, end=YEAR.end)
    assert (totals["consultations"], totals["users"], totals["by_category"]) == (
        summary.consultations,
        summary.users,
        summary.by_category,
    )


def test_days_and_months_use_china_time(db_session: Session, ids: list[int]) -> None:
    march = st.Period(date(2026, 2, 27), date(2026, 3, 2))
    assert st.per_day(db_session, march) == [
        (date(2026, 2, 27), 0),
        (date(2026, 2, 28), 0),
        (date(2026, 3, 1), 1),
        (date(2026, 3, 2), 0),
    ]
    months = st.per_month(db_session, YEAR)
    assert [m for m, _ in months] == [f"2026-{m:02d}" for m in range(1, 13)]
    assert dict(months) == {m: Counter(s.local[:7] for s in IN_2026)[m] for m, _ in months}
    table = st.month_by_category(db_session, YEAR)
    assert table["2026-03"] == Counter(s.category for s in IN_2026 if s.local.startswith("2026-03"))
    assert sum(n for _, n in st.per_day(db_session, YEAR)) == len(IN_2026)


def test_laws_divisions_and_cited_articles_come_from_the_best_hits(
    db_session: Session, ids: list[int], mini_corpus: Corpus
) -> None:
    divisions = st.outermost_divisions(mini_corpus.articles)

    def first(seed: Seed) -> tuple[str, str]:
        article = mini_corpus.get(*seed.articles[0])
        assert article is not None
        return article.short_law, article.path[0]

    expected = Counter(first(s) for s in IN_2026 if s.articles)
    found = st.by_law_division(db_session, YEAR, division_of=divisions.get)
    assert {(law, div): n for law, div, n in found} == expected
    assert [n for *_, n in found] == sorted(expected.values(), reverse=True)
    assert ("民法典", "第三编 合同") in expected and ("宪法", "第二章 公民的基本权利和义务") in expected
    cited = Counter(mini_corpus.get(*s.articles[0]).key for s in IN_2026 if s.articles)  # type: ignore[union-attr]
    assert st.top_cited(db_session, YEAR, limit=3) == sorted(cited.items(), key=lambda i: (-i[1], i[0]))[:3]


def test_review_shares(db_session: Session, ids: list[int]) -> None:
    volunteer = create_user(db_session, username="li", password="volunteer-password", role=VOLUNTEER)
    for consultation_id, verdict in zip(ids[1:5], ("correct", "correct", "wrong", "partly"), strict=True):
        row = db_session.get(Consultation, consultation_id)
        assert row is not None
        record_review(db_session, row, reviewer=volunteer, verdict=verdict)
    summary = st.summary(db_session, YEAR)
    assert (summary.reviewed, summary.judged_correct) == (4, 2)
    assert summary.share_reviewed == pytest.approx(4 / len(IN_2026))
    assert summary.share_correct == pytest.approx(0.5)
    assert st.summary(db_session, st.Period(date(2027, 1, 1), date(2027, 1, 31))).consultations == 0
