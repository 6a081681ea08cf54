"""clinextract: schema-validated structured data from clinical reports, locally."""

from .version import __version__

__all__ = ["__version__", "extract", "run_task"]


def __getattr__(name: str):  # the API imports the engines; keep `import clinextract` light
    if name in ("extract", "run_task"):
        from . import api

        return getattr(api, name)
    raise AttributeError(name)
