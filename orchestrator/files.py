"""Files the user names (inputs, reference clips, ``[like:]`` clips, covers,
lexicons), checked before anything reads or hashes them.

A path may name a device (``/dev/zero``), a pipe, a folder or a huge file:
reading one would hang or exhaust memory before any other check ran. Every
such file is first checked to be a regular file of bounded size
(:func:`regular_file`), and hashing reads at most that many bytes
(:func:`sha256_file`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from voicecast.errors import InputError, ReferenceAudioError, VoicecastError
from voicecast.settings import InputSettings, env_name


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def regular_file(path: Path, *, what: str, max_bytes: int, setting: str | None = None,
                 error: type[VoicecastError] = InputError) -> os.stat_result:
    """``path``'s stat, raising ``error`` naming the file unless it is a regular
    file (symbolic links followed) of at most ``max_bytes``; ``what`` says
    what the file is for ("input file", "reference clip") and ``setting`` the
    variable that raises the bound."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{what} not found", file=path) from None
    except OSError as e:
        raise error(f"cannot read the {what} ({e.strerror or e})", file=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"the {what} is a folder, not a file", file=path)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a pipe" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "not a regular file")
        raise error(f"the {what} is {kind}, not a regular file", file=path)
    if st.st_size > max_bytes:
        raise error(f"the {what} is {_mib(st.st_size)}, larger than the {_mib(max_bytes)} allowed"
                    + (f" ({setting})" if setting else ""), file=path)
    return st


def sha256_file(path: Path, max_bytes: int | None = None) -> str | None:
    """sha256 (hex) of a regular file's bytes; ``None`` when it cannot be read,
    is not a regular file, or is longer than ``max_bytes``. The check is made
    on the open file itself, so a path swapped for a pipe meanwhile is not read."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or (max_bytes is not None and st.st_size > max_bytes):
                return None
            h = hashlib.sha256()
            read = 0
            while block := f.read(1 << 20):
                read += len(block)
                if max_bytes is not None and read > max_bytes:  # grew while read: past its bound
                    return None
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None


def inside(path: Path, folder: Path) -> Path | None:
    """``path`` (relative to ``folder`` when not absolute) with every symbolic
    link resolved, or ``None`` when that leaves ``folder`` (itself resolved):
    ``../x``, an absolute path elsewhere, or a link pointing out."""
    base = folder.resolve()
    real = (folder / path.expanduser()).resolve()
    return real if real == base or real.is_relative_to(base) else None


def input_file(path: Path, limits: InputSettings) -> os.stat_result:
    """Check a job's input: a regular file, at most ``inputs.max_input_bytes``
    for an EPUB (a ZIP archive, decompressed under its own limits),
    ``inputs.max_media_bytes`` for a video or audio file (probed and streamed,
    never read whole) and ``inputs.max_text_bytes`` for the text formats,
    which are read whole."""
    from orchestrator.inputs.media import MEDIA_FORMATS

    if path.suffix.lower() == ".epub":
        return regular_file(path, what="input file", max_bytes=limits.max_input_bytes,
                            setting=env_name("inputs", "max_input_bytes"))
    if path.suffix.lower() in MEDIA_FORMATS:  # probed, never read whole
        return regular_file(path, what="input file", max_bytes=limits.max_media_bytes,
                            setting=env_name("inputs", "max_media_bytes"))
    return regular_file(path, what="input file", max_bytes=limits.max_text_bytes,
                        setting=env_name("inputs", "max_text_bytes"))


def reference_file(path: Path, limits: InputSettings) -> Path:
    """Check a reference clip (``--voice CLIP``, ``voice add``): a regular file
    of at most ``inputs.max_reference_bytes``, before anything reads or hashes
    it (``/dev/zero`` would be hashed forever)."""
    regular_file(path, what="reference clip", max_bytes=limits.max_reference_bytes,
                 setting=env_name("inputs", "max_reference_bytes"), error=ReferenceAudioError)
    return path
