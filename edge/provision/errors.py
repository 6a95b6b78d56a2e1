"""Errors raised while provisioning; the CLI maps them to exit codes."""

from __future__ import annotations


class ProvisionError(Exception):
    """A failure that is not the user's input (exit 1): a tool missing, a write failing."""


class InvalidInputError(ProvisionError):
    """Bad input (exit 2). ``source`` names the flag or file; the message says how to fix it."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message
