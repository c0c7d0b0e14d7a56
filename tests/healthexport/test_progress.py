"""The commands' progress bar: a redrawn bar on a terminal, plain periodic lines elsewhere."""

from __future__ import annotations

import io

from healthexport.lib.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_it_draws_rate_and_eta_and_clears_its_line():
    stream = Terminal()
    with ProgressBar(total=1000, unit="items", stream=stream, redraw_every=0) as bar:
        bar.advance_to(250, "heart_rate")
        bar.advance_to(1000, "workouts")
    drawn = stream.getvalue()
    assert "heart_rate" in drawn and "items/s" in drawn
    assert "\x1b[31m" not in drawn  # not red
    assert drawn.endswith("\r")  # leave=False: the bar's line was cleared


def test_elsewhere_it_writes_a_plain_line_at_most_every_few_seconds():
    stream = io.StringIO()
    bar = ProgressBar(total=200, unit="items", stream=stream, plain_every=3600)
    bar.advance_to(50, "step_count")
    bar.advance_to(120, "step_count")
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("  50/200 items (25%) step_count, ")


def test_it_never_moves_backwards_nor_past_the_total():
    bar = ProgressBar(total=10, unit="items", stream=io.StringIO())
    bar.advance_to(7)
    bar.advance_to(3)
    assert bar.done == 7
    bar.advance_to(99)
    assert bar.done == 10
