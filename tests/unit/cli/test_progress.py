"""Progress: plain lines every N seconds without a terminal, a bar with rate and ETA on one."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from contentcloud.cli.output import ProgressLines, progress_bar, progress_line

PROJECT = Path(__file__).resolve().parents[3]


def test_a_line_has_count_total_rate_and_eta():
    assert (
        progress_line("demo", 1200, 5000, 4.0, "page 12")
        == "demo: 1,200 of 5,000 (24%), 300/s, ETA 0:00:13, page 12"
    )
    assert progress_line("demo", 1200, None, 4.0) == "demo: 1,200, 300/s"  # no total: no percentage, no ETA
    assert progress_line("demo", 0, 10, 0.0) == "demo: 0 of 10 (0%), 0/s"


def test_without_a_terminal_one_line_per_interval():
    now = [100.0]
    out = io.StringIO()
    lines = ProgressLines("demo", 10.0, out, clock=lambda: now[0])
    for step in range(1, 26):  # 25 updates one second apart
        now[0] = 100.0 + step
        lines(step * 100, 5000, f"page {step}")
    assert out.getvalue().splitlines() == [
        "demo: 1,000 of 5,000 (20%), 100/s, ETA 0:00:40, page 10",
        "demo: 2,000 of 5,000 (40%), 100/s, ETA 0:00:30, page 20",
    ]


def test_progress_bar_without_a_terminal_uses_the_interval_and_zero_turns_it_off():
    out = io.StringIO()
    with progress_bar("demo", interval=0.0, stream=out, tty=False) as update:
        assert update is None
    with progress_bar("demo", interval=0.001, stream=out, tty=False) as update:
        assert isinstance(update, ProgressLines)


def test_on_a_terminal_the_bar_shows_rate_and_eta():
    """Rendered by rich into a real pseudo-terminal, read back as text."""
    script = (
        "import time\n"
        "from contentcloud.cli.output import progress_bar\n"
        "with progress_bar('demo') as update:\n"
        "    for i in range(1, 11):\n"
        "        update(i * 10, 1000, f'page {i}')\n"
        "        time.sleep(0.12)\n"
    )
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=follower, stdout=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=30) == 0
    os.close(leader)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    assert "demo" in text and "/1000" in text
    assert re.search(r"\d+/1000 \d+/s 0:00:0\d ETA \d:\d\d:\d\d page \d+", text), text[-2000:]
