"""Small Streamlit helpers shared by the pages.

Widget values survive page changes: Streamlit forgets the state of a widget that a run
did not draw, so each widget's value is also kept under `_kept` and put back before the
widget is drawn again (`keep`). Widgets get no default arguments, only a key whose state
is set first, so Streamlit never warns about two sources of a value.

Settings widgets are generated from the `Settings` fields (type, bounds, help text),
like the CLI's options, so nothing about a setting is declared twice.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import streamlit as st
from pydantic import SecretStr, ValidationError

from ..settings import Settings
from .workspace import base_settings

_KEPT = "_kept"


def settings() -> Settings:
    """The Studio's base Settings (folders), read once per browser session."""
    if "_settings" not in st.session_state:
        st.session_state["_settings"] = base_settings()
    return st.session_state["_settings"]


def keep(key: str, default: Any, options: list[Any] | None = None) -> str:
    """Restore a widget's value before drawing it; returns the key to pass to it."""
    kept = st.session_state.setdefault(_KEPT, {})
    if key not in st.session_state:
        st.session_state[key] = kept.get(key, default)
    if options is not None and st.session_state[key] not in options:
        st.session_state[key] = default if default in options else (options or [None])[0]
    return key


def remember(*keys: str) -> None:
    kept = st.session_state.setdefault(_KEPT, {})
    for key in keys:
        if key in st.session_state:
            kept[key] = st.session_state[key]


def kept_value(key: str, default: Any = None) -> Any:
    if key in st.session_state:
        return st.session_state[key]
    return st.session_state.get(_KEPT, {}).get(key, default)


def set_kept(key: str, value: Any) -> None:
    """Change a widget's value from code (callbacks only: before the widget is drawn)."""
    st.session_state.setdefault(_KEPT, {})[key] = value
    st.session_state[key] = value


def label_of(name: str) -> str:
    return name.replace("_", " ").capitalize()


def validation_messages(exc: ValidationError) -> list[str]:
    """A pydantic error as plain lines: 'Parallel: Input should be ...'."""
    lines = []
    for err in exc.errors():
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{label_of(str(err['loc'][0]))}: {message}" if err["loc"] else message)
    return lines


def _bounds(name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in Settings.model_fields[name].metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if getattr(item, attr, None) is not None:
                out[attr] = getattr(item, attr)
    return out


def _plain(annotation: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def setting_input(name: str, key: str, *, label: str | None = None, **widget: Any) -> Any:
    """A widget for one Settings field; returns the value in the field's own type.

    The initial value is the field's default unless `keep` already holds one."""
    info = Settings.model_fields[name]
    annotation, optional = _plain(info.annotation)
    default = info.get_default(call_default_factory=True)
    label = label or label_of(name)
    common = {"help": info.description, **widget}
    if typing.get_origin(annotation) is typing.Literal:
        options = list(typing.get_args(annotation))
        return st.selectbox(label, options, key=keep(key, default, options), **common)
    if annotation is bool and optional:
        words = {"auto": None, "on": True, "off": False}
        start = next(w for w, v in words.items() if v == default)
        choice = st.selectbox(label, list(words), key=keep(key, start, list(words)), **common)
        return words[choice]
    if annotation is bool:
        return st.checkbox(label, key=keep(key, bool(default)), **common)
    if annotation in (int, float):
        bounds = _bounds(name)
        low = bounds.get("ge", bounds.get("gt"))
        high = bounds.get("le", bounds.get("lt"))
        cast = annotation
        limits = {
            "min_value": None if low is None else cast(low),
            "max_value": None if high is None else cast(high),
        }
        if annotation is float:
            limits["step"] = 0.1 if high is not None and high <= 2 else 1.0
        return cast(st.number_input(label, key=keep(key, cast(default)), **limits, **common))
    if typing.get_origin(annotation) is list:
        text = st.text_input(label, key=keep(key, ", ".join(default or [])), **common)
        return [part.strip() for part in text.split(",") if part.strip()]
    if annotation is SecretStr:
        text = st.text_input(label, type="password", key=keep(key, ""), **common)
        return SecretStr(text) if text else None
    text = st.text_input(label, key=keep(key, "" if default is None else str(default)), **common)
    if annotation is Path:
        return Path(text)
    return (text.strip() or None) if optional else text


def show_error(message: str | BaseException, detail: str | None = None) -> None:
    """An error as the user should read it: one plain line, the details folded away."""
    st.error(str(message), icon=":material/error:")
    if detail:
        with st.expander("Details"):
            st.code(detail, language=None)


def sidebar(current: Settings) -> None:
    with st.sidebar:
        st.markdown("#### Folders")
        for name in ("task_dir", "data_dir", "example_dir", "output_dir"):
            st.caption(f"{label_of(name)}: `{getattr(current, name)}`")
        st.caption("Runs on this machine; nothing is sent anywhere else.")
