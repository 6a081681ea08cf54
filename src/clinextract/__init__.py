"""clinextract: schema-validated structured data from clinical reports, locally."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("clinextract")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"

__all__ = ["__version__", "extract", "run_task"]


def __getattr__(name: str):  # the API imports the engines; keep `import clinextract` light
    if name in ("extract", "run_task"):
        from . import api

        return getattr(api, name)
    raise AttributeError(name)
