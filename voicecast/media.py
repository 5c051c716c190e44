"""The one wrapper for external tools (ffmpeg, ffprobe, Rubber Band): argument
lists, never a shell; stderr captured; a timeout on every run.

Everything in voicecast that runs ffmpeg goes through :func:`run_ffmpeg` (or
:func:`run_stream`, for graphs built with ffmpeg-python), and every other tool
through :func:`run_tool`, so failures carry the tool's own message and a hung
tool cannot hold a worker forever: past its timeout (``limits`` in settings) it
is killed and run once more, and a second hang raises :class:`ToolTimeout`
naming the tool.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voicecast.settings import get_settings

log = logging.getLogger(__name__)

#: Runs of a tool that may time out before :class:`ToolTimeout` is raised: a
#: transient hang (a stalled disk, a starved machine) gets one more chance.
TOOL_ATTEMPTS = 2

_INSTALL = {
    "ffmpeg": "install ffmpeg (e.g. apt-get install ffmpeg)",
    "ffprobe": "install ffmpeg (e.g. apt-get install ffmpeg)",
    "rubberband": "install it (e.g. apt-get install rubberband-cli)",
}


class MediaError(RuntimeError):
    """An external tool failed; ``stderr`` holds the tail of its output."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message + (f"\n{stderr}" if stderr else ""))
        self.stderr = stderr


class ToolTimeout(MediaError):
    """A tool did not finish within its timeout, on every attempt.

    Deliberately not a ``TimeoutError``: the task retry policy retries those
    with backoff, while a tool that hung twice is taken as a fault of this
    input on this machine and fails the segment (or assembly) with this reason.
    """

    def __init__(self, tool: str, timeout_s: float, attempts: int) -> None:
        times = "" if attempts == 1 else f" ({attempts} attempts)"
        super().__init__(f"{tool} did not finish within {timeout_s:g} s{times}")
        self.tool = tool
        self.timeout_s = timeout_s
        self.attempts = attempts

    def __reduce__(self):  # type: ignore[no-untyped-def]  # crosses process pools and queues
        return (type(self), (self.tool, self.timeout_s, self.attempts))


def tool_path(name: str) -> str:
    """The tool's path, looked up on PATH at each call (a test may put a stand-in first)."""
    path = shutil.which(name)
    if not path:
        raise MediaError(f"{name} not found on PATH; {_INSTALL.get(name, 'install it')}")
    return path


def tool_timeout_s(name: str) -> float:
    """The configured timeout of a tool: ``limits.ffmpeg_timeout_s`` for ffmpeg,
    ``limits.tool_timeout_s`` for the others."""
    limits = get_settings().limits
    return limits.ffmpeg_timeout_s if name == "ffmpeg" else limits.tool_timeout_s


def run_tool(
    name: str, args: Sequence[str | Path], *, input_bytes: bytes | None = None,
    timeout_s: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``name args...`` with stdout and stderr captured and a timeout
    (default :func:`tool_timeout_s`). A run past the timeout is killed and
    retried, :data:`TOOL_ATTEMPTS` runs in all, then :class:`ToolTimeout`.
    The exit status is the caller's to judge."""
    timeout = tool_timeout_s(name) if timeout_s is None else timeout_s
    for attempt in range(1, TOOL_ATTEMPTS + 1):
        cmd = [tool_path(name), *map(str, args)]
        log.debug("%s", " ".join(cmd))
        # Its own process group, killed whole: a child the tool started (a shell
        # wrapper's, say) would otherwise keep the pipes open and the wait going.
        with subprocess.Popen(
            cmd, stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        ) as proc:
            try:
                out, err = proc.communicate(input_bytes, timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.communicate()
                log.warning("%s did not finish within %g s (attempt %d of %d)",
                            name, timeout, attempt, TOOL_ATTEMPTS)
                continue
            except BaseException:  # interrupted (Ctrl-C, a task's soft time limit)
                _kill_group(proc)
                proc.wait()
                raise
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    raise ToolTimeout(name, timeout, TOOL_ATTEMPTS)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _ffmpeg(
    args: Sequence[str | Path], input_bytes: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    proc = run_tool("ffmpeg", ["-hide_banner", "-nostdin", "-y", *map(str, args)], input_bytes=input_bytes)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace")[-3000:]
        raise MediaError(f"ffmpeg exited with {proc.returncode}", tail)
    return proc


def run_ffmpeg(args: Sequence[str], *, input_bytes: bytes | None = None) -> bytes:
    """Run ``ffmpeg -hide_banner -nostdin -y <args>``; return stdout, raise on failure."""
    return _ffmpeg(args, input_bytes).stdout


def run_ffmpeg_stderr(args: Sequence[str]) -> str:
    """Like :func:`run_ffmpeg` but return stderr (for analysis filters such as loudnorm)."""
    return _ffmpeg(args).stderr.decode("utf-8", "replace")


def run_stream(stream: Any) -> bytes:
    """Run a graph built with ffmpeg-python through :func:`run_ffmpeg`."""
    args = stream.get_args()
    return run_ffmpeg([a for a in args if a not in ("-y",)])


def probe(path: str | Path) -> dict[str, Any]:
    """ffprobe's JSON view (format and streams) of a file."""
    proc = run_tool("ffprobe", ["-v", "error", "-print_format", "json",
                                "-show_format", "-show_streams", str(path)])
    if proc.returncode != 0:
        raise MediaError(f"ffprobe could not read {path}", proc.stderr.decode("utf-8", "replace"))
    data: dict[str, Any] = json.loads(proc.stdout or b"{}")
    return data


def duration_s(path: str | Path) -> float:
    return float(probe(path)["format"]["duration"])


def decode_audio(path: str | Path, sample_rate: int, *, max_s: float | None = None,
                 stream: str | None = None) -> np.ndarray:
    """Decode any audio (or video) file to mono float32 at ``sample_rate``;
    with ``max_s``, only its first ``max_s`` seconds (ffmpeg stops reading
    there, so a 2-hour file costs what its first seconds cost); with
    ``stream`` (``0:a:0``, the first audio stream), that stream rather than
    the one ffmpeg would pick (the one with the most channels)."""
    limit = ["-t", f"{max_s:.6f}"] if max_s is not None else []
    pick = ["-map", stream] if stream else []
    raw = run_ffmpeg([
        "-v", "error", *limit, "-i", str(path), *pick, "-vn", "-ac", "1", "-ar", str(sample_rate),
        "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1",
    ])
    return np.frombuffer(raw, dtype="<f4").copy()
