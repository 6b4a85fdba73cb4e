"""riskengine: Monte Carlo credit risk of Japan's US$550B US investment program.

Public API: :func:`simulate`, :func:`read_results`, :func:`load_config`,
:func:`load_portfolio`, :class:`Result`.
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
from .simulate import build_models, run_model, run_models

__all__ = [
    "Config", "ConfigError", "DataError", "Portfolio", "Result", "RiskEngineError",
    "UsageError", "build_model", "build_models", "expected_shortfall", "load_config", "load_portfolio",
    "open_run", "portfolio_from_frame", "read_results", "run_model", "run_models", "simulate", "value_at_risk",
    "write_run",
]
