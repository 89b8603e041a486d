"""Errors that tell the user which file, which item and what to do."""


class InputError(ValueError):
    """Bad user input: the message names the file, the offending item and the remedy."""


class OutputWriteError(OSError):
    """An output could not be written (the disk or quota full): the message names the file."""


class GeneSkipped(Exception):  # noqa: N818 - a status, not a failure
    """A gene that cannot be modelled; carries the machine-readable reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
