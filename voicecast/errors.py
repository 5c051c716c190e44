"""Errors a user can cause, as one family.

Each names the file, line or field it is about; the CLI prints ``str(err)``
without a traceback and exits non-zero. Anything else is a bug or an
infrastructure fault, not a ``VoicecastError``.
"""

from __future__ import annotations

from pathlib import Path


class VoicecastError(Exception):
    """A problem with what the user gave us (input, reference audio, options)."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line is not None else "")
        elif self.field:
            where = self.field
        return f"{where}: {self.message}" if where else self.message

    def __reduce__(self):  # keep file/line/field when pickled across processes
        return (_rebuild, (type(self), self.message, self.file, self.line, self.field))


def _rebuild(cls, message, file, line, field):  # type: ignore[no-untyped-def]
    return cls(message, file=file, line=line, field=field)


class InputError(VoicecastError):
    """The script or subtitle file cannot be used (syntax, empty, unreadable)."""


class ReferenceAudioError(VoicecastError):
    """The voice reference recording cannot be used."""


class OutputError(VoicecastError):
    """The requested output cannot be written where or how it was asked."""


class VoiceError(VoicecastError):
    """Unknown voice or voice profile problem."""


class JobError(VoicecastError):
    """Unknown job, or a job in a state that does not allow the operation."""


class SynthesisError(VoicecastError):
    """A line cannot be rendered: the engine speaks nothing audible for it, or
    rendering it keeps killing its worker. The job's failure names the segment
    and its source line."""


class UntrustedMessage(VoicecastError):
    """A queue message a worker refuses: its content hash or a storage key does
    not match what it describes (a forged message, or a job planned with other
    engine or fit settings than the worker's). Nothing is stored for it."""


class TransientError(Exception):
    """An infrastructure hiccup (storage, broker) worth retrying with backoff."""
