"""The Studio's entry script: `streamlit run` runs this (through `clinextract studio`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from clinextract.studio import ui

VIEWS = Path(__file__).parent / "views"
PAGES = (
    ("task.py", "Task", ":material/edit_note:"),
    ("run.py", "Run", ":material/play_arrow:"),
    ("results.py", "Results", ":material/table_view:"),
    ("review.py", "Review", ":material/fact_check:"),
    ("evaluate.py", "Evaluate", ":material/analytics:"),
)

st.set_page_config(page_title="clinextract Studio", page_icon=":material/biotech:", layout="wide")
pages = [
    st.Page(VIEWS / file, title=title, icon=icon, url_path=Path(file).stem, default=n == 0)
    for n, (file, title, icon) in enumerate(PAGES)
]
navigation = st.navigation(pages, position="top")
ui.sidebar(ui.settings())
navigation.run()
