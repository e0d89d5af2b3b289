from __future__ import annotations


class ActionRefused(Exception):
    """A service refused an action; the message is shown to the person as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
