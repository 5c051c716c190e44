"""``POST /v1/audio/speech``: one line, OpenAI-compatible, for previews and for
other voicecast deployments' remote engine.

The line is rendered as a segment with no slot (its natural length) by the
synthesis role, with the job pipeline's voice, emotion and content hash, so a
repeated request is a storage hit. ``speed`` other than 1 is applied by
time-stretching the take (ffmpeg's ``atempo``, pitch kept); the answer is
encoded to the requested format.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.service.schemas import SpeechRequest
from orchestrator.service.submit import qualified
from voicecast.errors import InputError
from voicecast.settings import Settings
from voicecast.storage import get_store

if TYPE_CHECKING:
    from orchestrator.dispatch import Dispatcher

#: Content types of the answer.
MEDIA_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "pcm": "audio/pcm"}


def _atempo(speed: float) -> str:
    """An ``atempo`` chain for ``speed`` (each stage takes 0.5 to 2)."""
    stages = []
    while speed > 2.0:
        stages.append(2.0)
        speed /= 2.0
    while speed < 0.5:
        stages.append(0.5)
        speed /= 0.5
    stages.append(speed)
    return ",".join(f"atempo={x:.6f}" for x in stages)


def speak(settings: Settings, tenant: str, req: SpeechRequest, dispatcher: Dispatcher,
          builtins: tuple[str, ...]) -> tuple[bytes, int]:
    """The line's audio in ``req.response_format`` and its sample rate."""
    from orchestrator.planning.segments import PlannedSegment, segment_hash
    from orchestrator.render import segment_spec
    from orchestrator.service.submit import _voice_entry
    from orchestrator.voices import resolve_voice
    from voicecast.emotions import TagError, parse_emotion
    from voicecast.media import run_tool

    text = " ".join(req.input.split())
    if not text:
        raise InputError("input is empty", field="input")
    entry = _voice_entry(settings, tenant, req.voice, builtins, "voice")
    emotion, intensity = "neutral", 0.0
    if req.emotion:
        try:
            found = parse_emotion(req.emotion)
        except TagError as e:
            raise InputError(e.message, field="emotion") from None
        if found.name == "like":
            raise InputError("a [like:CLIP] emotion needs a job (its clip is uploaded with it)",
                             field="emotion")
        emotion, intensity = found.name, found.intensity
    voice = resolve_voice(settings, entry, dispatcher)
    facts = dispatcher.facts()
    seg = PlannedSegment(idx=0, text=text, start=0.0, end=0.0, max_end=0.0, emotion=emotion,
                         intensity=intensity)
    seg_hash = segment_hash(seg, voice_id=voice.id, voice_version=voice.version, engine=facts.name,
                            engine_version=facts.version, fit=settings.fit.model_dump())
    from orchestrator.store.models import Segment

    row = Segment(job_id=f"speech-{tenant}"[:32], idx=0, text=text, emotion=emotion, intensity=intensity,
                  start_s=0.0, end_s=0.0, max_end_s=0.0, content_hash=seg_hash)
    spec = segment_spec(row, (voice.id, voice.version), (facts.name, facts.version))
    result = dispatcher.render_line(spec)
    wav = get_store(settings).get_bytes(result.audio_key)
    fmt = req.response_format
    args = ["-nostdin", "-v", "error", "-i", "pipe:0"]
    if abs(req.speed - 1.0) > 1e-6:
        args += ["-af", _atempo(req.speed)]
    args += {"wav": ["-c:a", "pcm_s16le", "-f", "wav"],
             "mp3": ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
             "flac": ["-c:a", "flac", "-f", "flac"], "pcm": ["-c:a", "pcm_s16le", "-f", "s16le"]}[fmt]
    # A file, not a pipe: ffmpeg seeks back to finish the headers (a WAV's sizes,
    # FLAC's stream info, the MP3's length frame); through a pipe a WAV says 2^32 bytes.
    with tempfile.TemporaryDirectory(prefix="voicecast-speech-") as tmp:
        out = Path(tmp) / f"line.{fmt}"
        proc = run_tool("ffmpeg", [*args, "-y", str(out)], input_bytes=wav)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg: {proc.stderr.decode('utf-8', 'replace').strip()[-300:]}")
        return out.read_bytes(), result.sample_rate or facts.sample_rate


__all__ = ["MEDIA_TYPES", "qualified", "speak"]
