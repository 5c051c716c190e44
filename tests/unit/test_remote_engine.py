"""The remote engine's pure parts: voices as style arrays, the request body,
decoding the answer, mapping error answers, its settings and version (no server:
tests/integration/test_remote_engine_stub.py talks HTTP)."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import soundfile as sf

import workers.engines as engines
import workers.engines.remote as remote
from voicecast.audio import to_wav_bytes
from voicecast.errors import SynthesisError, TransientError, VoicecastError, VoiceError
from voicecast.settings import EngineSettings, SettingsError, load_settings
from workers.engines import SynthesisRequest
from workers.engines.remote import (
    RemoteEngine,
    decode_audio,
    error_detail,
    request_body,
    shown_url,
    speech_url,
    status_error,
    voice_name,
    voice_style,
)
from workers.voices import VoiceProfile

SR = 24000
URL = "http://127.0.0.1:9"  # nothing here is ever sent


def settings(**kw: object) -> EngineSettings:
    base: dict[str, object] = {"name": "remote", "remote_url": URL, "remote_voices": ["alloy", "nova"],
                               "remote_retry_s": 0}
    return EngineSettings(**{**base, **kw})


def tone(seconds: float, sr: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    x = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def wav(x: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, subtype=subtype, format="WAV")
    return buf.getvalue()


# --------------------------------------------------------------------------- voices


def test_a_voice_name_survives_its_style_array_and_a_stored_profile() -> None:
    for name in ("alloy", "af_heart", "v1.voice-2", "x"):
        style = voice_style(name)
        assert style.dtype == np.float32 and style.ndim == 1
        assert voice_name(style) == name
        profile = VoiceProfile(style=style, embedding=np.zeros(0, np.float32))
        stored = VoiceProfile.from_bytes(profile.to_bytes())
        assert voice_name(stored.style) == name


def test_other_styles_are_no_voice_name() -> None:
    assert voice_name(np.zeros((510, 256), np.float32)) is None  # a Kokoro style pack
    assert voice_name(np.ones(256, np.float32)) is None  # a single style vector
    style = voice_style("alloy")
    for damaged in (style[:-1], np.concatenate([style, [65.0]]), style + 0.5, style * 2):
        assert voice_name(damaged.astype(np.float32)) is None
    bad_utf8 = np.array([style[0], 1, 255], np.float32)
    assert voice_name(bad_utf8) is None


def test_the_engine_offers_its_configured_voices() -> None:
    engine = RemoteEngine(settings(remote_voices=["nova", "alloy", "nova"]))
    voices = engine.bundled_voices()
    assert list(voices) == ["nova", "alloy"]
    assert all(voice_name(style) == name for name, style in voices.items())
    assert engine.voice_of(voices["alloy"]) == "alloy"


def test_a_style_that_is_no_configured_voice_is_refused_before_any_request() -> None:
    engine = RemoteEngine(settings())
    with pytest.raises(VoiceError, match="not made for the remote engine.*alloy, nova") as e:
        engine.synthesize(SynthesisRequest(text="Hello.", style=np.zeros((510, 256), np.float32)))
    assert e.value.field == "voice"
    with pytest.raises(VoiceError, match="'echo' is not one of VOICECAST_ENGINE__REMOTE_VOICES"):
        engine.synthesize(SynthesisRequest(text="Hello.", style=voice_style("echo")))
    with pytest.raises(SynthesisError, match="empty"):
        engine.synthesize(SynthesisRequest(text="  ", style=voice_style("alloy")))
    with pytest.raises(SynthesisError, match="inline phonemes") as e2:
        engine.synthesize(SynthesisRequest(text="A ⟦wˈɪn⟧ here.", style=voice_style("alloy")))
    assert e2.value.field == "lexicon"


# --------------------------------------------------------------------------- request


@pytest.mark.parametrize(("base", "url"), [
    ("http://gpu:8000", "http://gpu:8000/v1/audio/speech"),
    ("http://gpu:8000/", "http://gpu:8000/v1/audio/speech"),
    ("http://gpu:8000/v1", "http://gpu:8000/v1/audio/speech"),
    ("https://tts.example/prefix/v1/", "https://tts.example/prefix/v1/audio/speech"),
    ("https://tts.example/prefix", "https://tts.example/prefix/v1/audio/speech"),
])
def test_speech_url(base: str, url: str) -> None:
    assert speech_url(base) == url


def test_urls_in_messages_show_no_credentials() -> None:
    assert shown_url("https://user:pw@tts.example:8443/v1/audio/speech?key=k#x") == \
        "https://tts.example:8443/v1/audio/speech"


def test_the_request_body_has_openais_fields() -> None:
    req = SynthesisRequest(text="Hello there.", style=voice_style("alloy"), speed=1.12)
    body = request_body(req, model="tts-1", voice="alloy", response_format="wav")
    assert body == {"model": "tts-1", "input": "Hello there.", "voice": "alloy", "response_format": "wav",
                    "speed": 1.12}
    json.dumps(body)  # serialisable as is


def test_the_speed_is_clamped_to_the_apis_range() -> None:
    def speed(s: float) -> float:
        req = SynthesisRequest(text="x", style=voice_style("a"), speed=s)
        return float(request_body(req, model="m", voice="a", response_format="pcm")["speed"])

    assert (speed(0.1), speed(0.25), speed(2.0), speed(9.0)) == (0.25, 0.25, 2.0, 4.0)
    with pytest.raises(ValueError, match="finite"):
        speed(float("nan"))


def test_an_emotion_is_asked_for_only_when_the_server_renders_it() -> None:
    req = SynthesisRequest(text="x", style=voice_style("a"), emotion="happy", intensity=0.7)
    assert "emotion" not in request_body(req, model="m", voice="a", response_format="wav")
    body = request_body(req, model="m", voice="a", response_format="wav", emotions=("neutral", "happy"))
    assert body["emotion"] == "happy"
    neutral = SynthesisRequest(text="x", style=voice_style("a"))
    assert "emotion" not in request_body(neutral, model="m", voice="a", response_format="wav",
                                         emotions=("neutral", "happy"))


# --------------------------------------------------------------------------- answer


def test_wav_at_the_engines_rate_is_decoded_as_is() -> None:
    x = tone(0.5, SR)
    y = decode_audio(wav(x, SR), "wav", SR)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) < 1e-4


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
def test_wav_at_another_rate_is_resampled(rate: int) -> None:
    y = decode_audio(wav(tone(0.5, rate), rate), "wav", SR)
    assert y.size == pytest.approx(0.5 * SR, abs=2)
    assert np.abs(y).max() == pytest.approx(0.3, abs=0.02)


def test_stereo_and_float_wav_become_mono_within_full_scale() -> None:
    assert decode_audio(wav(tone(0.2, SR, channels=2), SR), "wav", SR).ndim == 1
    loud = np.array([0.5, 2.0, -3.0, np.nan, np.inf], np.float32)
    y = decode_audio(wav(loud, SR, subtype="FLOAT"), "wav", SR)
    assert np.isfinite(y).all() and np.abs(y).max() <= 1.0


def test_a_streamed_wav_without_sizes_is_read_to_its_end() -> None:
    data = bytearray(wav(tone(0.3, SR), SR))
    struct.pack_into("<I", data, 4, 0)  # RIFF size
    struct.pack_into("<I", data, data.find(b"data") + 4, 0)  # data size: unknown when streaming
    y = decode_audio(bytes(data), "wav", SR)
    assert y.size == int(0.3 * SR)


def test_pcm_is_16_bit_at_its_stated_rate() -> None:
    x = tone(0.25, 16000)
    raw = (x * 32767).astype("<i2").tobytes()
    assert decode_audio(raw, "pcm", SR, pcm_rate=16000).size == pytest.approx(0.25 * SR, abs=2)
    # No X-Sample-Rate: the engine's own rate.
    assert decode_audio(raw, "pcm", SR).size == x.size
    with pytest.raises(SynthesisError, match="odd number of bytes"):
        decode_audio(raw + b"\0", "pcm", SR)
    with pytest.raises(SynthesisError, match="1000000 Hz"):
        decode_audio(raw, "pcm", SR, pcm_rate=1_000_000)


@pytest.mark.parametrize(("data", "match"), [
    (b'{"error": "overloaded"}', "not audio.*overloaded"),
    (b"\x00" * 300, "not audio"),
    (b"", "not audio|no audio"),
])
def test_an_answer_that_is_not_audio_is_refused(data: bytes, match: str) -> None:
    with pytest.raises(SynthesisError, match=match):
        decode_audio(data, "wav", SR)


def test_implausible_audio_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SynthesisError, match="4000 Hz"):
        decode_audio(wav(tone(0.1, 4000), 4000), "wav", SR)
    with pytest.raises(SynthesisError, match="no audio"):
        decode_audio(b"", "pcm", SR)
    monkeypatch.setattr(remote, "MAX_AUDIO_S", 0.2)
    with pytest.raises(SynthesisError, match="at most 0 s|s of audio"):
        decode_audio(wav(tone(0.5, SR), SR), "wav", SR)


# --------------------------------------------------------------------------- error answers


@pytest.mark.parametrize(("body", "message", "field"), [
    (b'{"error": {"code": "invalid", "message": "unknown voice", "field": "voice"}}',
     "unknown voice", "voice"),
    (b'{"error": {"message": "bad model", "type": "invalid_request_error", "param": "model"}}',
     "bad model", "model"),
    (b'{"detail": "Voice not found"}', "Voice not found", None),
    (b'{"detail": [{"loc": ["body", "input"], "msg": "Field required", "type": "missing"}]}',
     "Field required", "input"),
    (b"Internal Server Error", "Internal Server Error", None),
    (b"", "no message", None),
])
def test_error_details_of_the_common_servers(body: bytes, message: str, field: str | None) -> None:
    assert error_detail(body) == (message, field)


def test_an_error_message_is_cleaned_and_bounded() -> None:
    message, _ = error_detail(("bad\x1b[31m thing\n\n" + "x" * 1000).encode())
    assert "\x1b" not in message and "\n" not in message and len(message) <= 300


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_transient(status: int) -> None:
    err = status_error(status, b'{"error": {"message": "busy"}}', URL + "/v1/audio/speech")
    assert isinstance(err, TransientError) and f"HTTP {status}: busy" in str(err)


def test_refusals_are_permanent_and_name_the_field_or_setting() -> None:
    url = "http://user:secret@gpu:8000/v1/audio/speech"
    key = status_error(401, b'{"detail": "bad key"}', url)
    assert isinstance(key, VoicecastError) and key.field == "VOICECAST_ENGINE__REMOTE_API_KEY"
    assert "secret" not in str(key) and "http://gpu:8000/v1/audio/speech" in str(key)
    assert status_error(403, b"", url).field == "VOICECAST_ENGINE__REMOTE_API_KEY"
    moved = status_error(307, b"", url)
    assert moved.field == "VOICECAST_ENGINE__REMOTE_URL" and "not followed" in str(moved)
    path = status_error(404, b'{"detail": "Not Found"}', url)
    assert path.field == "VOICECAST_ENGINE__REMOTE_URL"
    voice = status_error(404, b'{"error": {"message": "no voice x", "field": "voice"}}', url)
    assert isinstance(voice, VoiceError) and voice.field == "voice"
    model = status_error(400, b'{"error": {"message": "no such model", "param": "model"}}', url)
    assert model.field == "VOICECAST_ENGINE__REMOTE_MODEL"
    text = status_error(422, b'{"detail": [{"loc": ["body", "input"], "msg": "too long"}]}', url)
    assert isinstance(text, SynthesisError) and text.field == "input" and "too long" in str(text)
    for err in (key, moved, path, voice, model, text):
        assert not isinstance(err, TransientError)


# --------------------------------------------------------------------------- settings and version


def test_settings_from_the_environment(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICECAST_ENGINE__NAME", "remote")
    monkeypatch.setenv("VOICECAST_ENGINE__REMOTE_URL", "http://gpu:8000")
    monkeypatch.setenv("VOICECAST_ENGINE__REMOTE_VOICES", '["alloy", "nova"]')
    monkeypatch.setenv("VOICECAST_ENGINE__REMOTE_API_KEY", "sk-123")
    monkeypatch.setenv("VOICECAST_ENGINE__REMOTE_FORMAT", "pcm")
    e = load_settings().engine
    assert (e.remote_url, e.remote_voices, e.remote_format) == ("http://gpu:8000", ["alloy", "nova"], "pcm")
    assert (e.remote_model, e.remote_sample_rate) == ("tts-1", 24000)
    assert e.remote_api_key is not None and e.remote_api_key.get_secret_value() == "sk-123"
    assert "sk-123" not in repr(e) and "sk-123" not in e.model_dump_json()


@pytest.mark.parametrize(("env", "names"), [
    ({"VOICECAST_ENGINE__NAME": "remote", "VOICECAST_ENGINE__REMOTE_VOICES": '["a"]'},
     ["VOICECAST_ENGINE__REMOTE_URL"]),
    ({"VOICECAST_ENGINE__NAME": "remote", "VOICECAST_ENGINE__REMOTE_URL": "http://gpu:8000"},
     ["VOICECAST_ENGINE__REMOTE_VOICES"]),
    ({"VOICECAST_ENGINE__REMOTE_URL": "gpu:8000"}, ["VOICECAST_ENGINE__REMOTE_URL"]),
    ({"VOICECAST_ENGINE__REMOTE_VOICES": '["ok", "no/slash"]'}, ["VOICECAST_ENGINE__REMOTE_VOICES"]),
    ({"VOICECAST_ENGINE__REMOTE_FORMAT": "mp3"}, ["VOICECAST_ENGINE__REMOTE_FORMAT"]),
])
def test_bad_remote_settings_name_their_variable(clean_env: None, monkeypatch: pytest.MonkeyPatch,
                                                 env: dict[str, str], names: list[str]) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError) as e:
        load_settings()
    for name in names:
        assert name in str(e.value)


def test_the_version_names_the_model_and_changes_with_the_server() -> None:
    base = RemoteEngine(settings())
    assert base.version.startswith("remote-tts-1-") and base.version == RemoteEngine(settings()).version
    # Another server, model or rate can give other audio: another version (another content hash).
    for other in (settings(remote_url="http://127.0.0.1:10"), settings(remote_model="tts-1-hd"),
                  settings(remote_sample_rate=22050)):
        assert RemoteEngine(other).version != base.version
    # The same server reached the same way, with another key or voice list: the same audio.
    for same in (settings(remote_api_key="sk-x"), settings(remote_voices=["alloy"]),
                 settings(remote_url=URL + "/v1/"), settings(remote_timeout_s=5)):
        assert RemoteEngine(same).version == base.version
    odd = RemoteEngine(settings(remote_model="hexgrad/Kokoro-82M v1.0"))
    assert odd.version.startswith("remote-hexgrad_Kokoro-82M_v1.0-")


def test_capabilities() -> None:
    caps = RemoteEngine(settings(remote_sample_rate=22050, remote_emotions=["happy", "neutral"])).capabilities
    assert caps.sample_rate == 22050 and caps.native_rate and caps.cloning == "none"
    assert not caps.phoneme_input and caps.emotions == ("neutral", "happy")
    assert RemoteEngine(settings()).capabilities.emotions == ("neutral",)
    assert not hasattr(RemoteEngine(settings()), "predict_duration")


def test_the_registry_builds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "_loaded", type(engines._loaded)())
    assert "remote" in engines.names()
    engine = engines.get_engine(settings())
    assert isinstance(engine, RemoteEngine) and isinstance(engine, engines.Engine)
    assert engines.get_engine(settings()) is engine
    # Settings that differ only by their (masked) key are different engines.
    a, b = engines.get_engine(settings(remote_api_key="a")), engines.get_engine(settings(remote_api_key="b"))
    assert a is not b


def test_silence_is_audio_too() -> None:
    # An all-silent answer decodes; the fit then reports "no audible speech" naming the line.
    y = decode_audio(to_wav_bytes(np.zeros(2400, np.float32), SR), "wav", SR)
    assert y.size == 2400 and not y.any()
