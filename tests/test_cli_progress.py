"""The command line's progress: a tqdm bar on a terminal, ``[step/total]`` lines in a log."""

from __future__ import annotations

import importlib
import io
import re

cli = importlib.import_module("dmdviz.cli.main")  # the module (``dmdviz.cli.main`` the attribute is its function)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(monkeypatch, out: io.StringIO, total: int = 10, every: int = 5, first: int = 1) -> str:
    monkeypatch.setattr("sys.stdout", out)
    on_step = cli._progress(total, every)
    for step in range(first, total + 1):
        on_step(step, {"fm_loss": 0.5 / step, "other": 1.0})
    return out.getvalue()


def test_a_log_gets_one_line_every_few_steps(monkeypatch):
    lines = _run(monkeypatch, io.StringIO()).splitlines()
    assert [re.match(r"\[(\d+)/10\] \d+\.\ds fm_loss=(\S+)$", line).groups() for line in lines] == \
        [("5", "0.1"), ("10", "0.05")]


def test_a_terminal_gets_a_bar_that_ends_full(monkeypatch):
    text = _run(monkeypatch, Terminal(), first=4)  # a resumed run: its first step is not 1
    last = text.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in last and "10/10" in last and "fm_loss=0.05" in last
    assert "[5/10]" not in text
