"""Errors the faces turn into exit codes: ConfigError → 2, EngineError → 1."""


class ClinextractError(Exception):
    """Base class; the message is one plain line meant for the user."""


class ConfigError(ClinextractError):
    """The user's task, schema, data or options are wrong (exit code 2)."""


class EngineError(ClinextractError):
    """The engine could not be started or stopped answering (exit code 1)."""
