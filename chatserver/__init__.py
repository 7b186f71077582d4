"""The live-chat support hub."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chatserver")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
