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

# An emoji page icon: Streamlit draws it as an inline data: image. A ":material/...:" page
# icon would be fetched from fonts.gstatic.com, i.e. opening the Studio would contact Google.
st.set_page_config(page_title="clinextract Studio", page_icon="🩺", layout="wide")
pages = [
    st.Page(VIEWS / file, title=title, icon=icon, url_path=Path(file).stem, default=n == 0)
    for n, (file, title, icon) in enumerate(PAGES)
]
navigation = st.navigation(pages, position="top")
ui.sidebar(ui.settings())
navigation.run()
