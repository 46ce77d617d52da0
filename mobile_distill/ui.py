"""What a run prints, and where everything else goes.

A careful tool prints one header per stage, one live progress bar per long step (with its ETA),
one summary line per stage, and the verdicts as tables at the end. What the libraries print
(Trainer's log dictionaries, transformers' load reports, converter banners, runtime C++ chatter,
import-time warnings of torchao and torch) goes to the run's log file instead, unless ``--verbose``.
On a terminal the bars are live; in a CI log (no TTY) a long step prints a plain line now and then.

Verbosity is a context variable set by `verbosity()` (the CLI does it per invocation), and every
redirection here is a context manager that restores what it changed.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

QUIET, NORMAL, VERBOSE = 0, 1, 2
_LEVEL: contextvars.ContextVar[int] = contextvars.ContextVar("mobile_distill_verbosity", default=NORMAL)
# While native output is redirected to a log file, the terminal is this duplicate of the old stderr.
_TERMINAL: contextvars.ContextVar[object | None] = contextvars.ContextVar("mobile_distill_terminal", default=None)

# Messages the libraries print in every healthy run; they say nothing to the user of this tool.
EXPECTED_WARNINGS = (
    r".*Enum subclass and is now natively supported.*",  # torch pytree, on importing torchao
    r".*TypedStorage is deprecated.*",
    r".*torch\.jit\..* is deprecated.*",
    r".*is deprecated and will be removed.*",
)
# Loggers that print on their own (a handler of their own, or Python's last-resort stderr handler):
# while a command runs, their records go to its log file instead.
# Those of the export targets' libraries are declared by each target (`Target.loggers`).
NOISY_LOGGERS = ("torch", "datasets", "accelerate")


@contextmanager
def verbosity(level: int):
    token = _LEVEL.set(level)
    try:
        yield
    finally:
        _LEVEL.reset(token)


def level() -> int:
    return _LEVEL.get()


def terminal_file():
    return _TERMINAL.get() or sys.stderr


def console(stdout: bool = False):
    """A rich console on the real terminal (stderr, or stdout for results), even while native output
    is redirected to a log file."""
    from rich.console import Console

    stream = sys.stdout if stdout and _TERMINAL.get() is None else terminal_file()
    # A log without a terminal (CI) has no width to fit: give tables room instead of rich's 80 columns.
    width = None if getattr(stream, "isatty", lambda: False)() else 120
    return Console(file=stream, soft_wrap=True, highlight=False, width=width)


def interactive() -> bool:
    stream = terminal_file()
    return bool(getattr(stream, "isatty", lambda: False)())


def say(message: str) -> None:
    if level() >= NORMAL:
        console().print(message)


def detail(message: str) -> None:
    if level() >= VERBOSE:
        console().print(f"[dim]{message}[/]")


def warn(message: str) -> None:
    if level() >= NORMAL:
        console().print(f"[yellow]warning:[/] {message}")


def minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


class Stage:
    """A stage in progress: set ``summary`` for its one closing line."""

    def __init__(self, name: str):
        self.name = name
        self.summary = ""
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


@contextmanager
def stage(name: str, headline: str = ""):
    """One header line when the stage starts, one summary line (with its wall time) when it ends."""
    current = Stage(name)
    if level() >= NORMAL:
        console().rule(f"[bold]{name}[/]" + (f"  {headline}" if headline else ""), align="left", style="dim")
    try:
        yield current
    except BaseException:
        if level() >= NORMAL:
            console().print(f"[red]{name}: stopped after {minutes(current.seconds)}[/]")
        raise
    if level() >= NORMAL:
        console().print(f"[bold]{name}[/]: {current.summary or 'done'} ({minutes(current.seconds)})")


class _PlainProgress:
    """Progress for a log without a terminal: a line at most every 10% or every 60 seconds."""

    def __init__(self, description: str, total: int | None):
        self.description, self.total, self.done = description, total, 0
        self.start = self.last_time = time.perf_counter()
        self.last_fraction = 0.0
        # Where and whether to print, fixed here: a bar may be updated from worker threads (the aarch64
        # lane's), which do not see this thread's context (the terminal while native output goes to a log).
        self.stream, self.shown = terminal_file(), level() >= NORMAL

    def update(self, description: str | None = None, advance: int = 0, total: int | None = None) -> None:
        self.description = description or self.description
        self.total = total if total is not None else self.total
        self.done += advance
        now = time.perf_counter()
        fraction = self.done / self.total if self.total else 0.0
        if fraction - self.last_fraction >= 0.1 or now - self.last_time >= 60:
            self.last_fraction, self.last_time = fraction, now
            if self.shown:
                print(self._line(now), file=self.stream, flush=True)

    def _line(self, now: float) -> str:
        elapsed = now - self.start
        if not self.total:
            return f"  {self.description}: {self.done} done, {minutes(elapsed)}"
        left = elapsed / self.done * (self.total - self.done) if self.done else 0
        return (f"  {self.description}: {self.done}/{self.total} ({self.done / self.total:.0%}), "
                f"{minutes(elapsed)} elapsed, about {minutes(left)} left")


class _RichProgress:
    def __init__(self, progress, task):
        self.progress, self.task = progress, task

    def update(self, description: str | None = None, advance: int = 0, total: int | None = None) -> None:
        kwargs = {"advance": advance}
        if description:
            kwargs["description"] = description
        if total is not None:
            kwargs["total"] = total
        self.progress.update(self.task, **kwargs)


@contextmanager
def progress(description: str, total: int | None):
    """A progress bar with its ETA on a terminal; plain lines in a log; nothing when quiet."""
    if level() < NORMAL or not interactive():
        yield _PlainProgress(description, total)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("elapsed"),
               TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    # The bar redraws from a thread: it gets its own copy of the terminal's descriptor, so output the
    # libraries send to descriptors 1 and 2 meanwhile (redirected to a log) cannot take it along.
    stream = os.fdopen(os.dup(terminal_file().fileno()), "w", buffering=1)
    try:
        with Progress(*columns, console=Console(file=stream, highlight=False), transient=False) as bar:
            yield _RichProgress(bar, bar.add_task(description, total=total))
    finally:
        stream.close()


@contextmanager
def native_output_to(log: Path | None):
    """Send what native libraries and Python print to file descriptors 1 and 2 (converter banners,
    runtime C++ logs, tqdm bars) to ``log``; the terminal stays reachable through `console()`.

    Redirecting the descriptors is the only way to catch output written by C++ too. On a failure
    the end of the log is replayed to the terminal before the error propagates, so nothing is
    hidden. In verbose mode (or with no log) nothing is redirected.
    """
    if log is None or level() >= VERBOSE:
        yield
        return
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    token = _TERMINAL.set(terminal if _TERMINAL.get() is None else _TERMINAL.get())
    start = Path(log).stat().st_size if Path(log).exists() else 0
    with open(log, "ab") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            _TERMINAL.reset(token)
            terminal.close()
            if failed:
                with open(log, "rb") as written:
                    written.seek(start)
                    sys.stderr.write(written.read().decode("utf-8", "replace")[-20000:])


@contextmanager
def library_output(log: Path | None):
    """Python-level library output for the duration of a command: logging records (transformers' load
    reports, torchao's import messages, ...) and expected warnings go to ``log``; datasets' and
    transformers' own progress bars are switched off (ours show progress). Everything is restored on
    exit. Verbose mode changes nothing."""
    if level() >= VERBOSE:
        yield
        return
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log, encoding="utf-8", delay=True) if log is not None else logging.NullHandler()
    if log is not None:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    import torch  # noqa: F401  (torch installs its own log handlers on import: they must exist to be redirected)

    root = logging.getLogger()
    from .targets import TARGETS

    names = NOISY_LOGGERS + tuple(name for target in TARGETS.values() for name in target.loggers)
    loggers = {name: logging.getLogger(name) for name in dict.fromkeys(names)}
    saved = {name: (logger.propagate, list(logger.handlers)) for name, logger in loggers.items()}
    for logger in loggers.values():
        logger.handlers[:] = []
        logger.propagate = True
    root.addHandler(handler)
    undo = [_transformers_to_root(), _datasets_bars_off()]
    try:
        with warnings.catch_warnings():
            for pattern in EXPECTED_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            logging.captureWarnings(True)  # other warnings: into the log, not the terminal
            try:
                yield
            finally:
                logging.captureWarnings(False)
    finally:
        for restore in undo:
            restore()
        root.removeHandler(handler)
        handler.close()
        for name, (propagate, handlers) in saved.items():
            loggers[name].propagate = propagate
            loggers[name].handlers[:] = handlers


def _transformers_to_root():
    """transformers logs through its own stderr handler (propagate off): send its records to ours."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        return lambda: None
    library = logging.getLogger("transformers")
    propagate, handlers = library.propagate, list(library.handlers)
    bars = hf_logging.is_progress_bar_enabled()
    library.handlers[:] = []
    library.propagate = True
    hf_logging.disable_progress_bar()

    def restore():
        library.handlers[:] = handlers
        library.propagate = propagate
        if bars:
            hf_logging.enable_progress_bar()
    return restore


def _datasets_bars_off():
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        return lambda: None
    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    return datasets.enable_progress_bars if enabled else (lambda: None)


# ---- results a person reads ----

def print_gate1(report) -> None:
    """Gate 1's verdict as a table (results go to stdout: they are the answer)."""
    from rich.table import Table

    table = Table(title=f"gate 1 (student vs teacher): {report.verdict}")
    for column in ("model", "layers", "parameters", "test accuracy", "macro-F1"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for name, part in (("teacher", report.teacher), ("student", report.student)):
        table.add_row(name, str(part.layers), f"{part.parameters:,}", f"{part.test.accuracy:.4f}",
                      f"{part.test.macro_f1:.4f}")
    out = console(stdout=True)
    out.print(table)
    colour = "green" if report.verdict == "PASS" else "red"
    out.print(f"[{colour}]{report.verdict}[/]: retention {report.retention:.4f} (floor "
              f"{report.thresholds['min_retention']}), agreement {report.agreement:.4f}, majority-class rate "
              f"{report.majority_rate:.4f}; report {report.student.path}/distill_report.json")
    for reason in report.reasons:
        out.print(f"  [red]{reason}[/]")


def print_diagnosis(found, rows: int) -> None:
    out = console(stdout=True)
    shown = f"{found.agreement:.4f}" if found.agreement is not None else "none (the artifact does not run)"
    out.print(f"{found.artifact}: agreement with the reference {shown} on {rows} test texts")
    for check in found.checks:
        colour = {"found": "red", "clear": "green", "crashed": "magenta"}.get(check.status, "yellow")
        out.print(f"  [{colour}]{check.status:>7}[/] {check.name}: {check.summary}")
    out.print("[red]cause: " + found.causes[0].summary + "[/]" if found.causes else "[green]no known cause found[/]")


def print_run_summary(result) -> None:
    if level() < NORMAL:
        return
    seconds = result.seconds
    parts = [f"{name} {minutes(value)}" for name, value in seconds.items()]
    console().print(f"wall time: {minutes(sum(seconds.values()))} ({', '.join(parts)})"
                    + (f"; reused: {', '.join(result.skipped)}" if result.skipped else ""))
