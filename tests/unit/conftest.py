"""The unit tier is pure code: no audio tool, no model, no server.

``make test-fast`` runs this tier alone, so it must stay fast and need nothing but
Python. This guard makes the rule hold by itself: a unit test that starts a real
audio tool (ffmpeg, ffprobe, Rubber Band, espeak) or imports a model runtime fails
here, naming what it did; such a test belongs in tests/integration. Stand-ins are
fine: a fake ``rubberband`` script under ``tmp_path`` is not the installed tool, and
``sys.executable`` (a test checking what an import loads) is no tool either.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

#: Installed tools a unit test must not run.
TOOLS = ("ffmpeg", "ffprobe", "rubberband", "espeak-ng", "espeak", "sox")
#: Model runtimes a unit test must not load (a test may check in a subprocess that they stay out).
MODEL_MODULES = ("torch", "onnxruntime", "silero_vad", "resemblyzer", "faster_whisper", "kokoro_onnx")


def _real_tools() -> dict[str, str]:
    found = {}
    for name in TOOLS:
        path = shutil.which(name)
        if path:
            found[os.path.realpath(path)] = name
    return found


_REAL_TOOLS = _real_tools()


def _program(args: Any) -> str:
    if isinstance(args, str | bytes | os.PathLike):
        first = os.fsdecode(args).split()[0] if os.fsdecode(args).strip() else ""
    else:
        first = os.fsdecode(list(args)[0]) if list(args) else ""
    return first


class _GuardedPopen(subprocess.Popen):  # type: ignore[type-arg]
    def __init__(self, args: Any, *a: Any, **k: Any) -> None:
        program = _program(args)
        resolved = shutil.which(program) or program
        tool = _REAL_TOOLS.get(os.path.realpath(resolved)) if resolved else None
        if tool:
            pytest.fail(
                f"a unit test ran the installed {tool} ({resolved}): move it to tests/integration",
                pytrace=False,
            )
        super().__init__(args, *a, **k)


@pytest.fixture(autouse=True)
def _unit_tests_stay_pure(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(subprocess, "Popen", _GuardedPopen)
    before = set(sys.modules)
    yield
    loaded = sorted(m for m in MODEL_MODULES if m in sys.modules and m not in before)
    if loaded:
        pytest.fail(f"a unit test loaded a model runtime {loaded}: move it to tests/integration",
                    pytrace=False)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """No ``VOICECAST_*`` variable but a data folder of the test's own, and
    the settings cache cleared before and after (tests that read settings
    from the environment)."""
    from voicecast.settings import get_settings

    for k in list(os.environ):
        if k.startswith("VOICECAST_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("VOICECAST_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
