"""The installed package's version (``riskengine.__version__``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("riskengine")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"
