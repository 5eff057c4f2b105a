"""What the measuring scripts share: the development set, its tuning split and the --data-dir option.

Imported by the scripts beside it (run from the repository root as `.venv/bin/python scripts/NAME.py`,
which puts this folder on the import path).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.commands.retrieval import DEFAULT_QUESTIONS, VILLAGE_QUESTIONS, written_tune
from bot.settings import Settings
from indexing.evaluation import Question, load_questions
from knowledge.corpus import Corpus

SOURCE = DEFAULT_QUESTIONS
VILLAGE = VILLAGE_QUESTIONS  # for the laws of village life (issue 23)


def tune_questions(corpus: Corpus | None = None) -> list[Question]:
    """The tuning split: the only part of the development set a lever may be chosen on. With a corpus,
    the village laws' tuning split too, of both only the questions whose articles it holds (as
    `pufa eval --cv` fits the re-ranker: `bot.commands.retrieval.written_tune`)."""
    if corpus is None:
        return [q for q in load_questions(SOURCE) if q.split == "tune"]
    return written_tune(corpus)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the script's first docstring line, with --data-dir."""
    new = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    new.add_argument("--data-dir", type=Path, default=None, help="index and models (default: settings)")
    return new


def settings(args: argparse.Namespace) -> Settings:
    return Settings() if args.data_dir is None else Settings(data_dir=args.data_dir)
