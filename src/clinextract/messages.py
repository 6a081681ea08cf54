"""A conversation as engines receive it, and how it is written for a plain completion
endpoint (a base model has no chat template): the definitions that prompting writes and
the engines read."""

from __future__ import annotations

from collections.abc import Sequence

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": text}

# Each user turn ends with a cue after which the JSON answer starts.
COMPLETION_FORMAT = ("{system}\n\n", "{content}\nJSON:\n", "{content}\n\n")


def render_completion_prompt(messages: Sequence[Message]) -> str:
    system_fmt, user_fmt, assistant_fmt = COMPLETION_FORMAT
    parts = []
    for msg in messages:
        if msg["role"] == "system":
            parts.append(system_fmt.format(system=msg["content"]))
        elif msg["role"] == "user":
            parts.append(user_fmt.format(content=msg["content"]))
        else:
            parts.append(assistant_fmt.format(content=msg["content"]))
    return "".join(parts)
