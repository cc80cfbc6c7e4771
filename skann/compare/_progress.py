"""Progress of a comparison on standard error: one bar per colour, counting fits."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import os
import re
import shutil
import sys
import threading
import time
from contextlib import contextmanager, redirect_stderr

from joblib import parallel_config

# joblib reports every task it has completed at a verbosity above 10, and
# writes to stdout from 50 on.
_JOBLIB_VERBOSE = 49
_JOBLIB_DONE = re.compile(r"^\[Parallel\(.*?\)\]: Done\s+(\d+)")


def _duration(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class FitProgressBar:
    """A count of completed fits, one bar at a time, on a text stream.

    Not to be confused with ``skann._core.training.Progress``, the state a
    continued fit starts from: this one only shows how many fits are done.

    On a terminal the bar is one line redrawn in place with ``"\\r"``. On
    anything else (a file, a pipe, CI's log) it becomes plain lines: one each
    time another ``line_percent`` of the fits is done, or when
    ``line_seconds`` have passed since the last line and the count moved, and
    one at the end. Messages go on their own lines in both cases.

    Parameters
    ----------
    stream : file-like, default=None
        Where to write; None means ``sys.stderr`` at construction.

    interactive : bool, default=None
        Redraw one line in place. None means: if ``stream`` is a terminal.

    line_percent : int, default=10
        Percent of the fits between two plain lines.

    line_seconds : float, default=30
        Seconds after which a plain line is written anyway, if the count moved.

    clock : callable, default=time.monotonic
        Seconds, for the elapsed times.
    """

    # Redraw a terminal line at most this often, in seconds.
    redraw_seconds = 0.1

    def __init__(
        self,
        stream=None,
        *,
        interactive=None,
        line_percent=10,
        line_seconds=30,
        clock=time.monotonic,
    ):
        self.stream = sys.stderr if stream is None else stream
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            terminal = bool(isatty and isatty())
            interactive = terminal and os.environ.get("TERM") != "dumb"
        self.interactive = interactive
        self.line_percent, self.line_seconds = line_percent, line_seconds
        self.clock = clock
        self._lock = threading.RLock()
        self.label, self.total, self.done, self.note = None, 0, 0, ""
        self._start = self._last_write = 0.0
        self._last_line_done, self._drawn = 0, 0

    def start(self, label, total, note=""):
        """Begin a bar of ``total`` fits called ``label``; ``note`` says which."""
        with self._lock:
            self.finish()
            self.label, self.total, self.done, self.note = label, total, 0, ""
            self._start = self._last_write = self.clock()
            self._last_line_done = 0
            if self.interactive:
                self._draw()
            else:
                self._write(f"[{label}] {total} fits" + (f": {note}" if note else ""))

    def advance(self, note, n=1):
        """Count ``n`` more fits done; ``note`` says what the last one was."""
        with self._lock:
            self.update(self.done + n, note)

    def update(self, done, note):
        """Set the count of fits done to ``done``."""
        with self._lock:
            if self.label is None:
                return
            self.done, self.note = min(done, self.total), note
            now = self.clock()
            if self.interactive:
                if self.done == self.total or now - self._last_write >= (
                    self.redraw_seconds
                ):
                    self._draw()
            elif self._line_due(now):
                self._write(self._text())
                self._last_line_done = self.done

    def message(self, text):
        """Write ``text`` on a line of its own, keeping the bar below it."""
        with self._lock:
            if self.interactive and self._drawn:
                self._clear()
                self._write(text)
                self._draw()
            else:
                self._write(text)

    def finish(self):
        """End the current bar, leaving its last state on the stream."""
        with self._lock:
            if self.label is None:
                return
            if self.interactive:
                self._draw()
                self.stream.write("\n")
                self.stream.flush()
                self._drawn = 0
            elif self.done != self._last_line_done:
                self._write(self._text())
            self.label = None

    @contextmanager
    def counting_joblib(self, note, offset=None):
        """Count the tasks joblib completes inside the block as fits done.

        joblib counts its completed tasks in the calling process whatever the
        backend (sequential, processes, Dask) and prints that count when
        verbose; this reads those lines from standard error, counts them on
        from ``offset`` (default: the count on entry), and passes any other
        line through.
        """
        offset = self.done if offset is None else offset
        target = sys.stderr

        def on_line(line):
            match = _JOBLIB_DONE.match(line)
            if match:
                self.update(offset + int(match.group(1)), note)
            elif not line.startswith("[Parallel("):
                target.write(line + "\n")

        reader = _LineReader(on_line)
        with parallel_config(verbose=_JOBLIB_VERBOSE), redirect_stderr(reader):
            try:
                yield
            finally:
                reader.flush()

    def _line_due(self, now):
        if self.done == self._last_line_done:
            return False
        if self.done == self.total:
            return True
        step = max(1, self.line_percent)
        bucket = self.done * 100 // self.total // step
        if bucket > self._last_line_done * 100 // self.total // step:
            return True
        return now - self._last_write >= self.line_seconds

    def _text(self):
        percent = self.done * 100 // self.total if self.total else 100
        elapsed = _duration(self.clock() - self._start)
        text = f"[{self.label}] {self.done}/{self.total} fits ({percent}%), {elapsed}"
        return f"{text}: {self.note}" if self.note else text

    def _bar_text(self):
        percent = self.done * 100 // self.total if self.total else 100
        width = 24
        filled = width * self.done // self.total if self.total else width
        bar = "#" * filled + "." * (width - filled)
        elapsed = _duration(self.clock() - self._start)
        text = f"{self.label} [{bar}] {self.done}/{self.total} {percent:3d}% {elapsed}"
        if self.note:
            text += f"  {self.note}"
        # A line that wraps cannot be redrawn with "\r".
        columns = shutil.get_terminal_size(fallback=(80, 24)).columns - 1
        return text[: max(columns, 20)]

    def _draw(self):
        text = self._bar_text()
        self.stream.write("\r" + text + " " * max(0, self._drawn - len(text)))
        self.stream.flush()
        self._drawn = len(text)
        self._last_write = self.clock()

    def _clear(self):
        self.stream.write("\r" + " " * self._drawn + "\r")
        self._drawn = 0

    def _write(self, text):
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last_write = self.clock()


class NullFitProgressBar:
    """A :class:`FitProgressBar` that shows nothing."""

    def start(self, label, total, note=""):
        pass

    def advance(self, note, n=1):
        pass

    def update(self, done, note):
        pass

    def message(self, text):
        pass

    def finish(self):
        pass

    @contextmanager
    def counting_joblib(self, note, offset=None):
        yield


class _LineReader:
    """A write-only text stream that hands each complete line to ``on_line``."""

    def __init__(self, on_line):
        self.on_line = on_line
        self._buffer = ""
        self._lock = threading.Lock()

    def write(self, text):
        with self._lock:
            *lines, self._buffer = (self._buffer + text).split("\n")
        for line in lines:
            self.on_line(line)
        return len(text)

    def flush(self):
        with self._lock:
            line, self._buffer = self._buffer, ""
        if line:
            self.on_line(line)

    def isatty(self):
        return False
