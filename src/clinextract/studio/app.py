"""The Studio's entry script: `streamlit run` runs this (through `clinextract studio`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from PIL import Image, ImageDraw

from clinextract.studio import ui

VIEWS = Path(__file__).parent / "views"


def favicon() -> Image.Image:
    """A small blue tile with a white bar: drawn, so nothing is fetched for it."""
    icon = Image.new("RGBA", (32, 32), (31, 119, 180, 255))
    ImageDraw.Draw(icon).rectangle((8, 13, 24, 19), fill=(255, 255, 255, 255))
    return icon


PAGES = (
    ("task.py", "Task", ":material/edit_note:"),
    ("run.py", "Run", ":material/play_arrow:"),
    ("results.py", "Results", ":material/table_view:"),
    ("review.py", "Review", ":material/fact_check:"),
    ("evaluate.py", "Evaluate", ":material/analytics:"),
)

# The favicon is drawn here: a Material icon as page_icon is fetched from fonts.gstatic.com
# by the browser, and the Studio never reaches the internet.
st.set_page_config(page_title="clinextract Studio", page_icon=favicon(), layout="wide")
pages = [
    st.Page(VIEWS / file, title=title, icon=icon, url_path=Path(file).stem, default=n == 0)
    for n, (file, title, icon) in enumerate(PAGES)
]
navigation = st.navigation(pages, position="top")
ui.sidebar(ui.settings())
navigation.run()
