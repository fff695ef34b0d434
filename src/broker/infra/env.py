"""Reading settings from the environment: typed values, and the error that stops start-up."""

from __future__ import annotations

from collections.abc import Mapping


class SettingsError(ValueError):
    """A setting has a value the broker cannot use."""


class Env:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str, default, cast=str):
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = cast(raw)
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{name}={raw!r}: {exc}") from None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise SettingsError(f"{name}={raw!r}: must not be negative")
        return value


def boolean(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def choice(*options: str):
    def cast(raw: str) -> str:
        if raw.lower() not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return raw.lower()
    return cast
