"""The record spool: durable appends, per-worker files, replay of unheld files, killed writers."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.records.spool import Entry, Spool, SpoolBlocked


def test_entries_are_replayed_in_order_and_the_file_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for n in range(3):
        spool.append({"kind": "event", "n": n, "text": "调解"})
    (path,) = spool.files()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [json.loads(line)["n"] for line in path.read_text(encoding="utf-8").splitlines()] == [0, 1, 2]
    seen: list[Entry] = []
    assert spool.replay(seen.append) == 3
    assert [e["n"] for e in seen] == [0, 1, 2] and spool.files() == []
    spool.append({"n": 3})  # a new file after the replay sealed the old one
    assert spool.replay(seen.append) == 1 and seen[-1] == {"n": 3}


def test_a_file_still_held_by_its_writer_is_left_alone(tmp_path: Path) -> None:
    writer, replayer = Spool(tmp_path), Spool(tmp_path)  # two workers on one spool folder
    writer.append({"n": 1})
    seen: list[Entry] = []
    assert replayer.replay(seen.append) == 0 and len(writer.files()) == 1
    writer.seal()
    assert replayer.replay(seen.append) == 1 and seen == [{"n": 1}]


def test_a_blocked_replay_keeps_the_file_for_the_next_round(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append({"n": 1})
    spool.append({"n": 2})

    def database_down(entry: Entry) -> None:
        if entry["n"] == 2:
            raise SpoolBlocked

    assert spool.replay(database_down) == 1
    seen: list[Entry] = []
    assert spool.replay(seen.append) == 2  # from the start again: applying must be idempotent
    assert spool.files() == []


def test_a_bad_entry_is_set_aside_and_the_rest_applied(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        spool.append({"n": n})
    seen: list[Entry] = []

    def apply(entry: Entry) -> None:
        if entry["n"] == 1:
            raise ValueError("unknown spool entry kind")
        seen.append(entry)

    assert spool.replay(apply) == 3
    assert [e["n"] for e in seen] == [0, 2]
    rejected = (tmp_path / "rejected" / "entries.jsonl").read_text(encoding="utf-8")
    assert [json.loads(line) for line in rejected.splitlines()] == [{"n": 1}]


WRITER = """
import sys, time
from pathlib import Path
from bot.records.spool import Spool
spool = Spool(Path(sys.argv[1]))
for n in range(3):
    spool.append({"n": n})
file = spool._file
file.write(b'{"n": 99, "cut": ')  # killed in the middle of a line
file.flush()
print("written", flush=True)
time.sleep(60)
"""


def test_entries_of_a_killed_writer_are_replayed_and_its_cut_line_skipped(tmp_path: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE,
                              cwd=Path(__file__).parent.parent)  # fmt: skip
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"written\n"
        seen: list[Entry] = []
        assert Spool(tmp_path).replay(seen.append) == 0  # alive: its file is held
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
        assert Spool(tmp_path).replay(seen.append) == 3
        assert seen == [{"n": 0}, {"n": 1}, {"n": 2}]
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()


def test_appends_from_threads_do_not_interleave(tmp_path: Path) -> None:
    entries = 200
    spool = Spool(tmp_path)
    text = "长" * 3000  # longer than a pipe buffer: a torn write would show

    def write(worker: int) -> None:
        for n in range(entries // 4):
            spool.append({"w": worker, "n": n, "text": text})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert time.monotonic() - started < 60
    seen: list[Entry] = []
    assert Spool(tmp_path).replay(seen.append) == 0  # still held by `spool`
    assert spool.replay(seen.append) == entries
    assert sorted((e["w"], e["n"]) for e in seen) == sorted(
        (w, n) for w in range(4) for n in range(entries // 4)
    )
