"""clinextract: schema-validated structured data from clinical reports, locally.

    from clinextract import Extractor, extract, run_task

`Extractor` keeps a schema, a description, examples and the loaded model for many calls;
`extract` is the one-call form; `run_task` runs a task file like `clinextract run`;
`Result` is what `Extractor.extract` returns. See docs/api.md.
"""

from .version import __version__

__all__ = ["Extractor", "Result", "__version__", "extract", "run_task"]
_FROM_API = {"Extractor", "Result", "extract", "run_task"}


def __getattr__(name: str):  # the API imports the engines; keep `import clinextract` light
    if name in _FROM_API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'clinextract' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
