"""The remote engine against a real HTTP speech server on loopback.

The server here is a stub (stdlib ``http.server`` in a thread) that answers
``POST /v1/audio/speech`` as an OpenAI-compatible server does: speech-like
audio whose length depends on the text and the requested speed, with silence
around it. Segments are rendered through the worker's own path
(:func:`workers.synth.render_segment`: the stored built-in voice profile, the
engine, slot fitting without a duration predictor, storage) and must land on
their cues exactly as the same takes fitted locally do, within the fitting
tests' tolerance. The other tests cover what a server can do wrong: fail for a
while, refuse, redirect, stall, answer too much.

:func:`render_cues` takes any server URL, voice and key: pointing it at a real
``voicecast serve`` needs only :func:`remote_settings` with that URL.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import workers.engines.remote as remote
from voicecast import audio
from voicecast.errors import SynthesisError, TransientError, VoicecastError, VoiceError
from voicecast.queue import SegmentResult, SegmentSpec
from voicecast.settings import EngineSettings, Settings
from voicecast.storage import get_store, reference_key, voice_profile_key
from workers.engines import SynthesisRequest, get_engine
from workers.engines.remote import RemoteEngine, voice_style
from workers.facts import builtin_voice
from workers.fitting import FitPolicy, fit_to_slot
from workers.synth import render_segment
from workers.voices import VoiceProfile, enroll_reference, speak

SR = 24000
#: Seconds of speech per character of text at speed 1.0 (the stub's voice).
CHAR_S = 0.06
LEAD_S, TRAIL_S = 0.12, 0.2
#: The fitting tests' tolerance on the placed speech (tests/integration/test_fit_to_slot.py).
TOL = 0.002


# --------------------------------------------------------------------------- the stub's voice


def speech(seconds: float, sr: int) -> np.ndarray:
    """Speech-like audio of ``seconds`` above -40 dBFS: harmonic syllables under
    sin^2 envelopes that never fall below the trim level."""
    n = max(1, int(round(seconds * sr)))
    t = np.arange(n) / sr
    voiced = sum((0.5 / k) * np.sin(2 * np.pi * 130.0 * k * t + k) for k in range(1, 6))
    syllables = max(1, int(round(seconds / 0.2)))
    env = 0.15 + 0.85 * np.sin(np.pi * ((t / seconds * syllables) % 1.0)) ** 2
    return (0.6 * voiced * env).astype(np.float32)


def take(text: str, speed: float, sr: int = SR) -> np.ndarray:
    """What the stub says for ``text`` at ``speed``: the speech ``CHAR_S`` per
    character divided by the speed, its edge silences scaled the same way."""
    k = 1.0 / speed
    return np.concatenate([np.zeros(int(LEAD_S * k * sr), np.float32),
                           speech(CHAR_S * len(text.strip()) * k, sr),
                           np.zeros(int(TRAIL_S * k * sr), np.float32)])


def pcm16(x: np.ndarray) -> np.ndarray:
    """``x`` as the server sends it (16-bit), back in float32."""
    return audio.from_wav_bytes(audio.to_wav_bytes(x, SR))[0]


# --------------------------------------------------------------------------- the stub server


@dataclass
class Stub:
    """What the stub answers; tests change it between requests."""

    sample_rate: int = SR
    api_key: str | None = None
    #: Statuses answered (in order) before the next requests succeed.
    fail: list[int] = field(default_factory=list)
    #: An error answer for every request: (status, JSON body).
    refuse: tuple[int, dict[str, Any]] | None = None
    redirect_to: str | None = None
    delay_s: float = 0.0
    #: Send this many bytes of noise instead of audio (no Content-Length unless ``declare``).
    flood: int = 0
    declare: bool = False
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)


class StubSpeechServer:
    """An OpenAI-compatible speech endpoint on 127.0.0.1 (a free port), in a thread."""

    def __init__(self) -> None:
        self.stub = Stub()
        stub = self.stub

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                stub.requests.append((dict(self.headers.items()), body))
                if self.path != "/v1/audio/speech":
                    return self._json(404, {"detail": "Not Found"})
                if stub.delay_s:
                    time.sleep(stub.delay_s)
                if stub.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", stub.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if stub.api_key and self.headers.get("Authorization") != f"Bearer {stub.api_key}":
                    return self._json(401, {"error": {"code": "unauthorized", "message": "bad key",
                                                      "field": None}})
                if stub.fail:
                    status = stub.fail.pop(0)
                    return self._json(status, {"error": {"code": "busy", "message": f"try later ({status})"}})
                if stub.refuse:
                    return self._json(*stub.refuse)
                if stub.flood:
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/wav")
                    if stub.declare:
                        self.send_header("Content-Length", str(stub.flood))
                    self.end_headers()
                    sent = 0
                    while sent < stub.flood:
                        n = min(1 << 16, stub.flood - sent)
                        try:
                            self.wfile.write(b"\x01" * n)
                        except OSError:
                            return None  # the client stopped reading
                        sent += n
                    return None
                x = take(body["input"], float(body["speed"]), stub.sample_rate)
                if body["response_format"] == "pcm":
                    data = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
                    ctype = "audio/pcm"
                else:
                    data, ctype = audio.to_wav_bytes(x, stub.sample_rate), "audio/wav"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                if body["response_format"] == "pcm":
                    self.send_header("X-Sample-Rate", str(stub.sample_rate))
                self.end_headers()
                self.wfile.write(data)
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> StubSpeechServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[StubSpeechServer]:
    with StubSpeechServer() as s:
        yield s


# --------------------------------------------------------------------------- rendering through the worker


def remote_settings(tmp_path: Path, url: str, *, voices: tuple[str, ...] = ("alloy",), key: str | None = None,
                    **engine: Any) -> Settings:
    """Settings of a worker whose engine is the speech server at ``url``."""
    return Settings(data_dir=tmp_path / "data", engine=EngineSettings(
        name="remote", remote_url=url, remote_voices=list(voices), remote_api_key=key,
        **{f"remote_{k}": v for k, v in engine.items()}))


@dataclass(frozen=True)
class Cue:
    text: str
    start: float
    end: float
    #: The next cue's start (the gap up to it may be borrowed).
    next_start: float


def render_cues(settings: Settings, voice: str, cues: list[Cue]) -> list[tuple[SegmentResult, np.ndarray]]:
    """Each cue rendered as a worker renders a dub's segment: the engine's
    built-in ``voice`` stored as a profile, a spec hashed with the worker's
    engine and fit settings, :func:`render_segment`; the results and the
    stored audio."""
    engine = get_engine(settings.engine)
    store = get_store(settings)
    voice_id = f"builtin-{engine.name}-{voice}"
    found = builtin_voice(settings, store, voice_id, voice)
    assert found is not None, f"the engine has no voice {voice!r}"
    job = uuid.uuid4().hex
    out = []
    for idx, cue in enumerate(cues):
        slot_s, max_s = cue.end - cue.start, max(cue.next_start, cue.end) - cue.start
        spec = SegmentSpec(job_id=job, idx=idx, text=cue.text, voice_key=voice_profile_key(voice_id, 1),
                           slot_s=slot_s, max_s=max_s, content_hash="", voice_id=voice_id, voice_version=1,
                           slot_ms=int(round(slot_s * 1000)), borrow_ms=int(round(max_s * 1000)),
                           engine=engine.name, engine_version=engine.version)
        spec = replace(spec, content_hash=spec.derive_hash(settings.fit.model_dump(), engine.name,
                                                           engine.version))
        result = render_segment(spec, store=store, settings=settings)
        wav, sr = audio.from_wav_bytes(store.get_bytes(result.audio_key))
        assert sr == result.sample_rate
        out.append((result, wav))
    return out


CUES = [
    Cue("Where did you leave the keys?", 1.0, 2.9, 3.5),                     # comfortable: the slot
    Cue("Not yet.", 4.0, 6.0, 6.5),                                          # short: padded
    Cue("The wind had dropped by the evening, and the boats came home.", 7.0, 9.6, 11.0),  # borrows
    Cue("We walked along the old canal past the mill.", 12.0, 14.2, 14.2),   # faster, no gap
]


def test_a_dub_lands_on_its_cues_like_a_local_render(tmp_path: Path, server: StubSpeechServer) -> None:
    settings = remote_settings(tmp_path, server.url, voices=("alloy", "nova"))
    rendered = render_cues(settings, "nova", CUES)
    policy = FitPolicy.from_settings(settings.fit)
    for cue, (result, wav) in zip(CUES, rendered, strict=True):
        slot_s, max_s = cue.end - cue.start, cue.next_start - cue.start
        # The same takes fitted in this process, without HTTP.
        local = fit_to_slot(lambda speed, t=cue.text: pcm16(take(t, speed)), SR, slot_s, max_s, policy)
        assert result.sample_rate == SR and not result.hit
        assert result.engine == "remote" and result.engine_version.startswith("remote-tts-1-")
        assert not result.predicted  # no duration predictor: render, measure, stretch
        for name in ("natural_s", "target_s", "rate", "engine_rate", "stretch", "borrowed_s", "overflow",
                     "engine_calls", "final_s"):
            # (The stored report rounds to 0.1 ms.)
            assert getattr(result, name) == pytest.approx(getattr(local, name), abs=6e-5), name
        # Placed like the local render: the exact length, speech from the cue's start, on target.
        assert wav.size == result.samples == int(round(max(slot_s, min(result.target_s, max_s)) * SR))
        first, last = audio.speech_bounds(wav, SR, policy.trim_db)
        assert result.onset_s <= 1e-4 and first <= 3  # (the report is rounded, the stored copy 16-bit)
        assert abs(result.error_s) <= TOL
        assert abs((last - first + 1) / SR - result.target_s) <= TOL
        assert result.target_s <= max_s + 1e-9
    # The short line was padded, the long one borrowed from the gap.
    assert rendered[1][0].target_s < 2.0 and rendered[2][0].borrowed_s > 0
    # Every engine call was one request, with the OpenAI fields and the voice's name.
    calls = sum(r.engine_calls for r, _ in rendered)
    assert len(server.stub.requests) == calls
    for headers, body in server.stub.requests:
        assert set(body) == {"model", "input", "voice", "response_format", "speed"}
        assert (body["model"], body["voice"], body["response_format"]) == ("tts-1", "nova", "wav")
        assert "Authorization" not in headers
    # The second take of a line is asked at the speed the fit chose (the engine's rate control).
    speeds = [b["speed"] for _, b in server.stub.requests]
    assert speeds[0] == 1.0 and any(s != 1.0 for s in speeds)
    # A second render of the same cues is a storage hit: no request.
    again = render_cues(settings, "nova", CUES[:1])
    assert again[0][0].content_hash == rendered[0][0].content_hash
    assert len(server.stub.requests) == calls


def test_another_rate_or_pcm_is_resampled_to_the_engines(tmp_path: Path, server: StubSpeechServer) -> None:
    text = "A cold wind swept across the harbour."
    expected = take(text, 1.0).size / SR
    for fmt, rate in (("wav", 22050), ("pcm", 16000), ("wav", 48000)):
        server.stub.sample_rate = rate
        engine = RemoteEngine(EngineSettings(name="remote", remote_url=server.url, remote_voices=["alloy"],
                                             remote_format=fmt))
        result = engine.synthesize(SynthesisRequest(text=text, style=voice_style("alloy")))
        assert result.sample_rate == SR and result.audio.dtype == np.float32
        assert result.audio.size / SR == pytest.approx(expected, abs=2e-3), (fmt, rate)
        assert server.stub.requests[-1][1]["response_format"] == fmt
        first, last = audio.speech_bounds(result.audio, SR, -40.0)
        assert (last - first + 1) / SR == pytest.approx(CHAR_S * len(text), abs=5e-3)


def test_transient_failures_are_retried_in_place(server: StubSpeechServer) -> None:
    server.stub.fail = [503, 429]
    engine = RemoteEngine(EngineSettings(name="remote", remote_url=server.url, remote_voices=["alloy"],
                                         remote_retry_s=20))
    result = engine.synthesize(SynthesisRequest(text="Keep it.", style=voice_style("alloy")))
    assert result.audio.size > 0 and len(server.stub.requests) == 3


def test_transient_failures_past_the_budget_are_transient_errors(server: StubSpeechServer) -> None:
    def engine(url: str, **kw: Any) -> RemoteEngine:
        return RemoteEngine(EngineSettings(name="remote", remote_url=url, remote_voices=["alloy"],
                                           remote_retry_s=0, **kw))

    req = SynthesisRequest(text="Keep it.", style=voice_style("alloy"))
    server.stub.fail = [503] * 5
    with pytest.raises(TransientError, match="HTTP 503: try later"):
        engine(server.url).synthesize(req)
    assert len(server.stub.requests) == 1
    # A refused connection: a port nobody listens on.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(TransientError, match="cannot be reached"):
        engine(closed).synthesize(req)
    # A server that does not answer within the timeout.
    server.stub.fail, server.stub.delay_s = [], 1.5
    t0 = time.monotonic()
    with pytest.raises(TransientError):
        engine(server.url, remote_timeout_s=0.3).synthesize(req)
    assert time.monotonic() - t0 < 1.4


def test_a_refusal_is_permanent_and_names_the_field(server: StubSpeechServer) -> None:
    engine = RemoteEngine(EngineSettings(name="remote", remote_url=server.url, remote_voices=["alloy"],
                                         remote_retry_s=30))
    req = SynthesisRequest(text="Keep it.", style=voice_style("alloy"))
    server.stub.refuse = (400, {"error": {"code": "invalid", "message": "unknown voice 'alloy'",
                                          "field": "voice"}})
    with pytest.raises(VoiceError, match="unknown voice 'alloy'.*VOICECAST_ENGINE__REMOTE_VOICES") as e:
        engine.synthesize(req)
    assert e.value.field == "voice"
    server.stub.refuse = (422, {"detail": [{"loc": ["body", "input"], "msg": "String too long",
                                            "type": "too_long"}]})
    with pytest.raises(SynthesisError, match="HTTP 422.*String too long") as e2:
        engine.synthesize(req)
    assert e2.value.field == "input"
    assert len(server.stub.requests) == 2  # neither was retried


def test_the_key_is_sent_and_a_refused_key_names_its_setting(tmp_path: Path,
                                                             server: StubSpeechServer) -> None:
    server.stub.api_key = "sk-right"
    settings = remote_settings(tmp_path, server.url, key="sk-right")
    rendered = render_cues(settings, "alloy", CUES[:1])
    assert rendered[0][0].samples > 0
    assert server.stub.requests[-1][0]["Authorization"] == "Bearer sk-right"
    wrong = RemoteEngine(EngineSettings(name="remote", remote_url=server.url, remote_voices=["alloy"],
                                        remote_api_key="sk-wrong"))
    with pytest.raises(VoicecastError, match="refused the key.*VOICECAST_ENGINE__REMOTE_API_KEY") as e:
        wrong.synthesize(SynthesisRequest(text="Keep it.", style=voice_style("alloy")))
    assert "sk-wrong" not in str(e.value) and "sk-right" not in str(e.value)
    # The engine cache tells settings apart by their key (a secret dumps masked).
    other = settings.engine.model_copy(update={"remote_api_key": wrong.settings.remote_api_key})
    assert get_engine(other) is not get_engine(settings.engine)


def test_redirects_are_not_followed(server: StubSpeechServer) -> None:
    with StubSpeechServer() as elsewhere:
        server.stub.redirect_to = f"{elsewhere.url}/v1/audio/speech"
        engine = RemoteEngine(EngineSettings(name="remote", remote_url=server.url, remote_voices=["alloy"],
                                             remote_api_key="sk-secret"))
        with pytest.raises(VoicecastError, match="redirects.*VOICECAST_ENGINE__REMOTE_URL"):
            engine.synthesize(SynthesisRequest(text="Keep it.", style=voice_style("alloy")))
        assert elsewhere.stub.requests == []  # the key never went there


def test_a_wrong_path_names_the_url_setting(server: StubSpeechServer) -> None:
    engine = RemoteEngine(EngineSettings(name="remote", remote_url=f"{server.url}/api",
                                         remote_voices=["alloy"]))
    with pytest.raises(VoicecastError, match="HTTP 404.*VOICECAST_ENGINE__REMOTE_URL"):
        engine.synthesize(SynthesisRequest(text="Keep it.", style=voice_style("alloy")))


@pytest.mark.parametrize("declare", [False, True])
def test_an_oversized_answer_is_refused(server: StubSpeechServer, monkeypatch: pytest.MonkeyPatch,
                                        declare: bool) -> None:
    monkeypatch.setattr(remote, "MAX_RESPONSE_BYTES", 1 << 20)
    server.stub.flood, server.stub.declare = 3 << 20, declare
    engine = RemoteEngine(EngineSettings(name="remote", remote_url=server.url, remote_voices=["alloy"]))
    with pytest.raises(SynthesisError, match="bytes for one line"):
        engine.synthesize(SynthesisRequest(text="Keep it.", style=voice_style("alloy")))


def test_garbage_is_not_audio(server: StubSpeechServer) -> None:
    server.stub.flood = 5000
    engine = RemoteEngine(EngineSettings(name="remote", remote_url=server.url, remote_voices=["alloy"]))
    with pytest.raises(SynthesisError, match="not audio"):
        engine.synthesize(SynthesisRequest(text="Keep it.", style=voice_style("alloy")))


def test_emotions_the_server_renders_are_asked_for_others_rendered_here(server: StubSpeechServer) -> None:
    engine = RemoteEngine(EngineSettings(name="remote", remote_url=server.url, remote_voices=["alloy"],
                                         remote_emotions=["happy"]))
    profile = VoiceProfile(style=voice_style("alloy"), embedding=np.zeros(0, np.float32))
    speak(engine, profile, "What a day it was.", emotion="happy", intensity=0.8)
    assert server.stub.requests[-1][1]["emotion"] == "happy"
    speak(engine, profile, "What a day it was.", emotion="sad", intensity=0.8)
    assert "emotion" not in server.stub.requests[-1][1]  # post-processed here, as for any engine


def test_the_engine_clones_nothing(tmp_path: Path, server: StubSpeechServer) -> None:
    settings = remote_settings(tmp_path, server.url)
    store = get_store(settings)
    # Its built-in voices need no speaker embedding (nothing is rendered to store one) ...
    found = builtin_voice(settings, store, "builtin-remote-alloy", "alloy")
    assert found is not None and server.stub.requests == []
    # ... and a recording cannot become one of its voices.
    with pytest.raises(VoiceError, match="cannot make a voice from a recording.*alloy"):
        enroll_reference(reference_key("0" * 64), "ref-0123456789abcdef", 1, store=store, settings=settings)
    assert builtin_voice(settings, store, "builtin-remote-nope", "nope") is None
