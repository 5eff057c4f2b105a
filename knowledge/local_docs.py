"""Local documents (村规民约, 乡规, notices) that staff drop into a folder as .txt, .md or .docx.

Each file becomes one "law" named by its title, split into 条 where the text numbers them
(第一条 / 第1条 / 一、), otherwise one article per paragraph. Text before the first numbered item
(a preamble such as "为了……，制定本公约。") is kept as the opening 款 of item 1 rather than lost.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import docx
from docx.opc.exceptions import OpcError

from knowledge.articles import Article, StatuteFormatError, check_numbering, split_paragraphs
from knowledge.headings import is_heading, normalise_title
from knowledge.numerals import from_chinese_numeral

SUFFIXES = (".txt", ".md", ".docx")
_IGNORED = re.compile(r"^(\.|~\$)|^(thumbs\.db|desktop\.ini)$", re.IGNORECASE)  # OS and Word litter
_NUMERAL = "零一二三四五六七八九十百千两"
_ITEM_PATTERNS = (
    re.compile(rf"^第\s*([{_NUMERAL}]+|\d+)\s*条[\s：:、，,]*"),
    re.compile(rf"^([{_NUMERAL}]+)、\s*"),
)
_TITLE_MAX_CHARS = 40
_SENTENCE_END = ("。", "；", "：", "，", ":", ";")


class LocalDocumentError(ValueError):
    """A local document can't be read or split; the message names the file."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    marked_heading: bool = False  # a Markdown '#' line or a Word Title/Heading paragraph


def load_local_docs(folder: Path) -> list[Article]:
    """Articles of every document in `folder` (not recursive), files in name order."""
    if not folder.is_dir():
        raise LocalDocumentError(folder, "is not a folder; point local_dir at the folder of local documents")
    articles: list[Article] = []
    titles: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not _IGNORED.search(p.name)):
        doc = read_local_doc(path)
        title = doc[0].law
        if title in titles:
            raise LocalDocumentError(
                path, f"has the same title {title!r} as {titles[title].name}; rename one"
            )
        titles[title] = path
        articles.extend(doc)
    return articles


def read_local_doc(path: Path) -> list[Article]:
    """Articles of one .txt/.md/.docx document; raise LocalDocumentError naming the file."""
    lines = [line for line in _read_lines(path) if line.text]
    if not lines:
        raise LocalDocumentError(path, "has no text")
    title, body = _split_title(lines, path.stem)
    if not body:
        raise LocalDocumentError(path, f"has a title ({title!r}) but no text below it")
    try:
        return _articles(title, body)
    except StatuteFormatError as exc:
        raise LocalDocumentError(path, f"numbering is broken: {exc}; renumber the items") from exc


def _read_lines(path: Path) -> list[_Line]:
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return _read_docx(path)
    if suffix in (".txt", ".md"):
        text = _decode(path)
        return [
            _markdown_line(line) if suffix == ".md" else _Line(line.strip()) for line in text.splitlines()
        ]
    raise LocalDocumentError(path, f"only {', '.join(SUFFIXES)} files are read; convert it or remove it")


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LocalDocumentError(path, f"can't be read ({exc.strerror})") from exc
    # Notepad on Chinese Windows saves GBK unless told otherwise; GB18030 is its superset.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LocalDocumentError(path, "is neither UTF-8 nor GBK/GB18030 text; save it as UTF-8")


def _markdown_line(line: str) -> _Line:
    stripped = line.strip().replace("**", "").replace("__", "")
    if stripped.startswith("#"):
        return _Line(stripped.lstrip("#").strip(), marked_heading=True)
    return _Line(stripped)


def _read_docx(path: Path) -> list[_Line]:
    try:
        document = docx.Document(str(path))
    except (OpcError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise LocalDocumentError(
            path, f"is not a readable Word .docx file ({exc}); re-save it from Word"
        ) from exc
    lines = []
    for paragraph in document.paragraphs:
        style = paragraph.style.name if paragraph.style is not None else None
        lines.append(
            _Line(paragraph.text.strip(), marked_heading=(style or "").startswith(("Title", "Heading")))
        )
    return lines


def _split_title(lines: Sequence[_Line], stem: str) -> tuple[str, list[_Line]]:
    """The first line is the title when marked as a heading or shaped like one; else the file name is."""
    first = lines[0]
    looks_like_title = (
        len(first.text) <= _TITLE_MAX_CHARS
        and not first.text.endswith(_SENTENCE_END)
        and not any(p.match(first.text) for p in _ITEM_PATTERNS)
        and not is_heading(first.text)
    )
    if first.marked_heading or looks_like_title:
        return first.text, list(lines[1:])
    return stem, list(lines)


def _articles(title: str, lines: Sequence[_Line]) -> list[Article]:
    pattern = next((p for p in _ITEM_PATTERNS if any(p.match(line.text) for line in lines)), None)
    path: tuple[str, ...] = ()
    blocks: list[tuple[int, tuple[str, ...], list[str]]] = []  # (number, path, lines)
    preamble: list[str] = []
    for line in lines:
        if line.marked_heading or is_heading(line.text):
            path = (normalise_title(line.text),)
            continue
        number = _item_number(line.text, pattern) if pattern else len(blocks) + 1
        if number is not None:
            blocks.append((number, path, []))
            text = pattern.sub("", line.text, count=1) if pattern else line.text
        else:
            text = line.text
        (blocks[-1][2] if blocks else preamble).append(text)
    if not blocks:
        raise StatuteFormatError(title, None, "has no text outside its headings")
    blocks[0][2][:0] = preamble
    check_numbering(title, [number for number, _, _ in blocks])
    return [_article(title, number, path, body) for number, path, body in blocks]


def _article(title: str, number: int, path: tuple[str, ...], body: list[str]) -> Article:
    paragraphs = split_paragraphs([line for line in body if line])
    if not paragraphs:
        raise StatuteFormatError(title, number, "has a number but no text")
    return Article(law=title, number=number, paragraphs=paragraphs, path=path, kind="local")


def _item_number(text: str, pattern: re.Pattern[str]) -> int | None:
    match = pattern.match(text)
    if match is None:
        return None
    try:
        return from_chinese_numeral(match.group(1))
    except ValueError:
        return None
