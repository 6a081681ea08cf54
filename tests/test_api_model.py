"""The Python API with the real bundled model: the README's example, as printed there."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from clinextract import api
from tests.paths import ROOT

pytestmark = pytest.mark.model


def readme_example() -> tuple[str, str]:
    """(the code, the output it shows) of the README's Python section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### 3. From Python") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shown = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    return code, shown


def test_the_readme_example_prints_what_the_readme_shows(monkeypatch):
    loads = []

    def counted(settings):
        loads.append(settings)
        return create(settings)

    create = api.create_engine
    monkeypatch.setattr(api, "create_engine", counted)
    code, shown = readme_example()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert printed.getvalue() == shown
    assert len(loads) == 1  # two calls, one model load
