"""The one ffmpeg/ffprobe wrapper: argument lists, never a shell; stderr captured.

Everything in voicecast that runs ffmpeg goes through :func:`run_ffmpeg` (or
:func:`run_stream`, for graphs built with ffmpeg-python), so failures carry the
tool's own message.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class MediaError(RuntimeError):
    """ffmpeg/ffprobe failed; ``stderr`` holds the tail of its output."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message + (f"\n{stderr}" if stderr else ""))
        self.stderr = stderr


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise MediaError(f"{name} not found on PATH; install ffmpeg (e.g. apt-get install ffmpeg)")
    return path


def run_ffmpeg(args: Sequence[str], *, input_bytes: bytes | None = None) -> bytes:
    """Run ``ffmpeg -hide_banner -nostdin -y <args>``; return stdout, raise on failure."""
    cmd = [_tool("ffmpeg"), "-hide_banner", "-nostdin", "-y", *map(str, args)]
    log.debug("ffmpeg %s", " ".join(cmd[1:]))
    proc = subprocess.run(cmd, input=input_bytes, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace")[-3000:]
        raise MediaError(f"ffmpeg exited with {proc.returncode}", tail)
    return proc.stdout


def run_ffmpeg_stderr(args: Sequence[str]) -> str:
    """Like :func:`run_ffmpeg` but return stderr (for analysis filters such as loudnorm)."""
    cmd = [_tool("ffmpeg"), "-hide_banner", "-nostdin", "-y", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg exited with {proc.returncode}", err[-3000:])
    return err


def run_stream(stream: Any) -> bytes:
    """Run a graph built with ffmpeg-python through :func:`run_ffmpeg`."""
    args = stream.get_args()
    return run_ffmpeg([a for a in args if a not in ("-y",)])


def probe(path: str | Path) -> dict[str, Any]:
    """ffprobe's JSON view (format and streams) of a file."""
    cmd = [
        _tool("ffprobe"), "-v", "error", "-print_format", "json",
        "-show_format", "-show_streams", str(path),
    ]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise MediaError(f"ffprobe could not read {path}", proc.stderr.decode("utf-8", "replace"))
    data: dict[str, Any] = json.loads(proc.stdout or b"{}")
    return data


def duration_s(path: str | Path) -> float:
    return float(probe(path)["format"]["duration"])


def decode_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode any audio (or video) file to mono float32 at ``sample_rate``."""
    raw = run_ffmpeg([
        "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(sample_rate),
        "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1",
    ])
    return np.frombuffer(raw, dtype="<f4").copy()
