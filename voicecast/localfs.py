"""Local files the way the user's system expects them: the mode a new file
gets from the umask, and per-process temporary folders that a killed process
does not leave behind for ever.

Temporary folders: every voicecast process that does heavy local work (an
embedded pool process, a Celery worker process, the CLI that assembles)
calls :func:`claim_process_tempdir` at start-up. It makes
``<tmp>/voicecast-<uid>/<host>-<pid>/`` the process's temporary folder
(``tempfile.tempdir`` and ``TMPDIR``, so ``TemporaryDirectory`` and the tools
it runs write there; removed at exit once empty), and first removes the folders of this host's processes
that no longer exist: whatever a SIGKILL, an OOM kill or a power cut left.
Folders of other hosts (a temp volume shared between containers) are never
touched: their pids mean nothing here.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_claimed: Path | None = None
_base_tempdir: str | None = None


def umask() -> int:
    """The process's umask, read without changing it (``/proc``), or by the
    classic set-and-restore where ``/proc`` is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file (``0o666`` less the umask):
    what a file written under a ``mkstemp`` name (always ``0o600``) gets
    before it is renamed into place."""
    return 0o666 & ~umask()


def shared_temp_root() -> Path:
    """``<system tmp>/voicecast-<uid>``: the parent of every voicecast process's
    temporary folder, and of locks shared between processes."""
    global _base_tempdir
    uid = os.getuid() if hasattr(os, "getuid") else 0
    if _base_tempdir is None:
        base = Path(tempfile.gettempdir())  # before any claim changes tempfile.tempdir
        if base.parent.name == f"voicecast-{uid}":
            base = base.parent.parent  # TMPDIR inherited from a parent's claimed folder
        _base_tempdir = str(base)
    return Path(_base_tempdir) / f"voicecast-{uid}"


def _owned_root() -> Path | None:
    """The shared root, created 0700; None when it is not ours (another user
    made it first: then nothing is cleaned or claimed there)."""
    root = shared_temp_root()
    try:
        root.mkdir(mode=0o700, exist_ok=True)
        st = root.lstat()
    except OSError as e:
        log.warning("no voicecast temporary root at %s: %s", root, e)
        return None
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        log.warning("%s is not a folder of this user: temporary folders stay where they were", root)
        return None
    return root


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:  # a killed process not reaped yet (a zombie) answers kill(0) but is gone
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def clean_stale_tempdirs(root: Path | None = None) -> list[Path]:
    """Remove the temporary folders of this host's voicecast processes that
    are gone; returns what was removed."""
    root = root or _owned_root()
    if root is None:
        return []
    host = socket.gethostname()
    removed: list[Path] = []
    for d in root.iterdir():
        name, _, pid = d.name.rpartition("-")
        if name != host or not pid.isdigit() or not d.is_dir() or d.is_symlink():
            continue
        if int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    if removed:
        log.info("removed %d temporary folder(s) of voicecast processes that died: %s", len(removed),
                 ", ".join(p.name for p in removed))
    return removed


def claim_process_tempdir() -> Path | None:
    """Clean the stale folders, then make ``<root>/<host>-<pid>`` this
    process's temporary folder (removed again at a normal exit). Idempotent;
    None (and nothing changed) where the root is not usable."""
    global _claimed
    if _claimed is not None and _claimed.name.endswith(f"-{os.getpid()}"):
        return _claimed
    root = _owned_root()
    if root is None:
        return None
    clean_stale_tempdirs(root)
    mine = root / f"{socket.gethostname()}-{os.getpid()}"
    mine.mkdir(mode=0o700, exist_ok=True)
    tempfile.tempdir = str(mine)
    os.environ["TMPDIR"] = str(mine)  # the tools voicecast runs (ffmpeg, rubberband) too
    _claimed = mine
    atexit.register(_remove_own, mine, os.getpid())
    # multiprocessing (and billiard) children leave through os._exit: no atexit, but finalizers run.
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _remove_own, args=(mine, os.getpid()), exitpriority=0)
    try:  # Celery's prefork children (billiard) likewise
        import billiard.util

        billiard.util.Finalize(None, _remove_own, args=(mine, os.getpid()), exitpriority=0)
    except ImportError:
        pass
    return mine


def _remove_own(folder: Path, pid: int) -> None:
    """At exit, remove the process's folder if its users have emptied it.
    Not ``rmtree``: libraries clean their own temporary files in exit hooks
    that may run after this one (phonemizer's espeak copy); a folder left
    non-empty is removed by the next process that starts."""
    if os.getpid() == pid:  # a forked child inherits the hooks: only the owner acts
        try:
            folder.rmdir()
        except OSError:
            pass


def lock_dir() -> Path:
    """Where locks shared by this user's voicecast processes live (the shared
    root, not a process's own temporary folder)."""
    return _owned_root() or Path(_base_tempdir or tempfile.gettempdir())
