"""The error boundary of the `lash` command: every exception a command raises becomes one short
message on stderr and an exit status. Expected failures (lash.errors, the file system, decoding) exit
with 2 and say how to fix them; Ctrl-C exits with 130; anything else is a bug: one line naming a log
file that holds the full traceback, exit status 1."""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import time
import traceback

from .. import __version__
from ..errors import LashError

EXPECTED = 2
BUG = 1
INTERRUPTED = 130

# errno -> (what happened, how to fix it), for the OS errors any command can meet
_OS_ERRORS = {
    errno.ENOSPC: ("no space left on the device", "free disk space or write to another file system, then run again"),
    errno.EDQUOT: ("disk quota exceeded", "free space in your quota or write elsewhere, then run again"),
    errno.EROFS: ("read-only file system", "write the outputs to a writable file system"),
    errno.EISDIR: ("is a directory, not a file", "give the path of a file"),
    errno.ENOTDIR: ("a part of the path is a file, not a directory", "check the path"),
    errno.EACCES: ("permission denied", "make the path readable (inputs) or writable (outputs), or use another"),
    errno.EPERM: ("operation not permitted", "make the path readable (inputs) or writable (outputs), or use another"),
    errno.ENOENT: ("no such file or directory", "check the path; a stage input is written by an earlier stage"),
}
_OTHER_OS_FIX = "check the path and that its file system (or the network) is available, then run again"


def exit_status(exc: BaseException, argv: list[str], flags: dict[str, str] | None = None) -> int:
    """Report `exc` on stderr the way its kind deserves; return the exit status. flags: the
    command's declared paths -> their option (a file named by an OS error is shown with it)."""
    if isinstance(exc, KeyboardInterrupt):
        _say("interrupted")
        return INTERRUPTED
    cause = _expected_cause(exc)
    if cause is None:
        return internal_error(exc, argv)
    if isinstance(cause, LashError):
        label, text = cause.label, str(cause)
        _say(text if text.startswith(label) else f"{label}: {text}")
    elif isinstance(cause, BrokenPipeError):  # e.g. `lash presets | head -1`: the reader has left
        _silence_stdout()
        return BUG
    elif isinstance(cause, OSError):  # the file system or the network, not lash
        problem, fix = _OS_ERRORS.get(cause.errno, (cause.strerror or str(cause), _OTHER_OS_FIX))
        where = _where(cause.filename, flags) if cause.filename else ""
        _say(f"{where}{problem}. Fix: {fix}")
    else:
        _say(f"a file is not UTF-8 text ({cause.reason} at byte {cause.start}). Fix: save the config "
             "and data files as UTF-8")
    return EXPECTED


def _expected_cause(exc: BaseException) -> BaseException | None:
    """`exc` if it is an expected failure, or the expected failure it was raised from or while
    handling: torch.save, for one, turns a full disk into a RuntimeError whose context is the OSError."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (LashError, OSError, UnicodeDecodeError)):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ if exc.__cause__ is not None or exc.__suppress_context__ else exc.__context__
    return None


def internal_error(exc: BaseException, argv: list[str]) -> int:
    """A bug: the full traceback to a log file, one line to the user."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    summary = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    text = "".join(traceback.format_exception(exc))
    name = f"lash-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path = os.path.join(tempfile.gettempdir(), name)
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"command: {' '.join(argv)}\nlash {__version__}\n\n{text}")
    except OSError:  # nowhere to put the log: the traceback is all the user can send us
        sys.stderr.write(text)
        _say(f"internal error: {summary}")
        return BUG
    _say(f"internal error: {summary}; full traceback in {path}")
    return BUG


def _where(filename, flags: dict[str, str] | None) -> str:
    """'--phase2 p2.pt: ' for a declared path, 'p2.pt: ' for any other."""
    flag = (flags or {}).get(os.path.realpath(filename)) if isinstance(filename, str) else None
    return f"{flag} {filename}: " if flag else f"{filename}: "


def _say(message: str) -> None:
    print(f"lash: {message}", file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured): nothing to flush
        pass
