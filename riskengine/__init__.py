"""riskengine: Monte Carlo credit risk of Japan's US$550B US investment program.

Running
    simulate              run the engine on a config and a portfolio; returns a Result
    build_model           the kernels' inputs for one run of a config and a portfolio
    build_models          one model per run the config asks for (base and scenarios)
    run_model             simulate a built model's paths and compute the measures
    run_models            run several built models on the same paths
    sensitivity           each input of a spec at its low and high, on common random numbers
Inputs
    load_config           the shipped defaults, then a TOML file or a dict
    Config                a validated config
    load_portfolio        read and validate a portfolio file (CSV or Parquet)
    portfolio_from_frame  validate a portfolio DataFrame
    Portfolio             a validated portfolio in canonical order
Results
    Result                the Datasets of one run: .summary, .estimate(), .write()
    write_run             write a run directory (manifest and Parquet files)
    read_results          read a run directory back as a Result
    open_run              a run directory as an xarray DataTree
    value_at_risk         VaR of a loss sample (weighted or not)
    expected_shortfall    ES of a loss sample (weighted or not)
Errors (each carries the command line's exit code)
    RiskEngineError       the base class of errors a user can fix
    UsageError            bad command-line usage
    DataError             bad portfolio data: names file, row and column
    ConfigError           bad configuration: names file and key

The command line is ``riskengine`` (``riskengine --help``); README.md and docs/model.md
say what the engine computes.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING

#: each public name and the module that defines it; a name is imported on first use, so
#: ``import riskengine`` loads none of numba, SciPy, pandas, xarray or pyarrow (a command
#: or a call loads what it uses)
_SOURCES = {
    "__version__": "_version",
    "Config": "config", "load_config": "config",
    "ConfigError": "errors", "DataError": "errors", "RiskEngineError": "errors",
    "UsageError": "errors",
    "open_run": "io", "read_results": "io", "write_run": "io",
    "build_model": "kernel_inputs",
    "expected_shortfall": "measures", "value_at_risk": "measures",
    "Portfolio": "portfolio", "load_portfolio": "portfolio",
    "portfolio_from_frame": "portfolio",
    "Result": "results",
    "simulate": "runs",
    "sensitivity": "sensitivity",
    "build_models": "simulate", "run_model": "simulate", "run_models": "simulate",
}

__all__ = [
    "Config", "ConfigError", "DataError", "Portfolio", "Result", "RiskEngineError",
    "UsageError", "build_model", "build_models", "expected_shortfall", "load_config", "load_portfolio",
    "open_run", "portfolio_from_frame", "read_results", "run_model", "run_models", "sensitivity", "simulate", "value_at_risk",
    "write_run",
]

if TYPE_CHECKING:
    from ._version import __version__ as __version__
    from .config import Config, load_config
    from .errors import ConfigError, DataError, RiskEngineError, UsageError
    from .io import open_run, read_results, write_run
    from .kernel_inputs import build_model
    from .measures import expected_shortfall, value_at_risk
    from .portfolio import Portfolio, load_portfolio, portfolio_from_frame
    from .results import Result
    from .runs import simulate
    from .sensitivity import sensitivity
    from .simulate import build_models, run_model, run_models


def __getattr__(name: str):
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{source}", __name__), name)
    globals()[name] = value  # (found directly from now on)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCES})


class _Package(types.ModuleType):
    """The package module: ``simulate`` and ``sensitivity`` are functions, and stay so
    when their modules of the same name are first imported (the import system would set
    the package's attribute to the module)."""

    def __setattr__(self, name: str, value) -> None:
        if name in ("simulate", "sensitivity") and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
