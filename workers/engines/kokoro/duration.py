"""Kokoro's duration probe: the length of a render without running the decoder.

:meth:`DurationProbe.seconds` gives the length of the audio the engine's
``synthesize`` would return. The model's duration predictor ends in per-token
frame counts at speed 1.0 (:data:`DURATION_TENSOR`); the graph divides them by
the speed, rounds half to even, clips at one frame, and the decoder then emits
:data:`FRAME_SAMPLES` samples per frame. A sub-model cut from the same ONNX file
at that tensor (the BERT, text encoder and duration LSTM; no decoder) gives the
frame counts, cached per (chunk tokens, style row); any speed is then a
division in numpy. One model call (one chunk) is predicted exactly; where the
text needs several calls, the inner joins are cut at the speech of each chunk,
which only the audio tells: the prediction places it from the durations
(:data:`JOIN_LEAD_FRAMES`, :data:`JOIN_TAIL_FRAMES`) and may be off by up to
~0.1 s per join (measured on two texts of 2 and 3 calls at speeds 0.8, 1.0,
1.2: +5 to +55 ms and -185 to +45 ms). Fitting corrects its estimate with the
take anyway.

The sub-model is built on the first prediction; it needs ``onnx``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np

from workers.engines.kokoro.frontend import _Chunk
from workers.engines.kokoro.runtime import (
    SAMPLE_RATE,
    STYLE_DIM,
    KokoroRuntime,
    _input_dtypes,
    verified_model_path,
)

log = logging.getLogger(__name__)

#: The duration predictor's output in the ONNX graph: per-token durations in
#: decoder frames at speed 1.0, before ``/encoder/Div`` (by speed), ``Round`` and
#: ``Clip`` (min 1 frame).
DURATION_TENSOR = "/encoder/predictor/ReduceSum_output_0"
#: Audio samples the decoder emits per predicted frame (24 kHz, 40 frames/s).
FRAME_SAMPLES = 600
#: Where :func:`workers.engines.kokoro.runtime._join` finds a chunk's speech
#: (-45 dB under its peak), for the join estimate of a multi-call text: it starts
#: ``JOIN_LEAD_FRAMES`` before the end of the leading pad token and ends
#: ``JOIN_TAIL_FRAMES`` after the start of the phrase-final phoneme (the model
#: lets that phoneme, the trailing marks and the pad decay). Measured on the
#: chunks of 11 long texts at speeds 0.87-1.15 (jm_kumo): start -1.4 frames
#: (sd 1.0), end +0.0 frames (sd 2.1); a frame is 25 ms.
JOIN_LEAD_FRAMES = 1.4
JOIN_TAIL_FRAMES = 0.0
#: Leading plus trailing silence of a render at speed 1.0 as
#: :mod:`workers.fitting` trims it (-40 dBFS): the prior of the fitting's first
#: estimate of a line's speech length. Measured with jm_kumo on 38 lines of
#: bench/data/timing_lines.txt: 0.917 s on average (sd 0.065, 0.74 - 1.08 s);
#: it scales about as ``1 / speed``.
EDGE_SILENCE_S = 0.92
#: Duration predictions kept per engine (one per chunk tokens and style row).
_PREDICT_CACHE = 1024


def _predicted_samples(frames: list[np.ndarray], chunks: list[_Chunk]) -> int:
    """Length in samples of :func:`~workers.engines.kokoro.runtime._join` over
    chunks with these frame counts (pads included): exact for one chunk,
    estimated at inner joins."""
    if len(frames) == 1:
        return int(frames[0].sum()) * FRAME_SAMPLES
    margin = int(0.02 * SAMPLE_RATE)
    total = 0
    for i, (d, chunk) in enumerate(zip(frames, chunks, strict=True)):
        n = int(d.sum()) * FRAME_SAMPLES
        lo, hi = 0, n
        if i > 0:  # speech starts about where the leading pad token ends
            start = int(round((d[0] - JOIN_LEAD_FRAMES) * FRAME_SAMPLES))
            lo = min(n, max(0, start - margin))
        if i < len(frames) - 1:  # ... and ends about where the phrase-final phoneme starts
            last = _last_phoneme(chunk)  # index among the tokens, 0 = leading pad
            end = int(round((float(d[:last].sum()) + JOIN_TAIL_FRAMES) * FRAME_SAMPLES))
            hi = max(lo, min(n, end + margin))
            total += int(round(chunk.pause_after * SAMPLE_RATE))
        total += hi - lo
    return total


def _last_phoneme(chunk: _Chunk) -> int:
    """Index of the chunk's last spoken token in ``[pad, *tokens, pad]``."""
    ps = chunk.phonemes
    if len(ps) != len(chunk.tokens):  # not one token per symbol: assume one mark at the end
        return max(1, len(chunk.tokens) - 1)
    i = len(ps)
    while i > 1 and not ps[i - 1].isalpha():
        i -= 1
    return i


class DurationProbe:
    """The duration sub-model of one engine, built once from the verified model
    file on the first prediction (with the runtime's providers and options)."""

    def __init__(self, runtime: KokoroRuntime) -> None:
        self._runtime = runtime
        self._probe_lock = threading.Lock()
        self._probe: tuple[Any, str, dict[str, np.dtype]] | None = None
        self._cache_lock = threading.Lock()
        self._frames_cache: OrderedDict[tuple[bytes, bytes], np.ndarray] = OrderedDict()

    def _load_probe(self) -> tuple[Any, str, dict[str, np.dtype]]:
        """The duration sub-model (tokens, style -> :data:`DURATION_TENSOR`), built
        once per engine from the verified model file."""
        with self._probe_lock:
            if self._probe is None:
                import onnx
                import onnx.utils
                import onnxruntime as ort

                t0 = time.perf_counter()
                model = onnx.load(str(verified_model_path()))
                names = {i.name for i in model.graph.input}
                token_input = "input_ids" if "input_ids" in names else "tokens"
                if not any(DURATION_TENSOR in n.output for n in model.graph.node):
                    raise RuntimeError(f"the Kokoro model has no tensor {DURATION_TENSOR!r}")
                sub = onnx.utils.Extractor(model).extract_model([token_input, "style"], [DURATION_TENSOR])
                del model
                providers = self._runtime.providers(ort.get_available_providers())
                session = ort.InferenceSession(
                    sub.SerializeToString(), sess_options=self._runtime.session_options(), providers=providers
                )
                self._probe = (session, token_input, _input_dtypes(session))
                log.info("Kokoro duration probe built in %.2fs (%d nodes)",
                         time.perf_counter() - t0, len(sub.graph.node))
            return self._probe

    def frames(self, tokens: list[int], style: np.ndarray) -> np.ndarray:
        """Per-token durations in frames at speed 1.0, pads included, before the
        graph's division by speed and rounding (float32, read-only, cached)."""
        ref = np.ascontiguousarray(style[min(len(tokens), len(style)) - 1], dtype=np.float32)
        key = (np.asarray(tokens, dtype=np.int64).tobytes(), ref.tobytes())
        with self._cache_lock:
            hit = self._frames_cache.get(key)
            if hit is not None:
                self._frames_cache.move_to_end(key)
                return hit
        session, token_input, dtypes = self._load_probe()
        feeds = {
            token_input: np.array([[0, *tokens, 0]], dtype=dtypes[token_input]),
            "style": ref.reshape(1, STYLE_DIM).astype(dtypes["style"]),
        }
        frames = np.asarray(session.run(None, feeds)[0], dtype=np.float32).ravel()
        frames.flags.writeable = False
        with self._cache_lock:
            self._frames_cache[key] = frames
            while len(self._frames_cache) > _PREDICT_CACHE:
                self._frames_cache.popitem(last=False)
        return frames

    def seconds(self, chunks: list[_Chunk], style: np.ndarray, speed: float) -> float:
        """Length in seconds of the joined audio of ``chunks`` in ``style`` (a
        checked style matrix) at ``speed`` (a checked speed)."""
        # As the graph does: float32 division, round half to even, at least one frame.
        frames = [
            np.maximum(np.rint(self.frames(c.tokens, style) / np.float32(speed)), np.float32(1.0))
            for c in chunks
        ]
        return _predicted_samples(frames, chunks) / SAMPLE_RATE
