"""Exceptions with the exit codes the command line returns.

Exit codes: 0 success, 1 unexpected failure, 2 usage (bad command-line arguments, an
output directory in the way, a run too large for this machine), 3 bad portfolio data,
4 bad configuration, 5 the results could not be written (disk full, no permission);
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations


class RiskEngineError(Exception):
    """Base class for errors a user can fix; carries the exit code."""

    exit_code = 1


class UsageError(RiskEngineError):
    """Bad command-line usage (an option value, an output directory in the way)."""

    exit_code = 2


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
