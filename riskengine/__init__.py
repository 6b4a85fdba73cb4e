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

__all__ = [
    "Config", "ConfigError", "DataError", "Portfolio", "Result", "RiskEngineError",
    "UsageError", "build_model", "build_models", "expected_shortfall", "load_config", "load_portfolio",
    "open_run", "portfolio_from_frame", "read_results", "run_model", "run_models", "sensitivity", "simulate", "value_at_risk",
    "write_run",
]
