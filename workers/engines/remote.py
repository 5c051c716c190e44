"""The ``remote`` engine: any OpenAI-compatible speech server over HTTP.

A deployment can run its GPU model behind a speech server (a second
``voicecast serve``, speaches, Kokoro-FastAPI, the community servers for other
models) and keep voicecast's queue, slot fitting, levelling and assembly: each
synthesis is one ``POST {remote_url}/v1/audio/speech`` with the JSON body
``{"model", "input", "voice", "response_format", "speed"}`` (plus ``emotion``
for an emotion the server renders itself, ``VOICECAST_ENGINE__REMOTE_EMOTIONS``)
and ``Authorization: Bearer KEY`` when a key is set. The answer (WAV, or raw
16-bit PCM) is decoded to mono float32 and resampled to the engine's declared
rate (``VOICECAST_ENGINE__REMOTE_SAMPLE_RATE``).

Voices. The server's voices are names (``VOICECAST_ENGINE__REMOTE_VOICES``),
offered as the engine's built-in voices (``--voice alloy``). A voice reaches an
engine as the style array of a stored voice profile
(:class:`workers.voices.VoiceProfile`), so each name's "style pack" is the name
itself, written as a small float32 array (:func:`voice_style`) and read back by
:func:`voice_name`; the profile, its storage format and every other engine are
unchanged. The engine clones nothing (``cloning="none"``), has no
duration predictor (fitting renders, measures and stretches: the path of
:func:`workers.fitting.fit_to_slot` without one) and speaks no inline phonemes.

Errors. A refused connection, a timeout, ``408``, ``429`` or a ``5xx`` answer is
retried in place for ``VOICECAST_ENGINE__REMOTE_RETRY_S`` and then raised as
:class:`~voicecast.errors.TransientError` (a queued task is retried by the
queue). Any other refusal is permanent: a :class:`~voicecast.errors.VoicecastError`
naming the field the server names (a bad voice, a bad input) or the setting to
check (key, URL). Redirects are not followed (the key would go with them),
and an answer larger than :data:`MAX_RESPONSE_BYTES`, slower than four times
the timeout, or not decodable as audio is refused.

The version, part of every segment's content hash, is
``remote-{model}-{id}``, the id a digest of the server's URL, the model and the
engine's rate: audio rendered by another server or model is never reused.
Building the engine does no I/O.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import re
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import numpy as np

from voicecast.audio import from_wav_bytes, resample
from voicecast.errors import SynthesisError, TransientError, VoicecastError, VoiceError
from voicecast.http import no_redirect_opener
from voicecast.retry import call_with_retry
from voicecast.settings import EngineSettings, env_name
from workers.engines.base import Capabilities, SynthesisRequest, SynthesisResult

log = logging.getLogger(__name__)

#: The largest answer read (bytes): a hostile or broken server cannot exhaust memory.
MAX_RESPONSE_BYTES = 50 << 20
#: The longest audio accepted for one request (seconds; a line is far shorter).
MAX_AUDIO_S = 900.0
#: The range of OpenAI's ``speed`` field; a request's speed is clamped to it.
SPEED_RANGE = (0.25, 4.0)
#: Sample rates accepted from a server (a WAV header or ``X-Sample-Rate``).
RATE_RANGE = (8000, 192000)
#: How much of an error answer is read, and how much of its message is shown.
_ERROR_BYTES = 64 << 10
_ERROR_CHARS = 300
_CHUNK = 1 << 16

#: First element of a voice name's style array (:func:`voice_style`): no
#: engine's style starts with it by chance.
_VOICE_TAG = np.float32(-7_340_033.0)


# --------------------------------------------------------------------------- voices as style arrays


def voice_style(name: str) -> np.ndarray:
    """The style array that stands for the server's voice ``name``: the tag,
    the length of the name's UTF-8 bytes, then the bytes (float32, exact)."""
    raw = name.encode("utf-8")
    return np.array([_VOICE_TAG, len(raw), *raw], dtype=np.float32)


def voice_name(style: np.ndarray) -> str | None:
    """The voice name a :func:`voice_style` array stands for; None for any
    other array (a style pack of another engine, a damaged profile)."""
    a = np.asarray(style)
    if a.ndim != 1 or a.size < 3 or a[0] != _VOICE_TAG or a[1] != a.size - 2:
        return None
    codes = a[2:]
    if not (np.all(codes == np.round(codes)) and codes.min() >= 0 and codes.max() <= 255):
        return None
    try:
        return bytes(codes.astype(np.uint8).tolist()).decode("utf-8")
    except UnicodeDecodeError:
        return None


# --------------------------------------------------------------------------- request and answer


def speech_url(base_url: str) -> str:
    """``{base_url}/v1/audio/speech``; a base URL already ending in ``/v1``
    (as OpenAI clients are configured) gets no second one."""
    base = base_url.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return f"{base}/v1/audio/speech"


def shown_url(url: str) -> str:
    """``url`` for messages: without user info, query or fragment."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def request_body(request: SynthesisRequest, *, model: str, voice: str, response_format: str,
                 emotions: tuple[str, ...] = ("neutral",)) -> dict[str, Any]:
    """The JSON body of one synthesis: OpenAI's fields, the speed clamped to
    :data:`SPEED_RANGE`, and ``emotion`` for an emotion in ``emotions`` (the
    engine's, those the server renders) other than neutral."""
    speed = float(request.speed)
    if not np.isfinite(speed):
        raise ValueError(f"speed must be a finite number, got {request.speed!r}")
    body: dict[str, Any] = {
        "model": model,
        "input": request.text,
        "voice": voice,
        "response_format": response_format,
        "speed": round(min(max(speed, SPEED_RANGE[0]), SPEED_RANGE[1]), 6),
    }
    if request.emotion != "neutral" and request.emotion in emotions:
        body["emotion"] = request.emotion
    return body


def _check_rate(sr: int, where: str) -> int:
    if not RATE_RANGE[0] <= sr <= RATE_RANGE[1]:
        raise SynthesisError(f"the speech server answered audio at {sr} Hz ({where}); "
                             f"expected {RATE_RANGE[0]}-{RATE_RANGE[1]} Hz")
    return sr


def _wav_pcm16(data: bytes) -> tuple[np.ndarray, int] | None:
    """A 16-bit PCM WAV whose header gives no data length (a streamed answer:
    the sizes are 0): the samples after the ``data`` chunk header, or None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if cid == b"fmt " and pos + 24 <= len(data):
            fmt = struct.unpack_from("<HHIIHH", data, pos + 8)  # tag, channels, rate, _, _, bits
        elif cid == b"data":
            if fmt is None or fmt[0] != 1 or fmt[5] != 16 or fmt[1] < 1:
                return None
            body = data[pos + 8:]
            channels = fmt[1]
            frames = len(body) // (2 * channels)
            x = np.frombuffer(body[: frames * 2 * channels], dtype="<i2").reshape(frames, channels)
            return (x.mean(axis=1) / 32768.0).astype(np.float32), int(fmt[2])
        pos += 8 + size + (size & 1)
    return None


def decode_audio(data: bytes, response_format: str, sample_rate: int,
                 pcm_rate: int | None = None) -> np.ndarray:
    """A server's answer as mono float32 in [-1, 1] at ``sample_rate``.

    ``"wav"``: any file libsndfile reads (channels averaged), at its own rate;
    ``"pcm"``: raw 16-bit little-endian mono at ``pcm_rate`` (the answer's
    ``X-Sample-Rate``), else at ``sample_rate``. Audio at another rate is
    resampled (:func:`voicecast.audio.resample`). Raises
    :class:`~voicecast.errors.SynthesisError` for an answer that is not such
    audio, at an implausible rate, or longer than :data:`MAX_AUDIO_S`.
    """
    if response_format == "pcm":
        if len(data) % 2:
            raise SynthesisError("the speech server's PCM answer has an odd number of bytes")
        x = np.frombuffer(data, dtype="<i2").astype(np.float32) / np.float32(32768.0)
        sr = _check_rate(pcm_rate, "X-Sample-Rate") if pcm_rate is not None else sample_rate
    elif response_format == "wav":
        try:
            x, sr = from_wav_bytes(data)
        except (RuntimeError, ValueError, TypeError, EOFError) as e:
            raise SynthesisError(f"the speech server's answer is not audio ({_snippet(data)}): "
                                 f"{_clean(str(e))}") from None
        if x.size == 0 and len(data) > 44:
            found = _wav_pcm16(data)
            if found is not None:
                x, sr = found
        _check_rate(sr, "its WAV header")
    else:
        raise ValueError(f"unknown response format {response_format!r}")
    if x.size == 0:
        raise SynthesisError("the speech server answered no audio")
    if x.size / sr > MAX_AUDIO_S:
        raise SynthesisError(f"the speech server answered {x.size / sr:.0f} s of audio for one line "
                             f"(at most {MAX_AUDIO_S:.0f} s)")
    x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0).astype(np.float32)
    if sr != sample_rate:
        x = resample(x, sr, sample_rate)
    return np.ascontiguousarray(x, dtype=np.float32)


def _clean(text: str, limit: int = _ERROR_CHARS) -> str:
    """A server's text, safe to show: printable, one line, bounded."""
    text = re.sub(r"\s+", " ", "".join(c if c.isprintable() or c.isspace() else "?" for c in text))
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _snippet(data: bytes) -> str:
    head = data[:80]
    text = head.decode("utf-8", "replace")
    return repr(_clean(text, 80)) if text.isprintable() else f"{len(data)} bytes"


def error_detail(body: bytes) -> tuple[str, str | None]:
    """``(message, field)`` of an error answer: voicecast's and OpenAI's
    ``{"error": {"message", "field" | "param"}}``, FastAPI's ``{"detail": ...}``
    (a string, or validation errors with a ``loc``), or the text itself."""
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        return _clean(text) or "no message", None
    message: Any = None
    field: Any = None
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):
            message, field = err.get("message"), err.get("field") or err.get("param")
        elif isinstance(err, str):
            message = err
        detail = doc.get("detail")
        if message is None and isinstance(detail, str):
            message = detail
        elif message is None and isinstance(detail, list) and detail and isinstance(detail[0], dict):
            message = detail[0].get("msg")
            loc = detail[0].get("loc")
            if isinstance(loc, list) and loc:
                field = loc[-1]
        if message is None and isinstance(doc.get("message"), str):
            message = doc["message"]
    shown = _clean(str(message)) if message is not None else _clean(text)
    named = _clean(str(field), 60) if isinstance(field, str | int) and str(field) else None
    return shown or "no message", named


def status_error(status: int, body: bytes, url: str) -> TransientError | VoicecastError:
    """The error for an HTTP error answer: :class:`TransientError` for 408,
    429 and 5xx (worth retrying), else a :class:`VoicecastError` naming the
    field the server names, or the setting to check."""
    message, field = error_detail(body)
    where = shown_url(url)
    if status in (408, 429) or 500 <= status <= 599:
        return TransientError(f"the speech server at {where} answered HTTP {status}: {message}")
    if status in (401, 403):
        return VoicecastError(f"the speech server at {where} refused the key (HTTP {status}: {message}); "
                              f"check {env_name('engine', 'remote_api_key')}",
                              field=env_name("engine", "remote_api_key"))
    if 300 <= status <= 399:
        return VoicecastError(f"the speech server at {where} redirects (HTTP {status}), which is not "
                              f"followed; set {env_name('engine', 'remote_url')} to where it points",
                              field=env_name("engine", "remote_url"))
    if status == 404 and field is None:
        return VoicecastError(f"the speech server at {where} answered HTTP 404 ({message}); check "
                              f"{env_name('engine', 'remote_url')}", field=env_name("engine", "remote_url"))
    text = f"the speech server at {where} refused the request (HTTP {status}): {message}"
    if field == "voice":
        return VoiceError(f"{text}; check {env_name('engine', 'remote_voices')}", field="voice")
    if field == "model":
        return VoicecastError(f"{text}; check {env_name('engine', 'remote_model')}",
                              field=env_name("engine", "remote_model"))
    return SynthesisError(text, field=field)


# --------------------------------------------------------------------------- the engine


class RemoteEngine:
    """An OpenAI-compatible speech server behind the engine Protocol (see the
    module docstring)."""

    name = "remote"

    def __init__(self, settings: EngineSettings) -> None:
        if not settings.remote_url:
            raise VoicecastError(f"the remote engine needs {env_name('engine', 'remote_url')}",
                                 field=env_name("engine", "remote_url"))
        self.settings = settings
        self.url = speech_url(settings.remote_url)
        self.model = settings.remote_model
        self.response_format = settings.remote_format
        self.voices: tuple[str, ...] = tuple(dict.fromkeys(settings.remote_voices))
        self._key = settings.remote_api_key.get_secret_value() if settings.remote_api_key else None
        emotions = ("neutral", *(e for e in dict.fromkeys(settings.remote_emotions) if e != "neutral"))
        self.capabilities = Capabilities(
            sample_rate=settings.remote_sample_rate,
            # The server reads the text in whatever language it speaks.
            languages=("en-us",),
            native_rate=True,
            emotions=emotions,
            cloning="none",
            phoneme_input=False,
        )
        server = json.dumps([self.url, self.model, settings.remote_sample_rate])
        model_id = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model)[:40]
        self.version = f"remote-{model_id}-{hashlib.sha256(server.encode()).hexdigest()[:12]}"
        # Redirects are answered as errors: the request (and its key) goes only where the settings say.
        self._opener = no_redirect_opener()

    def bundled_voices(self) -> dict[str, np.ndarray]:
        """The configured voice names, each with the style array that stands for it."""
        return {name: voice_style(name) for name in self.voices}

    def voice_of(self, style: np.ndarray) -> str:
        """The configured voice a style array stands for (:class:`VoiceError` otherwise)."""
        name = voice_name(style)
        if name is None:
            raise VoiceError("this voice was not made for the remote engine (it is another engine's "
                             "style, not a server voice); use one of the server's voices: "
                             f"{', '.join(self.voices)}", field="voice")
        if name not in self.voices:
            raise VoiceError(f"voice {name!r} is not one of {env_name('engine', 'remote_voices')}: "
                             f"{', '.join(self.voices)}", field="voice")
        return name

    def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """One request to the server; its audio at the engine's rate.

        Raises :class:`VoiceError` for a style that is not a configured voice,
        :class:`SynthesisError` for an empty text, inline phonemes (a lexicon
        phoneme entry; use a respelling) or an answer that is not audio, the
        errors of :func:`status_error`, and :class:`TransientError` once
        transient failures outlast ``remote_retry_s``.
        """
        voice = self.voice_of(request.style)
        if not request.text.strip():
            raise SynthesisError("nothing to say: the line is empty")
        if "⟦" in request.text or "⟧" in request.text:
            raise SynthesisError("the remote engine cannot speak inline phonemes (a lexicon phoneme "
                                 "entry, ⟦...⟧); write the entry as a respelling", field="lexicon")
        body = request_body(request, model=self.model, voice=voice, response_format=self.response_format,
                            emotions=self.capabilities.emotions)
        t0 = time.perf_counter()
        data, rate = call_with_retry(
            lambda: self._post(body), lambda e: isinstance(e, TransientError),
            budget_s=self.settings.remote_retry_s, cap_s=10.0,
            what=f"speech request to {shown_url(self.url)}",
        )
        elapsed = time.perf_counter() - t0
        sr = self.capabilities.sample_rate
        audio = decode_audio(data, self.response_format, sr, rate)
        seconds = audio.size / sr
        return SynthesisResult(audio=audio, sample_rate=sr, phonemes="",
                               meta={"synth_s": elapsed, "rtf": elapsed / seconds if seconds else 0.0,
                                     "bytes": float(len(data))})

    def _post(self, body: dict[str, Any]) -> tuple[bytes, int | None]:
        """One POST: the answer's bytes and its ``X-Sample-Rate`` (None if absent)."""
        headers = {"Content-Type": "application/json", "Accept": "audio/wav, audio/*, */*",
                   "User-Agent": "voicecast-remote-engine"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        timeout = self.settings.remote_timeout_s
        where = shown_url(self.url)
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                return _read_bounded(resp, time.monotonic() + 4 * timeout, where), _rate_header(resp.headers)
        except urllib.error.HTTPError as e:
            try:
                detail = e.read(_ERROR_BYTES) if e.fp is not None else b""
            except (OSError, http.client.HTTPException):
                detail = b""
            finally:
                e.close()
            raise status_error(e.code, detail, self.url) from None
        except urllib.error.URLError as e:  # refused, unreachable, name not resolved, TLS
            reason = _clean(str(e.reason))
            raise TransientError(f"the speech server at {where} cannot be reached: {reason}") from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
            raise TransientError(f"the speech server at {where} failed: {type(e).__name__}: "
                                 f"{_clean(str(e))}") from None


def _rate_header(headers: Any) -> int | None:
    value = headers.get("X-Sample-Rate") if headers is not None else None
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        shown = _clean(str(value), 40)
        raise SynthesisError(f"the speech server's X-Sample-Rate is not a number: {shown!r}") from None


def _read_bounded(resp: Any, deadline: float, where: str) -> bytes:
    """The answer's body, at most :data:`MAX_RESPONSE_BYTES`, by ``deadline``."""
    length = resp.headers.get("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > MAX_RESPONSE_BYTES:
        raise SynthesisError(f"the speech server at {where} answered {int(length)} bytes for one line "
                             f"(at most {MAX_RESPONSE_BYTES})")
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise TransientError(f"the speech server at {where} took too long to send its answer")
        chunk = resp.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > MAX_RESPONSE_BYTES:
            raise SynthesisError(f"the speech server at {where} answered more than "
                                 f"{MAX_RESPONSE_BYTES} bytes for one line")
        chunks.append(chunk)
