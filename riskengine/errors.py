"""Exceptions with the exit codes the command line returns.

Exit codes: 0 success, 1 unexpected failure, 2 usage (bad command-line arguments, an
output directory in the way, a run too large for this machine), 3 bad portfolio data,
4 bad configuration, 5 the results could not be written (disk full, no permission);
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RiskEngineError(Exception):
    """Base class for errors a user can fix; carries the exit code."""

    exit_code = 1


class UsageError(RiskEngineError):
    """Bad command-line usage (an option value, an output directory in the way)."""

    exit_code = 2


class ArgumentError(UsageError, ValueError):
    """A bad argument of a Python function (``simulate(paths=0)``): the message names it.
    Also a ``ValueError``."""


class ArgumentTypeError(UsageError, TypeError):
    """An argument of a Python function of the wrong type (``simulate(portfolio=[1, 2])``):
    the message names it and what it takes. Also a ``TypeError``."""


class DataError(RiskEngineError):
    """Bad portfolio data: the message names the file, row and column."""

    exit_code = 3

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        shown = self.problems[:25]
        more = len(self.problems) - len(shown)
        text = "\n".join(f"  - {p}" for p in shown)
        if more > 0:
            text += f"\n  ... and {more} more"
        n = len(self.problems)
        super().__init__(f"invalid portfolio data ({n} problem{'s' * (n != 1)}):\n{text}")


class ConfigError(RiskEngineError):
    """Bad configuration: the message names the file and the key."""

    exit_code = 4


class OutputError(RiskEngineError, OSError):
    """The results could not be written: the message names the path and the reason. Also
    an ``OSError``, so code that caught the operating system's error still does."""

    exit_code = 5

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Terminated(BaseException):
    """SIGTERM arrived (raised by the command line's handler, like KeyboardInterrupt for
    SIGINT)."""


@contextmanager
def naming_read_errors(error: type[RiskEngineError], path: Path, what: str, encoding: str,
                       prefix: str = "") -> Iterator[None]:
    """Turn the operating system's errors on reading ``path`` (``what``: "a TOML file",
    "a portfolio file") into ``error`` naming the file (after ``prefix``: "config ") and
    what to do; ``encoding``: the hint for a file that is not UTF-8."""
    name = f"{prefix}{path}"
    try:
        yield
    except FileNotFoundError:
        raise error(f"{name}: file not found") from None
    except IsADirectoryError:
        raise error(f"{name}: is a directory, not {what}") from None
    except UnicodeDecodeError as e:
        raise error(f"{name}: not UTF-8 text (byte {e.start}: {e.reason}); {encoding}") from None
    except OSError as e:
        raise error(f"{name}: cannot be read ({e.strerror or e})") from None
