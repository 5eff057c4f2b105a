"""knowledge.local_docs: 村规民约 and notices dropped into a folder as .txt, .md or .docx."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from knowledge.corpus import load_corpus
from knowledge.local_docs import LocalDocumentError, load_local_docs, read_local_doc

RULES = """东山村村规民约
为了加强村民自治，经村民会议讨论通过，制定本村规民约。
第一条 村民应当遵守法律法规，爱护公共财产。
第二条 宅基地的申请，由村民小组提出意见，报村民委员会审核。
邻里之间因宅基地发生争议的，先由村调解委员会调解。
第三条 禁止在村道上堆放柴草、杂物：
（一）主干道两侧五米以内；
（二）桥梁两端十米以内。
"""


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def test_numbered_rules_become_articles(tmp_path: Path) -> None:
    articles = read_local_doc(_write(tmp_path / "rules.txt", RULES))
    assert [a.number for a in articles] == [1, 2, 3]
    assert {a.law for a in articles} == {"东山村村规民约"} and {a.kind for a in articles} == {"local"}
    # The preamble is kept as the first 款 of 第一条 rather than dropped.
    assert articles[0].paragraphs == (
        "为了加强村民自治，经村民会议讨论通过，制定本村规民约。",
        "村民应当遵守法律法规，爱护公共财产。",
    )
    assert articles[1].paragraphs[1].startswith("邻里之间")
    assert articles[2].paragraphs == (
        "禁止在村道上堆放柴草、杂物：\n（一）主干道两侧五米以内；\n（二）桥梁两端十米以内。",
    )
    assert articles[2].citation == "《东山村村规民约》第三条"


def test_arabic_article_numbers(tmp_path: Path) -> None:
    text = "西岭乡防火公约\n第1条 进山不带火种。\n第2条：发现火情立即报告。\n"
    articles = read_local_doc(_write(tmp_path / "fire.txt", text))
    assert [(a.number, a.text) for a in articles] == [(1, "进山不带火种。"), (2, "发现火情立即报告。")]


def test_markdown_list_items_and_heading_title(tmp_path: Path) -> None:
    text = (
        "# 关于做好秋收期间秸秆禁烧的通知\n\n各村民小组：\n\n"
        "一、禁止露天焚烧秸秆。\n二、**秸秆**可免费回收。\n三、举报电话：12345。\n"
    )
    articles = read_local_doc(_write(tmp_path / "notice.md", text))
    assert {a.law for a in articles} == {"关于做好秋收期间秸秆禁烧的通知"}
    assert [a.number for a in articles] == [1, 2, 3]
    assert articles[0].paragraphs == ("各村民小组：", "禁止露天焚烧秸秆。")
    assert articles[1].text == "秸秆可免费回收。"


def test_unnumbered_text_is_one_article_per_paragraph(tmp_path: Path) -> None:
    text = "村里的垃圾每周二、周五统一清运。\n\n请各户把垃圾分类后放到指定地点。\n违者由村委会批评教育。\n"
    articles = read_local_doc(_write(tmp_path / "垃圾清运安排.txt", text))
    # The first line is a sentence, so the file name is the title.
    assert {a.law for a in articles} == {"垃圾清运安排"}
    assert [a.number for a in articles] == [1, 2, 3]
    assert articles[2].text == "违者由村委会批评教育。"


def test_docx_with_title_style_and_chapters(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("南湾村村规民约", level=0)
    document.add_paragraph("第一章 总则")
    document.add_paragraph("第一条 本公约适用于南湾村全体村民。")
    document.add_heading("第二章 邻里关系", level=1)
    document.add_paragraph("第二条 邻里之间应当互谅互让。")
    document.add_paragraph("建房不得妨碍相邻方通行、采光。")
    path = tmp_path / "南湾.docx"
    document.save(str(path))
    articles = read_local_doc(path)
    assert [(a.law, a.number, a.path) for a in articles] == [
        ("南湾村村规民约", 1, ("第一章 总则",)),
        ("南湾村村规民约", 2, ("第二章 邻里关系",)),
    ]
    assert articles[1].paragraphs == ("邻里之间应当互谅互让。", "建房不得妨碍相邻方通行、采光。")
    assert articles[1].header == "南湾村村规民约 第二章 邻里关系 第二条"


def test_gbk_text_file_is_decoded(tmp_path: Path) -> None:
    articles = read_local_doc(_write(tmp_path / "gbk.txt", RULES, encoding="gbk"))
    assert articles[0].law == "东山村村规民约" and len(articles) == 3


def test_folder_loads_every_document(tmp_path: Path) -> None:
    _write(tmp_path / "a.txt", RULES)
    _write(tmp_path / "b.md", "# 通知\n一、甲。\n二、乙。\n")
    (tmp_path / "~$临时.docx").write_bytes(b"word lock file")  # Word litter is skipped
    articles = load_local_docs(tmp_path)
    expected = [("东山村村规民约", n) for n in (1, 2, 3)] + [("通知", n) for n in (1, 2)]
    assert [(a.law, a.number) for a in articles] == expected


def test_corrupt_docx_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "坏文件.docx"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(LocalDocumentError, match="坏文件.docx.*not a readable Word"):
        load_local_docs(tmp_path)


def test_unsupported_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(LocalDocumentError, match=r"scan\.pdf.*only \.txt, \.md, \.docx"):
        load_local_docs(tmp_path)


def test_empty_and_undecodable_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(LocalDocumentError, match="empty.txt: has no text"):
        read_local_doc(_write(tmp_path / "empty.txt", "\n  \n"))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00\xd8\x81\x30")
    with pytest.raises(LocalDocumentError, match="binary.txt.*UTF-8"):
        read_local_doc(binary)


def test_numbering_gap_names_file_and_article(tmp_path: Path) -> None:
    text = "北村公约\n第一条 甲。\n第二条 乙。\n第四条 丁。\n"
    with pytest.raises(LocalDocumentError, match=r"gap\.txt.*北村公约 第三条.*missing"):
        read_local_doc(_write(tmp_path / "gap.txt", text))


def test_repeated_number_names_file_and_article(tmp_path: Path) -> None:
    text = "北村公约\n第一条 甲。\n第二条 乙。\n第二条 丙。\n"
    with pytest.raises(LocalDocumentError, match=r"repeat\.txt.*北村公约 第二条.*more than once"):
        read_local_doc(_write(tmp_path / "repeat.txt", text))


def test_same_title_twice_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "one.txt", RULES)
    _write(tmp_path / "two.txt", RULES)
    with pytest.raises(LocalDocumentError, match=r"two\.txt.*same title.*one\.txt"):
        load_local_docs(tmp_path)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LocalDocumentError, match="not a folder"):
        load_local_docs(tmp_path / "nowhere")


# The opening articles of a State Council regulation that laws.db lacks, as staff would paste it from the
# official text (README: "Regulations laws.db lacks"); a sample, not the whole regulation.
WAGE_REGULATION = """保障农民工工资支付条例
第一章 总则
第一条 为了规范农民工工资支付行为，保障农民工按时足额获得工资，根据《中华人民共和国劳动法》及有关法律规定，制定本条例。
第二条 保障农民工工资支付，适用本条例。
本条例所称农民工，是指为用人单位提供劳动的农村居民。
本条例所称工资，是指农民工为用人单位提供劳动后应当获得的劳动报酬。
第三条 农民工有按时足额获得工资的权利。任何单位和个人不得拖欠农民工工资。
"""


def test_a_regulation_the_source_lacks_joins_the_township_corpus(tmp_path: Path) -> None:
    """保障农民工工资支付条例 as a local document: its own name, chapter path and citations, beside the laws."""
    folder = tmp_path / "local"
    folder.mkdir()
    _write(folder / "保障农民工工资支付条例.txt", WAGE_REGULATION)
    corpus = load_corpus(("中华人民共和国劳动合同法", "中华人民共和国人民调解法"), local_dir=folder)
    assert corpus.laws[-1] == "保障农民工工资支付条例"
    article = corpus.get("《保障农民工工资支付条例》", 3)
    assert article is not None and article.kind == "local" and article.path == ("第一章 总则",)
    assert article.short_citation == "《保障农民工工资支付条例》第三条"
    assert len(corpus.get("保障农民工工资支付条例", 2).paragraphs) == 3  # type: ignore[union-attr]
    assert corpus.get("劳动合同法", 30) is not None  # the statutes are untouched
