"""The Studio: a local Streamlit app to build a task, run it, and inspect and evaluate
the results. Start it with `clinextract studio` (needs the `studio` extra).

The logic lives in plain modules that do not import Streamlit (`schema_builder`,
`workspace`, `runner`, `results`, `metrics`); the pages under `views/` only draw them.
"""
