"""Exceptions that carry a user-facing message (the CLI prints them as one line)."""


class StylesimError(Exception):
    """An error the user can act on; ``str(err)`` names the file or value and what is wrong."""

    exit_code = 1


class UsageError(StylesimError):
    """A command-line value that is not allowed; the message names it and what is allowed."""

    exit_code = 2


class IndexLockedError(StylesimError):
    """Another process is writing the same index."""


class ManifestMismatchError(StylesimError):
    """An index was built with other settings than the ones asked for."""


class DecodeError(StylesimError):
    """A file could not be turned into an image; ``reason`` is the short cause."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
