"""One error type for bad input, naming the argument at fault.

Why: the CLI must say which argument is wrong (and exit 2) and callers in the agent must be able
to tell bad input apart from bugs; `argument` is the Python parameter name, which the CLI turns
into its flag (`days` -> `--days`).
"""

from __future__ import annotations


class PkiError(ValueError):
    """Bad input (a value, a file, a certificate) to one of the pki functions."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument
        self.message = message
