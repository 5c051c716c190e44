"""The plan of a video or audio input: one timeline per dub, each timed by a
subtitle file, a text subtitle stream of the input, or the input's own speech
(``--timeline asr``), and every cue checked against the picture.

Each dub is planned as a subtitle track is (:func:`~orchestrator.planning.cues.plan_cues`),
on a track as long as the input; its segments are numbered after the previous
dub's and carry their dub's index (``track``). A cue that runs past the end of
the video is an error naming it: the dub cannot be longer than the picture.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.inputs.media import (
    MediaInfo,
    check_decodes,
    probe_media,
    select_subtitle_stream,
    subtitle_stream_text,
)
from orchestrator.inputs.subtitles import Cue, parse_subtitles_text, read_subtitles
from orchestrator.planning.cues import plan_cues
from orchestrator.planning.limits import check_plan
from orchestrator.planning.segments import PlannedSegment
from voicecast.errors import InputError
from voicecast.languages import Language, parse_language
from voicecast.settings import Settings

if TYPE_CHECKING:
    from orchestrator.dispatch import Dispatcher
    from orchestrator.options import DubSpec, RenderOptions
    from orchestrator.planning.markup import EmotionRules

#: ``--timeline asr``: the dub's ``subs`` value.
ASR = "asr"


@dataclass(frozen=True)
class DubTimeline:
    """Where one dub's cues came from, as read: the subtitle text (to mux, or,
    for ``asr``, to hand back as an editable SRT), its format, and the name
    messages give it (``film.mkv (stream #3)``, ``dub.es.srt``)."""

    text: str
    fmt: str
    source: str
    #: ``file``, ``stream`` or ``asr``.
    origin: str
    #: What reading it found worth saying (a transcription Whisper was unsure of).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrackPlan:
    """One dub of a media job: its language, its timeline, and its segments
    (``first`` .. ``first + count - 1`` of the job)."""

    index: int
    lang: Language
    voice: str
    timeline: DubTimeline
    first: int
    count: int


@dataclass(frozen=True)
class MediaPlan:
    """Every dub of a media input, planned: the segments of all dubs in order,
    what the planners warned of, the input's facts and each dub's track."""

    info: MediaInfo
    segments: list[PlannedSegment]
    warnings: list[str]
    tracks: list[TrackPlan]
    bed: MediaInfo | None = None


def check_cue_times(cues: Sequence[Cue], info: MediaInfo, source: str) -> None:
    """Refuse a cue that runs past the end of the input (more than a frame,
    or 40 ms without a picture): a dub is as long as its video. Pure."""
    slack = (info.frame_ms or 40.0) / 1000.0
    end = info.duration_s
    for c in cues:
        if c.end > end + slack or c.start >= end:
            what = "starts" if c.start >= end else "ends"
            at = c.start if c.start >= end else c.end
            raise InputError(f"cue {c.index} {what} at {_clock(at)}, past the end of {info.path.name} "
                             f"({_clock(end)}): the subtitles are longer than the video "
                             "(are they for another cut, or another frame rate?)",
                             file=source, line=c.line or None)


def _clock(s: float) -> str:
    ms = round(s * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def speech_upload(settings: Settings, info: MediaInfo) -> str:
    """The input's first sound stream as 16 kHz mono FLAC, stored for the
    synthesis role to transcribe (``--timeline asr``): a film's speech is tens
    of megabytes, its picture gigabytes. Returns the upload's key. Raises
    :class:`InputError` naming the input when it has no sound."""
    from orchestrator.files import sha256_file
    from voicecast.media import run_ffmpeg
    from voicecast.storage import get_store, upload_key

    if not info.audio:
        raise InputError("has no sound to transcribe (--timeline asr); give the timeline with --subs",
                         file=info.path)
    with tempfile.TemporaryDirectory(prefix="voicecast-asr-") as tmp:
        flac = Path(tmp) / "speech.flac"
        run_ffmpeg(["-v", "error", "-i", str(info.path), "-map", "0:a:0", "-ac", "1", "-ar", "16000",
                    "-c:a", "flac", str(flac)])
        key = upload_key(sha256_file(flac) or "")
        store = get_store(settings)
        if not store.exists(key):
            store.put_file(key, flac)
    return key


def dub_timeline(info: MediaInfo, dub: DubSpec, settings: Settings,
                 dispatcher: Dispatcher) -> tuple[DubTimeline, list[Cue]]:
    """Read one dub's timeline: a subtitle file, a text subtitle stream of the
    input (``stream:LANG``, ``stream:INDEX``) or the input's speech (``asr``,
    transcribed by the synthesis role: :meth:`Dispatcher.transcribe`).
    Raises :class:`InputError` naming the file or stream."""
    if dub.subs == ASR:
        from voicecast.evaluation import check_transcribable

        check_transcribable(dub.lang)  # before the sound is extracted and sent
        text, said = dispatcher.transcribe(speech_upload(settings, info), str(info.path), dub.lang)
        source = f"{info.path} (speech)"
        return (DubTimeline(text, "srt", source, "asr", tuple(said)),
                parse_subtitles_text(text, "srt", source))
    if dub.subs.startswith("stream:"):
        stream = select_subtitle_stream(info, dub.subs)
        text, fmt = subtitle_stream_text(info, stream, settings.inputs)
        source = f"{info.path} (stream #{stream.index})"
        return DubTimeline(text, fmt, source, "stream"), parse_subtitles_text(text, fmt, source)
    path = Path(dub.subs)
    from orchestrator.files import regular_file
    from voicecast.settings import env_name

    regular_file(path, what="subtitle file", max_bytes=settings.inputs.max_text_bytes,
                 setting=env_name("inputs", "max_text_bytes"))
    text, parsed_as = read_subtitles(path)  # read once: parsed, and kept to mux or store
    cues = parse_subtitles_text(text, parsed_as, str(path))
    fmt = path.suffix.lower().lstrip(".")
    return DubTimeline(text, "ass" if fmt == "ssa" else fmt, str(path), "file"), cues


def plan_media(settings: Settings, input_path: Path, options: RenderOptions, rules: EmotionRules,
               characters: Collection[str], dispatcher: Dispatcher, *, preview: bool = False,
               unfit: list[str] | None = None) -> MediaPlan:
    """Probe the input (and a ``--bed`` stem), check what the options ask of it,
    and plan every dub. Raises :class:`InputError` naming the file, stream or
    line: a damaged input, ``duck`` on an input with no sound, a bed with no
    sound, a missing or image-based subtitle stream, a cue past the end."""
    info = probe_media(input_path, settings.inputs)
    check_decodes(info)
    if options.mix == "duck" and not info.audio:
        raise InputError("has no sound to lower under the dub (--mix duck); use --mix replace, or "
                         "--mix bed with --bed FILE", file=input_path)
    bed = None
    if options.mix == "bed":
        if not options.bed:
            raise InputError("--mix bed needs the music-and-effects stem: --bed FILE", field="--bed")
        bed = probe_media(Path(options.bed), settings.inputs)
        if not bed.audio:
            raise InputError("the bed has no sound stream", file=options.bed)
        check_decodes(bed)
    if not options.dubs:
        raise InputError("a video or audio input is dubbed from a timeline: give --subs FILE, "
                         "--subs stream:LANG (a subtitle stream inside it) or --timeline asr",
                         field="--subs")
    segments: list[PlannedSegment] = []
    warnings: list[str] = []
    tracks: list[TrackPlan] = []
    read: dict[tuple[str, str], tuple[DubTimeline, list[Cue]]] = {}
    for k, dub in enumerate(options.dubs):
        lang = parse_language(dub.lang)
        if (dub.subs, dub.lang) not in read:  # one transcription for every dub that asks for it
            read[(dub.subs, dub.lang)] = dub_timeline(info, dub, settings, dispatcher)
        timeline, cues = read[(dub.subs, dub.lang)]
        check_cue_times(cues, info, timeline.source)
        plan = plan_cues(cues, source=timeline.source, track_end=info.duration_s, emotions=rules,
                         characters=characters, styles=options.styles)
        check_plan(plan.segments, plan.duration, limits=settings.inputs, hard_max=settings.fit.hard_max,
                   source=timeline.source, timed=True, unfit=unfit if preview else None)
        first = len(segments)
        # A line's language is its [lang:] tag's here; the planner gives the rest theirs
        # (a character's, else this dub's: TrackPlan.lang).
        segments += [dataclasses.replace(g, idx=first + i, track=k) for i, g in enumerate(plan.segments)]
        warnings += [*timeline.warnings, *plan.warnings]
        tracks.append(TrackPlan(index=k, lang=lang, voice=dub.voice, timeline=timeline, first=first,
                                count=len(plan.segments)))
    return MediaPlan(info=info, segments=segments, warnings=warnings, tracks=tracks, bed=bed)
