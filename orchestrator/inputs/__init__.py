"""Readers of what users give: subtitles, scripts and books (one module per
format), with text decoding and repair shared by all.

Readers report what they had to do to the text (an encoding guessed, mojibake
repaired, control characters removed) as ``logging`` warnings under this
package; :func:`reader_warnings` collects them for the job's warnings, so
`voicecast plan` and `render` show them with the planner's own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def reader_warnings() -> Iterator[list[str]]:
    """Collect the warnings the readers log while the block runs (instead of
    printing them): the list is filled when the block ends, in order."""
    logger = logging.getLogger(__name__)
    handler, propagate = _Collect(), logger.propagate
    out: list[str] = []
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        out.extend(dict.fromkeys(handler.messages))  # once each, in order
