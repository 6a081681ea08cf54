"""The installed version (kept apart from the package's `__init__`, so that low layers
can read it without importing the package face)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("clinextract")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"
