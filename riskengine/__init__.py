"""riskengine: Monte Carlo credit risk of Japan's US$550B US investment program.

Public API: :func:`simulate`, :func:`read_results`, :func:`load_config`,
:func:`load_portfolio`, :class:`Result`.
"""

__version__ = "0.1.0"

from .config import Config, load_config
from .errors import ConfigError, DataError, RiskEngineError, UsageError
from .io import read_results
from .measures import expected_shortfall, value_at_risk
from .portfolio import Portfolio, load_portfolio, portfolio_from_frame
from .results import Result
from .simulate import build_model, run_model, simulate

__all__ = [
    "Config", "ConfigError", "DataError", "Portfolio", "Result", "RiskEngineError",
    "UsageError", "build_model", "expected_shortfall", "load_config", "load_portfolio",
    "portfolio_from_frame", "read_results", "run_model", "simulate", "value_at_risk",
]
