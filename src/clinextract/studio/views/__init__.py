"""The Studio's pages, one Streamlit script each (drawn by `app.py`'s navigation)."""
