"""`pufa check replies`: the situation file is checked line by line, and the figures are those of the replies
the webhook's composition path gives (computed here again from the Answer objects, not from the judge)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answers.composer import Answer
from bot.answers.text import utf8_len
from bot.commands.check import (
    Situation,
    SituationFileError,
    advice_part,
    judge,
    load_situations,
    quoted_keys,
    replies_judged,
    summarize,
    webhook_consultant,
)
from bot.conversation.card_match import CardMatcher
from bot.conversation.consultation import Consultant
from bot.settings import Settings
from indexing.retrieval import Retriever
from knowledge.corpus import Corpus
from tests.reply_checks import TOWNSHIP

PUFA = Path(sys.executable).with_name("pufa")
CIVIL_CODE = "中华人民共和国民法典"
MEDIATION_LAW = "中华人民共和国人民调解法"
REPO_FILE = Path(__file__).parent / "data" / "reply_situations.jsonl"


def _row(question: str, topic: str, refs: list[tuple[str, int]], forbidden: list[str]) -> dict[str, object]:
    acceptable = [{"law": law, "article": number} for law, number in refs]
    return {"question": question, "topic": topic, "acceptable": acceptable, "forbidden_tip_words": forbidden}


def _write(path: Path, rows: list[dict[str, object]], *raw: str) -> Path:
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + list(raw)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- The file -----------------------------------------------------------------------------------------------


def test_the_repository_file_loads_and_is_spread_over_the_topics(full_corpus: Corpus) -> None:
    situations = load_situations(REPO_FILE, full_corpus)
    assert len(situations) >= 200
    assert len({s.question for s in situations}) == len(situations)
    topics = {s.topic for s in situations}
    assert len(topics) == 15
    assert all(s.forbidden for s in situations), "every situation names what a wrong tip would say"


GOOD = _row("邻居借钱不还", "借贷欠款", [(CIVIL_CODE, 675)], ["狗"])


def _bad(**changes: object) -> str:
    return json.dumps({**GOOD, **changes}, ensure_ascii=False)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "line 2: expected"),
        (json.dumps({"question": "借钱不还", "topic": "借贷欠款"}), "line 2: expected"),
        (_bad(acceptable=[{"law": "民法典", "article": 675}]), "line 2: unknown law '民法典'"),
        (_bad(acceptable=[{"law": "中华人民共和国刑法", "article": 20}]), "line 2: unknown law"),
        (_bad(acceptable=[{"law": CIVIL_CODE, "article": 1261}]), f"line 2: 《{CIVIL_CODE}》 has no article 1261"),
        (_bad(acceptable=[{"law": CIVIL_CODE, "article": "675"}]), "line 2: article number must be an integer"),
        (_bad(acceptable=[{"law": CIVIL_CODE}]), "line 2: expected"),
        (_bad(acceptable=[]), "line 2: 'acceptable' is empty"),
        (_bad(acceptable=[{"law": "中华人民共和国劳动法", "article": 50}]), "line 2: no acceptable article in the"),
        (_bad(topic="借钱"), "line 2: unknown topic '借钱'"),
        (_bad(question="  "), "line 2: 'question' must be"),
        (_bad(forbidden_tip_words=["狗", ""]), "line 2: 'forbidden_tip_words'"),
        (_bad(forbidden_tip_words="狗"), "line 2: 'forbidden_tip_words'"),
    ],
)
def test_a_bad_line_is_refused_with_its_number(
    full_corpus: Corpus, tmp_path: Path, bad_line: str, message: str
) -> None:
    path = _write(tmp_path / "s.jsonl", [GOOD], bad_line)
    with pytest.raises(SituationFileError) as caught:
        load_situations(path, full_corpus)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_articles_of_township_laws_outside_the_corpus_are_left_out(full_corpus: Corpus, tmp_path: Path,
                                                                   township_corpus: Corpus) -> None:  # fmt: skip
    wages = _row("老板拖欠工钱不给", "劳动报酬（工钱）", [(CIVIL_CODE, 579), ("中华人民共和国劳动法", 50)], ["狗"])
    path = _write(tmp_path / "s.jsonl", [wages], "")
    assert load_situations(path, full_corpus)[0].acceptable == {f"{CIVIL_CODE}:579"}
    assert load_situations(path, township_corpus)[0].acceptable == {f"{CIVIL_CODE}:579", "中华人民共和国劳动法:50"}


def test_an_empty_file_is_refused(full_corpus: Corpus, tmp_path: Path) -> None:
    with pytest.raises(SituationFileError, match="no situations"):
        load_situations(_write(tmp_path / "s.jsonl", [], ""), full_corpus)


# --- Reading a reply ----------------------------------------------------------------------------------------

REPLY = """【借钱不还】您的问题涉及借款合同。相关法律规定：

1.《民法典》第六百七十五条：借款人应当按照约定的期限返还借款。……
2.《人民调解法》第三十一条：经人民调解委员会调解达成的调解协议，具有法律约束力，当事人应当按照约定履行。
人民调解委员会应当对调解协议的履行情况进行监督，督促当事人履行约定的义务。

建议：被狗咬伤的，一般由狗的饲养人或者管理人承担责任（《民法典》第一千二百四十五条）。
需要人帮忙：回复“调解”，或拨打12348法律服务热线。"""


def test_quotes_are_the_numbered_articles_and_advice_is_the_rest(full_corpus: Corpus) -> None:
    assert quoted_keys(REPLY, full_corpus) == [f"{CIVIL_CODE}:675", f"{MEDIATION_LAW}:31"]  # not 1245: a tip
    advice = advice_part(REPLY)
    assert "饲养人" in advice and "【借钱不还】" in advice and "12348" in advice
    assert "借款人应当" not in advice and "督促当事人" not in advice  # a quote's second 款 is still the quote
    no_hit = "没有找到与您的问题直接相关的法律条文。\n可以换个说法再问一次，例如：“被邻居家的狗咬伤了，医药费谁出？”"
    assert "狗" not in advice_part(no_hit)  # an example question to copy is no tip


def _answer(text: str, **fields: object) -> Answer:
    values: dict[str, object] = {"category": "借贷欠款", "cited": (), "more": (), "confidence": 0.9,
                                 "no_hit": False, "emergency": False}  # fmt: skip
    values.update(fields)
    return Answer(text, **values)  # type: ignore[arg-type]


def test_judge_reads_what_the_villager_reads(full_corpus: Corpus) -> None:
    situation = Situation(1, "邻居借钱不还", "借贷欠款", frozenset({f"{CIVIL_CODE}:675"}), ("狗", "借款人", "离婚"))
    verdict = judge(situation, _answer(REPLY), full_corpus)
    assert verdict.quotes_acceptable and verdict.forbidden_found == ("狗",)  # 借款人 is only in a quote
    assert not verdict.card_led and not verdict.refusal and verdict.reply_bytes == utf8_len(REPLY)
    led = "【借钱不还】能要回来，到期不还可以催他还（《民法典》第六百七十五条）。\n\n" + REPLY.split("\n\n", 1)[1]
    assert judge(situation, _answer(led, card_id="借贷欠款-1"), full_corpus).card_led
    assert not judge(situation, _answer(led), full_corpus).card_led  # the composer says, not the first line
    assert judge(situation, _answer(led, tip_led=True), full_corpus).plain_led
    assert not judge(situation, _answer(led), full_corpus).plain_led
    wrong = Situation(1, "邻居借钱不还", "借贷欠款", frozenset({f"{CIVIL_CODE}:667"}), ())
    assert not judge(wrong, _answer(REPLY), full_corpus).quotes_acceptable


# --- Over the mini corpus, through the webhook's Consultant ---------------------------------------------------

MINI_ROWS = [
    # a plain debt question: its acceptable article is in the mini corpus
    _row("邻居借了俺五千块钱一直不还咋办", "借贷欠款", [(CIVIL_CODE, 675), (CIVIL_CODE, 667)], ["狗", "彩礼"]),
    # acceptable only an article a debt reply never quotes: must count as a miss
    _row("朋友借钱不还还拉黑俺", "借贷欠款", [("中华人民共和国宪法", 1)], ["12348"]),
    _row("老公要离婚，娃归谁", "婚姻家庭", [(CIVIL_CODE, 1084), (CIVIL_CODE, 1079)], ["狗", "借条"]),
    _row("被邻居家的狗咬了，医药费谁出", "人身损害赔偿", [(CIVIL_CODE, 1245)], ["借条", "彩礼"]),
    # not a legal question: refused
    _row("今天天气咋样，晚上吃啥", "其他", [(MEDIATION_LAW, 4)], ["狗"]),
]


@pytest.fixture()
def consultant(mini_retriever: Retriever) -> Iterator[Consultant]:
    cards = CardMatcher(mini_retriever.embed_question, corpus=mini_retriever.corpus)
    c = Consultant(mini_retriever, TOWNSHIP, workers=1, cards=cards)
    yield c
    c.close()


def _expected(situations: list[Situation], answers: list[Answer], corpus: Corpus) -> dict[str, object]:
    """The figures, from the Answer objects: quoted articles from .cited; a forbidden word anywhere in the
    text is in its advice, since the files below use only words that no article of the corpus contains."""
    words = {w for s in situations for w in s.forbidden}
    assert not [w for w in words for a in corpus.articles if w in a.text], "pick words no statute uses"
    n = len(answers)
    pairs = list(zip(situations, answers, strict=True))
    return {
        "n": n,
        "quotes_acceptable": round(sum(bool(s.acceptable & set(a.cited)) for s, a in pairs) / n, 4),
        "forbidden_tip": round(sum(any(w in a.text for w in s.forbidden) for s, a in pairs) / n, 4),
        "card_led": round(sum(a.card_id is not None for a in answers) / n, 4),
        "plain_led": round(sum(a.card_id is not None or a.tip_led for a in answers) / n, 4),
        "refusals": sum(a.no_hit for a in answers),
        "mean_reply_bytes": round(sum(utf8_len(a.text) for a in answers) / n, 1),
    }


def test_figures_match_the_replies(consultant: Consultant, mini_corpus: Corpus, tmp_path: Path) -> None:
    situations = load_situations(_write(tmp_path / "s.jsonl", MINI_ROWS), mini_corpus)
    report = summarize(situations, list(replies_judged(consultant, situations)))
    answers = [consultant.ask(s.question, deadline=time.monotonic() + 60).answer for s in situations]
    expected = _expected(situations, answers, mini_corpus)
    assert {k: report[k] for k in expected} == expected
    # The file was written so that the figures discriminate: some hits, some misses, a refusal, a bad tip.
    assert 0 < float(str(report["quotes_acceptable"])) < 1
    assert int(str(report["refusals"])) >= 1 and float(str(report["forbidden_tip"])) > 0
    assert report["fallbacks"] == 0


# --- The command --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def check_env(tmp_path_factory: pytest.TempPathFactory, mediation_data_dir: Path) -> dict[str, str]:
    """The data dir of 人民调解法 alone (index built once per session), and a file of two situations."""
    return {**os.environ, "PUFA_DATA_DIR": str(mediation_data_dir), "PUFA_LAWS": json.dumps([MEDIATION_LAW])}


MEDIATION_ROWS = [
    _row("调解达成的协议算不算数", "调解程序", [(MEDIATION_LAW, 31), (MEDIATION_LAW, 33)], ["狗"]),
    _row("找村里调解要不要交钱", "调解程序", [(MEDIATION_LAW, 4)], ["12348"]),
    _row("调解员偏向对方咋办", "调解程序", [(MEDIATION_LAW, 1)], ["离婚登记"]),
]


def pufa(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PUFA), *args], env=env, capture_output=True, text=True, timeout=600, check=False)


def test_the_command_prints_the_figures_of_the_webhooks_replies(check_env: dict[str, str], tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", MEDIATION_ROWS)
    done = pufa(check_env, "check", "replies", "--questions", str(path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # The same replies in this process, loaded the way the webhook loads them (bot/app.py).
    settings = Settings(data_dir=Path(check_env["PUFA_DATA_DIR"]), laws=(MEDIATION_LAW,))
    webhooks = webhook_consultant(settings)
    corpus = webhooks.retriever.corpus
    try:
        situations = load_situations(path, corpus)
        answers = [webhooks.ask(s.question, deadline=time.monotonic() + 60).answer for s in situations]
    finally:
        webhooks.close()
    figures = ("n", "quotes_acceptable", "forbidden_tip", "card_led", "plain_led", "refusals", "mean_reply_bytes")
    assert {k: report[k] for k in figures} == _expected(situations, answers, corpus)
    assert report["quotes_acceptable_by_topic"] == {"调解程序": report["quotes_acceptable"]}
    table = pufa(check_env, "check", "replies", "--questions", str(path))
    assert table.returncode == 0 and "quotes_acceptable" in table.stdout and "3 situations" in table.stdout


def test_the_command_refuses_a_bad_file_before_loading_the_index(
    check_env: dict[str, str], tmp_path: Path
) -> None:
    unknown = json.dumps(_row("x", "调解程序", [(MEDIATION_LAW, 99)], []), ensure_ascii=False)
    path = _write(tmp_path / "s.jsonl", MEDIATION_ROWS[:1], unknown)
    no_index = {**check_env, "PUFA_DATA_DIR": str(tmp_path / "no-index")}
    done = pufa(no_index, "check", "replies", "--questions", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "line 2" in done.stderr and "has no article 99" in done.stderr
