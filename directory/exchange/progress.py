"""A plain text progress bar for long imports, drawn on a terminal only.

Owns: ``ProgressBar`` — ``bar(done, total)`` redraws one ``\\r`` line on the stream when it is a TTY and does
nothing otherwise (pipes, logs, tests), so scripted runs see only the summary.
"""

from __future__ import annotations

from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.active = stream.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.active or total <= 0:
            return
        filled = min(WIDTH, WIDTH * done // total)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'-' * (WIDTH - filled)}] {done}/{total}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the bar's line so the next message starts on a fresh one."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
