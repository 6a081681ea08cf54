"""Prompts: a static system part first (instruction, task, schema), then the few-shot
pairs, then the report. Static parts first so engines reuse their cached prefix.

Templates live in `prompts/*.txt`; `{name}` placeholders are filled with str.format.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files

from .examples import Example
from .messages import COMPLETION_FORMAT, Message
from .schema import OutputSchema
from .settings import stable_hash


@cache
def template(name: str) -> str:
    return files("clinextract").joinpath("prompts", f"{name}.txt").read_text("utf-8").strip()


class PromptBuilder:
    """Builds the messages for one task; the system part is built once."""

    def __init__(self, description: str, schema: OutputSchema):
        self.system = template("system").format(
            description=description.strip(), schema=schema.describe()
        )
        self.hash = stable_hash(
            [
                self.system,
                template("user"),
                template("repair"),
                template("repair_fields"),
                COMPLETION_FORMAT,
            ]
        )

    def messages(self, text: str, examples: Sequence[Example] = ()) -> list[Message]:
        msgs = [{"role": "system", "content": self.system}]
        for ex in examples:
            msgs.append({"role": "user", "content": self.user(ex.input)})
            msgs.append({"role": "assistant", "content": ex.output})
        msgs.append({"role": "user", "content": self.user(text)})
        return msgs

    @staticmethod
    def user(text: str) -> str:
        return template("user").format(text=text.strip())

    @staticmethod
    def repair(messages: list[Message], bad_output: str, error: str) -> list[Message]:
        """The same conversation, plus the invalid answer and what was wrong with it."""
        return [
            *messages,
            {"role": "assistant", "content": bad_output},
            {"role": "user", "content": template("repair").format(error=error)},
        ]

    @staticmethod
    def repair_fields(
        messages: list[Message],
        bad_output: str,
        field_errors: dict[str, str],
        names: Sequence[str],
    ) -> list[Message]:
        """The same conversation, plus the answer and a request for the failed fields
        alone (the rest of the answer was valid and is kept)."""
        problems = "; ".join(f"{path}: {why}" for path, why in field_errors.items())
        ask = template("repair_fields").format(errors=problems, fields=", ".join(names))
        return [
            *messages,
            {"role": "assistant", "content": bad_output},
            {"role": "user", "content": ask},
        ]
