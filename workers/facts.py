"""Engine facts and built-in voice profiles for the control role.

The control process never builds an engine: it asks for these through its
dispatch adapter, which runs them here in-process (embedded mode) or as a
small task on the ``synth`` queue (distributed mode).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from voicecast.errors import UntrustedMessage, VoicecastError
from voicecast.queue import BuiltinVoice, EngineFacts, LinePrediction, LineSlot, ReferenceInfo
from voicecast.settings import Settings
from voicecast.storage import ObjectStore, UnsafeKey, expect_key, reference_key, voice_profile_key
from workers.engines import Engine, get_engine
from workers.voices import VoiceProfile, builtin_profile, builtin_voices


def engine_facts(settings: Settings) -> EngineFacts:
    """The configured engine's facts (builds the engine object, loads no model)."""
    engine = get_engine(settings.engine)
    symbols = getattr(engine, "phoneme_symbols", None)
    return EngineFacts(
        name=engine.name, version=engine.version, sample_rate=engine.capabilities.sample_rate,
        voices=tuple(builtin_voices(engine)),
        phoneme_symbols=frozenset(symbols()) if callable(symbols) else frozenset(),
        languages=tuple(engine.capabilities.languages),
        any_region=tuple(engine.capabilities.any_region),
    )


def builtin_voice(settings: Settings, store: ObjectStore, voice_id: str, name: str) -> BuiltinVoice | None:
    """Store the profile of the engine's own voice ``name`` under ``voice_id``
    (version 1) unless it is there; None when the engine has no such voice.
    A voice id that is not a safe id is refused (:class:`UntrustedMessage`)."""
    try:
        key = voice_profile_key(voice_id, 1)  # checked before anything is stored
    except UnsafeKey as e:
        raise UntrustedMessage(f"built-in voice refused: {e}") from None
    engine = get_engine(settings.engine)
    profile = builtin_profile(engine, name, store) if isinstance(name, str) else None
    if profile is None:
        return None
    data = profile.to_bytes()
    if not store.exists(key):
        store.put_bytes(key, data)
    return BuiltinVoice(name=name, profile_key=key, sha256=hashlib.sha256(data).hexdigest())


def check_reference(store: ObjectStore, paths: list[Path]) -> ReferenceInfo:
    """Decode and check reference clips (:func:`workers.reference.load_references`:
    any problem raises a ``ReferenceAudioError`` naming the clip) and store the
    checked 16 kHz reference under its content key."""
    from voicecast.audio import to_wav_bytes
    from workers.reference import load_references

    ref = load_references(paths)
    key = reference_key(ref.sha256)
    if not store.exists(key):
        store.put_bytes(key, to_wav_bytes(ref.audio, ref.sample_rate), content_type="audio/wav")
    return ReferenceInfo(sha256=ref.sha256, key=key, speech_s=ref.speech_s, duration_s=ref.duration_s,
                         peak_db=ref.peak_db, rms_db=ref.rms_db,
                         clips=tuple(c.as_dict() for c in ref.clips))


def check_uploaded_reference(store: ObjectStore, uploads: list[tuple[str, str]]) -> ReferenceInfo:
    """:func:`check_reference` on clips the control role uploaded: ``uploads`` is
    ``[(object key, file name), ...]``; each clip is checked under its own file
    name, so an error names the file the user gave. A key outside ``uploads/``
    (or not an upload's content key) is refused (:class:`UntrustedMessage`):
    a message names only what the control role uploaded."""
    for key, name in uploads:
        try:
            expect_key(key, "upload")
        except UnsafeKey as e:
            raise UntrustedMessage(f"reference check refused: {e}") from None
        if not isinstance(name, str) or Path(name).name in ("", ".", ".."):
            raise UntrustedMessage(f"reference check refused: not a file name: {str(name)[:80]!r}")
    with tempfile.TemporaryDirectory(prefix="voicecast-ref-") as tmp:
        paths, names = [], {}
        for n, (key, name) in enumerate(uploads):
            path = Path(tmp) / str(n) / Path(name).name
            path.parent.mkdir()
            store.get_file(key, path)
            paths.append(path)
            names[str(path)] = name
        try:
            return check_reference(store, paths)
        except VoicecastError as e:  # name the user's file, not this worker's copy
            raise type(e)(e.message, file=names.get(e.file or "", e.file), line=e.line,
                          field=e.field) from None


#: Sentences of every length a line may have, rendered once per voice by
#: :func:`predict_lines` to learn how much edge silence the fit's trim removes
#: from that voice's takes (none is a line of any test or example).
EDGE_SENTENCES = (
    "Not yet.",
    "She closed the door.",
    "The wind had dropped by the evening.",
    "Nobody on the ferry could tell us when the road would open again.",
    "We walked along the old canal, past the mill and the shuttered boathouses, until the lights of "
    "the town came into view.",
    "Keep it.",
    "Where did you leave the keys?",
    "A cold wind swept across the harbour as the last boats came home.",
)


@dataclass(frozen=True)
class EdgeModel:
    """A voice's edge silence (leading plus trailing audio the fit trims) as a
    function of the raw take's length at speed 1.0: ``a + b / raw_s**2``
    (``b <= 0``). Kokoro picks its style row by the line's token count: a
    voice's edges grow with the line's length up to about 3 s, then level off
    (jf_alpha: 0.77 s on a 1.4 s take, 1.02 s from 4 s on; jm_kumo 0.69 to
    0.97 s), and differ from voice to voice. Fitted on 26 lines of
    examples/trailer.srt, the saturating form was within 3.5 % of the
    rendered natural length where ``a + b * ln(raw_s)`` missed by 5.7 %."""

    a: float
    b: float

    def edge_s(self, raw_s: float) -> float:
        return max(0.0, self.a + self.b / max(raw_s, 0.1) ** 2)


_edge_models: dict[tuple[str, str], EdgeModel] = {}


def edge_model(engine: Engine, profile: VoiceProfile, voice: str, trim_db: float) -> EdgeModel:
    """The voice's :class:`EdgeModel`, fitted on :data:`EDGE_SENTENCES` rendered
    at speed 1.0 and trimmed as the fit trims (cached per voice in the process).
    Least squares; a slope that the sentences do not support is dropped."""
    import numpy as np

    from voicecast.audio import speech_bounds
    from workers.voices import speak

    key = (voice, f"{engine.name}-{engine.version}-{trim_db}")
    if key in _edge_models:
        return _edge_models[key]
    sr = engine.capabilities.sample_rate
    raw, edge = [], []
    for text in EDGE_SENTENCES:
        audio = np.asarray(speak(engine, profile, text, 1.0), dtype=np.float32)
        bounds = speech_bounds(audio, sr, trim_db)
        if bounds is None:
            continue
        raw.append(audio.size / sr)
        edge.append((audio.size - (bounds[1] - bounds[0] + 1)) / sr)
    if len(raw) < 2:
        model = EdgeModel(float(getattr(engine, "edge_silence_s", 0.0)), 0.0)
    else:
        b, a = np.polyfit(1.0 / np.asarray(raw) ** 2, np.asarray(edge), 1)
        # Shorter lines with longer edges is not what the sentences can show: the mean then.
        model = EdgeModel(float(a), float(b)) if b <= 0 else EdgeModel(float(np.mean(edge)), 0.0)
    _edge_models[key] = model
    return model


def predict_lines(settings: Settings, store: ObjectStore, profile_key: str | None, builtin: str | None,
                  lines: list[LineSlot]) -> list[LinePrediction]:
    """Each line's natural length from the engine's duration predictor, and the
    fit :func:`workers.fitting.plan_rate` plans on it, without rendering the
    lines (``voicecast plan``). The voice is a stored profile (``profile_key``)
    or one of the engine's own voices (``builtin``, not stored).

    The request is the one :func:`workers.synth.render_segment` makes (the
    line's emotion's speed and style); its predicted raw length at speed 1.0
    less the edge silence the fit trims is the natural length the render
    measures. The edge silence is the voice's (:func:`edge_model`: a few short
    sentences rendered once per voice, since it depends on the voice and the
    line's length), at the emotion's speed. (The fit itself starts from a
    fixed prior, ``KokoroEngine.edge_silence_s``, and corrects it with its take:
    what the render reports is the measured length this predicts.) An engine
    without a predictor gives ``natural_s=None``.
    """
    import numpy as np

    from workers.fitting import FitPolicy, plan_rate
    from workers.synth import load_profile
    from workers.voices import line_prosody, predict

    engine = get_engine(settings.engine)
    if builtin is not None:
        packs = engine.bundled_voices() if builtin_voices(engine) else {}
        if builtin not in packs:
            raise VoicecastError(f"the engine has no voice {builtin!r}", field="--voice")
        # The style pack is all a prediction needs (the embedding is for enrollment).
        profile = VoiceProfile(style=packs[builtin], embedding=np.zeros(0, np.float32))
    elif profile_key is not None:
        try:
            profile = load_profile(store, expect_key(profile_key, "voice_profile"))
        except UnsafeKey as e:
            raise UntrustedMessage(f"line prediction refused: {e}") from None
    else:
        raise ValueError("predict_lines needs a profile key or a built-in voice")
    policy = FitPolicy.from_settings(settings.fit)
    edges: EdgeModel | None = None
    out = []
    for line in lines:
        prosody = line_prosody(engine, profile, line.text, line.emotion, line.intensity)
        raw1 = predict(engine, profile, line.text, 1.0, emotion=line.emotion, intensity=line.intensity,
                       prosody=prosody)
        if raw1 is None or raw1 <= 0:
            out.append(LinePrediction(natural_s=None))
            continue
        if edges is None:
            edges = edge_model(engine, profile, builtin or profile_key or "", policy.trim_db)
        # The edges at the engine speed the emotion asks for (they scale as 1 / speed),
        # and never more than half the take (as fit_to_slot assumes).
        edge = edges.edge_s(raw1 * prosody.rate) / prosody.rate
        natural = raw1 - min(edge, 0.5 * raw1)
        if line.slot_s <= 0:
            out.append(LinePrediction(natural_s=natural, target_s=natural, rate=1.0))
            continue
        target, borrowed, overflow, overflow_s = plan_rate(natural, line.slot_s, line.max_s, policy)
        rate = natural / target
        out.append(LinePrediction(natural_s=natural, target_s=target, rate=rate, borrowed_s=borrowed,
                                  overflow=overflow, overflow_s=overflow_s,
                                  fast=overflow or rate > policy.comfortable_max + 1e-9))
    return out


def transcribe(store: ObjectStore, audio_key: str, name: str, language: str) -> dict[str, str]:
    """``--timeline asr``: the timeline and text of an uploaded sound
    (``audio_key``, under ``uploads/``: the input's speech, extracted by the
    control role), as SRT (:func:`workers.asr.asr_timeline`). A user error (no
    speech, a language the model does not know) is an answer naming ``name``,
    the user's file."""
    from workers.asr import asr_timeline

    try:
        key = expect_key(audio_key, "upload")
    except UnsafeKey as e:
        raise UntrustedMessage(f"transcription refused: {e}") from None
    with tempfile.TemporaryDirectory(prefix="voicecast-asr-") as tmp:
        audio, srt = Path(tmp) / "speech.flac", Path(tmp) / "timeline.srt"
        store.get_file(key, audio)
        try:
            made = asr_timeline(audio, srt, language=language)
        except VoicecastError as e:
            return {"error": e.message if e.field else f"{name}: {e.message}", "field": e.field or ""}
        # The warnings name the SRT the user gets back, not this folder's file.
        warnings = [w.replace(str(srt), f"{name} (transcribed)") for w in made.warnings]
        return {"srt": srt.read_text(encoding="utf-8"), "warnings": "\n".join(warnings)}
