"""A render, step by step, independent of where the work runs.

create job -> parse -> plan -> voice profiles -> persist segments -> dispatch
(-> record results -> assemble: :mod:`orchestrator.output.finish`). Every user
error on the way marks the job failed with its reason before it reaches the CLI.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from orchestrator.files import input_file, inside, regular_file, sha256_file
from orchestrator.inputs.media import VIDEO_CONTAINERS
from orchestrator.options import RenderOptions
from orchestrator.output.assembly import OUTPUT_FORMATS
from orchestrator.output.outline import BookOutline, ChapterOutline, Level, MediaOutline
from orchestrator.store import jobs
from orchestrator.store.db import session_scope
from orchestrator.store.jobs import failing_job
from orchestrator.store.models import Job, Segment, Voice
from orchestrator.store.states import JobStatus, SegmentStatus, check_segment
from orchestrator.voices import (
    NARRATOR,
    OnProgress,
    assign_voices,
    parse_voice_map,
    resolve_voice_map,
    track_narrator,
)
from voicecast.errors import (
    InputError,
    JobError,
    OutputError,
    VoicecastError,
    VoiceError,
)
from voicecast.languages import parse_language
from voicecast.queue import EngineFacts, SegmentResult, SegmentSpec, hash_fit, read_result, to_ms
from voicecast.settings import InputSettings, Settings, env_name
from voicecast.storage import (
    ObjectStore,
    emotion_clip_key,
    get_store,
    segment_audio_key,
    segment_result_key,
    voice_profile_key,
)
from voicecast.timing import STAGES

if TYPE_CHECKING:
    from orchestrator.dispatch import Dispatcher
    from orchestrator.inputs.books.model import Book
    from orchestrator.planning.markup import EmotionRules
    from orchestrator.planning.media import MediaPlan
    from orchestrator.planning.prose import BookPlan
    from orchestrator.planning.segments import PlannedSegment
    from voicecast.languages import Language

log = logging.getLogger(__name__)


def check_output_path(out: Path, kind: str = "dub") -> None:
    """Refuse, before any work, an output path that delivery could not write:
    a format the job cannot produce, a folder (or a device) where the file
    should go, a parent that is missing or not a folder, a folder where no
    file can be created (tried for real, as permissions, read-only mounts and
    pseudo-filesystems such as ``/sys`` all answer differently, even to root).
    An audiobook's ``<stem>.chapters`` folder must not be a file either.
    Raises :class:`OutputError` naming the path."""
    if kind == "audiobook":
        if out.suffix.lower() != ".m4b":
            raise OutputError("an audiobook is written as an .m4b file (chapter MP3s and "
                              "masters go beside it)", file=out)
    elif kind == "media" and out.suffix.lower() in VIDEO_CONTAINERS:
        pass  # what the container can carry is checked against the input when it is probed
    elif out.suffix.lower() not in OUTPUT_FORMATS:
        raise OutputError(
            f"unsupported output format {out.suffix or '(none)'!r}; use one of "
            + ", ".join(sorted(OUTPUT_FORMATS)) + " (.m4b: audiobooks, --mode audiobook; "
            + ", ".join(VIDEO_CONTAINERS) + ": a dubbed video)", file=out,
        )
    dest = out.expanduser().absolute()
    if dest.is_dir():
        raise OutputError("is a folder; give the output file's name (such as "
                          f"{dest / ('book.m4b' if kind == 'audiobook' else 'dub.wav')})", file=out)
    if dest.exists() and not dest.is_file():
        raise OutputError("exists and is not a regular file (a device or a pipe): give a file path",
                          file=out)
    parent = dest.parent.resolve()
    if not parent.is_dir():
        up = next((p for p in (parent, *parent.parents) if p.exists()), None)
        if up is not None and not up.is_dir():
            raise OutputError(f"output folder {parent} cannot be made: {up} is a file", file=out)
        raise OutputError(f"output folder {parent} does not exist", file=out)
    if kind == "audiobook":
        chapters = parent / (dest.stem + ".chapters")
        if chapters.exists() and not chapters.is_dir():
            raise OutputError(f"{chapters} (where the chapter files go) is a file, not a folder", file=out)
    try:  # the only reliable test of writability is to write
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{dest.name}.", suffix=".check")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"output folder {parent} is not writable (cannot create a file there: "
                          f"{e.strerror})", file=out) from None


def create_job(settings: Settings, input_path: Path, out: Path | None, options: RenderOptions,
               kind: str = "dub", priority: int = 0) -> str:
    # A device or a pipe (/dev/zero) would be hashed forever: checked first.
    input_file(input_path, settings.inputs)
    job_id = jobs.new_job_id()
    with session_scope(settings) as s:
        s.add(Job(
            id=job_id, kind=kind, status=JobStatus.PENDING, input_name=str(input_path),
            input_sha256=sha256_file(input_path, max(settings.inputs.max_input_bytes,
                                                     settings.inputs.max_media_bytes)),
            output_path=str(out.expanduser().resolve()) if out else None,
            output_format=out.suffix.lower() if out else None, options=options.stored(), priority=priority,
        ))
    return job_id


#: Input suffixes read as plain scripts (one line per segment, no timing) in dub mode.
SCRIPT_FORMATS: tuple[str, ...] = (".txt",)


#: Job modes (``render --mode``).
MODES: tuple[str, ...] = ("dub", "audiobook")

#: Job kinds whose lines have slots on a timeline (subtitles, a video's dubs).
TIMED_KINDS: tuple[str, ...] = ("dub", "media")


def job_kind(input_path: Path, mode: str | None = None) -> str:
    """What a job is: ``"audiobook"`` (``--mode audiobook``, and EPUB/Markdown
    by default), ``"script"`` (a ``.txt`` in dub mode: a line per segment),
    ``"media"`` (a video or audio file, dubbed from ``--subs`` or its own
    speech) or ``"dub"`` (subtitles). Raises :class:`InputError` for a mode
    the input cannot take."""
    from orchestrator.inputs.books import BOOK_FORMATS
    from orchestrator.inputs.media import MEDIA_FORMATS

    ext = input_path.suffix.lower()
    if mode not in (None, *MODES):
        raise InputError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}", field="--mode")
    if ext in MEDIA_FORMATS:
        if mode == "audiobook":
            raise InputError("a video or audio file is dubbed (--mode dub), not read as a book",
                             file=input_path)
        return "media"
    if mode is None:
        mode = "audiobook" if ext in BOOK_FORMATS and ext not in SCRIPT_FORMATS else "dub"
    if mode == "audiobook":
        if ext not in BOOK_FORMATS:
            raise InputError(f"--mode audiobook reads {', '.join(BOOK_FORMATS)}, not {ext or 'this file'}",
                             file=input_path)
        return "audiobook"
    if ext in BOOK_FORMATS and ext not in SCRIPT_FORMATS:
        raise InputError(f"a {ext} book is rendered with --mode audiobook", file=input_path)
    return "script" if ext in SCRIPT_FORMATS else "dub"


def emotion_rules(options: RenderOptions) -> EmotionRules:
    """The job's emotion rules from its options. Raises :class:`InputError` naming the option."""
    from orchestrator.planning.markup import EmotionRules

    return EmotionRules.from_options(options.emotion, options.emotion_map, options.ignore_unknown_tags,
                                     options.strict_tags, options.brackets)


def _store_emotion_clips(settings: Settings, segments: list[Any], input_path: Path, sr: int,
                         clip_dir: str | None = None) -> list[Any]:
    """Read every ``[like:CLIP]`` clip (relative to ``clip_dir``, default the
    script's folder), store it under a content key, and return the segments
    with ``emotion`` set to ``like:<id>``. Raises :class:`InputError` naming
    the script line.

    A clip must be a regular file inside that folder once every symbolic link
    is resolved (not ``../../etc/passwd``, ``/proc/self/environ`` or a link
    out of it), of bounded size, and only its first ``inputs.like_clip_max_s``
    seconds are decoded (the analysis needs a few seconds of speech)."""

    from voicecast.audio import active_speech_seconds, to_wav_bytes
    from voicecast.media import decode_audio

    store = get_store(settings)
    folder = Path(clip_dir) if clip_dir else input_path.parent
    limits = settings.inputs
    ids: dict[Path, str] = {}
    out = []
    for seg in segments:
        if seg.emotion != "like":
            out.append(seg)
            continue
        line = seg.source_line or None
        clip = inside(Path(seg.clip or ""), folder)
        if clip is None:
            where = "--clip-dir" if clip_dir else "the input's folder"
            raise InputError(f"[like:{seg.clip}]: the clip must be inside {where} ({folder.resolve()}); "
                             "give a path relative to it (or name another folder with --clip-dir)",
                             file=input_path, line=line)
        if clip not in ids:
            try:
                regular_file(clip, what="clip", max_bytes=limits.max_reference_bytes,
                             setting=env_name("inputs", "max_reference_bytes"))
            except InputError as e:
                raise InputError(f"[like:{seg.clip}]: {e.message} ({clip})",
                                 file=input_path, line=line) from None
            try:
                audio = decode_audio(clip, sr, max_s=limits.like_clip_max_s)
            except Exception as e:
                raise InputError(f"[like:{seg.clip}]: not readable audio ({e})",
                                 file=input_path, line=line) from None
            if active_speech_seconds(audio, sr) < 0.5:
                raise InputError(f"[like:{seg.clip}]: the clip has less than 0.5 s of sound",
                                 file=input_path, line=line)
            data = to_wav_bytes(audio, sr)
            ids[clip] = hashlib.sha256(data).hexdigest()[:16]
            key = emotion_clip_key(ids[clip])
            if not store.exists(key):
                store.put_bytes(key, data, content_type="audio/wav")
        out.append(dataclasses.replace(seg, emotion=f"like:{ids[clip]}"))
    return out


def _speaker_languages(segments: list[Any], langs: dict[str, str]) -> tuple[list[Any], list[tuple[str, str]]]:
    """Each line of a character named in ``langs`` (``--lang NAME=TAG``) in that
    language, unless the line has a language of its own (a ``[lang:]`` tag);
    and the names with no line, to warn about."""
    if not langs:
        return segments, []
    by_name = {who.casefold(): tag for who, tag in langs.items()}
    said: set[str] = set()
    out = []
    for g in segments:
        tag = by_name.get((g.speaker or "").casefold())
        if tag is not None:
            said.add(g.speaker.casefold())
            if not g.language:
                g = dataclasses.replace(g, language=tag)
        out.append(g)
    return out, [(who, tag) for who, tag in langs.items() if who.casefold() not in said]


def _apply_lexicon(segments: list[Any], options: RenderOptions, phonemes: frozenset[str],
                   limits: InputSettings | None = None, source: str = "") -> tuple[list[Any], str | None]:
    """Respellings and phonemes of the job's lexicons put into every segment's
    text (before hashing: a changed entry changes only the segments that use it),
    each line with the entries of its language (the ``[lang:TAG]`` sections and
    the ``--lexicon TAG=FILE`` files). Each lexicon must be a regular file of
    bounded size, and its patterns run under ``limits.lexicon_timeout_s`` per
    line (the error names the entry and the input's line). The digest is that
    of all the entries, so a changed entry of any language is on record."""

    files = options.lexicon_files()
    if not files:
        return segments, None
    from voicecast.lexicon import LexiconTimeout, combine, load_lexicon

    limits = limits or InputSettings()
    loaded = []
    for path, lang in files:
        lex_path = Path(path).expanduser()
        regular_file(lex_path, what="lexicon", max_bytes=limits.max_text_bytes,
                     setting=env_name("inputs", "max_text_bytes"))
        loaded.append(load_lexicon(lex_path, timeout_s=limits.lexicon_timeout_s, language=lang))
    lex = combine(loaded)
    if phonemes:
        lex.check_phonemes(phonemes)
    out = []
    for g in segments:
        try:
            out.append(dataclasses.replace(g, text=lex.apply(g.text, g.language or None)))
        except LexiconTimeout as e:
            where = f" (on {source}:{g.source_line})" if source and g.source_line else ""
            raise InputError(f"{e.message}{where}", file=e.file, line=e.line) from None
    return out, lex.digest()


def _speakers(segments: list[Any]) -> dict[str, int]:
    """Every speaker named in a plan, as first written, with its first line."""
    out: dict[str, int] = {}
    seen: set[str] = set()
    for g in segments:
        if g.speaker and g.speaker.casefold() not in seen:
            seen.add(g.speaker.casefold())
            out[g.speaker] = g.source_line
    return out


def _store_cover(settings: Settings, data: bytes | None, mime: str | None) -> tuple[str | None, str | None]:
    """Store a cover under a content key; its key and MIME type (``(None, None)``: no cover)."""
    if not data:
        return None, None
    key = f"covers/{hashlib.sha256(data).hexdigest()[:16]}"
    store = get_store(settings)
    if not store.exists(key):
        store.put_bytes(key, data, content_type=mime or "application/octet-stream")
    return key, mime


def _m4b_cover_ok(data: bytes, mime: str | None) -> bool:
    """Whether the M4B writer takes this cover (its declared type, else its bytes)."""
    kind = (mime or "").lower().removeprefix("image/")
    if not kind:
        kind = "png" if data.startswith(b"\x89PNG") else "jpeg" if data.startswith(b"\xff\xd8") else ""
    return kind in ("jpg", "jpeg", "png")


#: Largest cover accepted (a 3000x3000 JPEG, the usual store maximum, is a few MB).
MAX_COVER_BYTES = 20 * 1024 * 1024


def _read_cover(path: str) -> tuple[bytes, str]:
    """A ``--cover`` file's bytes and MIME type, checked as render starts: a
    regular file of bounded size, a JPEG or PNG by name and by content, and
    decodable (:func:`check_cover_image`). Raises :class:`InputError` naming it."""
    p = Path(path).expanduser()
    mime = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}.get(p.suffix.lower())
    if mime is None:
        raise InputError("the cover must be a .jpg or .png image", file=p)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise InputError("the cover is not a regular file", file=p)
        if st.st_size > MAX_COVER_BYTES:
            raise InputError(f"the cover is {st.st_size / 2**20:.0f} MB; at most "
                             f"{MAX_COVER_BYTES // 2**20} MB", file=p)
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the cover ({e.strerror})", file=p) from None
    if not (data.startswith(b"\xff\xd8") or data.startswith(b"\x89PNG")):
        raise InputError("the cover is not a JPEG or PNG image", file=p)
    check_cover_image(data, p)
    return data, mime


def check_cover(path: str) -> None:
    """Check a ``--cover`` file as :func:`_read_cover` does (before any work starts)."""
    _read_cover(path)


def check_cover_image(data: bytes, source: Path | str) -> None:
    """Decode a cover with ffmpeg, as assembly will read it: bytes that only
    start like a JPEG or PNG fail here, before rendering, not after it.
    Raises :class:`InputError` naming ``source``."""
    from voicecast.media import run_tool

    proc = run_tool("ffmpeg", ["-nostdin", "-v", "error", "-xerror", "-i", "pipe:0", "-frames:v", "1",
                               "-f", "null", "-"], input_bytes=data)
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError("the cover is not a readable JPEG or PNG image"
                         + (f" ({why[-1].split('] ')[-1]})" if why else ""), file=source)


class _Planned(NamedTuple):
    segments: list[Any]
    warnings: list[str]
    duration: float
    #: Audiobooks: the book and its plan.
    book: tuple[Any, Any] | None = None
    #: Scripts: silence before the first line from a leading ``[pause:S]``.
    lead_s: float = 0.0
    #: Video and audio inputs: the input's facts and each dub.
    media: MediaPlan | None = None
    #: The language the input itself declares, as written (before ``--lang``;
    #: not for video and audio inputs, whose dubs have theirs).
    declared: str | None = None


def _plan(settings: Settings, kind: str, input_path: Path, options: RenderOptions,
          characters: list[str], dispatcher: Dispatcher, unfit: list[str] | None = None) -> _Planned:
    """Parse and plan any input; what the reader did to the text (decoding,
    repairs) leads the warnings."""
    from orchestrator.inputs import reader_warnings

    with reader_warnings() as found:
        planned = _parse_and_plan(settings, kind, input_path, options, characters, dispatcher, unfit)
    return planned._replace(warnings=[*found, *planned.warnings])


def _parse_and_plan(settings: Settings, kind: str, input_path: Path, options: RenderOptions,
                    characters: list[str], dispatcher: Dispatcher,
                    unfit: list[str] | None = None) -> _Planned:
    from orchestrator.inputs.subtitles import (
        declared_language_in,
        parse_subtitles_text,
        read_subtitles,
        read_text,
    )
    from orchestrator.planning.cues import plan_cues
    from orchestrator.planning.script import plan_script

    rules = emotion_rules(options)
    if kind == "media":
        from orchestrator.planning.media import plan_media

        mplan = plan_media(settings, input_path, options, rules, characters, dispatcher,
                           preview=unfit is not None, unfit=unfit)
        return _Planned(mplan.segments, mplan.warnings, mplan.info.duration_s, media=mplan)
    if kind == "audiobook":
        from orchestrator.inputs.books import ReadOptions, read_book
        from orchestrator.planning.prose import plan_book

        book = read_book(input_path, ReadOptions(front_matter=options.front_matter,
                                                 back_matter=options.back_matter, notes=options.notes,
                                                 limits=settings.inputs))
        declared = book.language
        if options.lang:  # --lang: the book is split into sentences and announced in that language
            book = dataclasses.replace(book, language=options.lang)
        if options.title or options.author:  # --title/--author: what the book is announced as, too

            book = dataclasses.replace(book, title=options.title or book.title,
                                       author=options.author or book.author)
        bplan = plan_book(book, source=str(input_path), settings=settings.book, emotions=rules,
                          characters=characters)
        # What the reader skipped (front matter, notes...), then what planning found.
        return _Planned(bplan.segments, [*book.warnings, *bplan.warnings], 0.0, (book, bplan),
                        declared=declared)
    if kind == "script":
        text = read_text(input_path)
        plan = plan_script(text, source=str(input_path), emotions=rules, characters=characters)
    else:
        text, fmt = read_subtitles(input_path)
        plan = plan_cues(parse_subtitles_text(text, fmt, str(input_path)), source=str(input_path),
                         track_end=options.duration, emotions=rules, characters=characters,
                         styles=options.styles)
    return _Planned(plan.segments, list(plan.warnings), plan.duration, None, plan.lead_s,
                    declared=declared_language_in(text, input_path))


def book_cover(book: Any, options: RenderOptions, input_path: Path) -> tuple[bytes | None, str | None]:
    """The audiobook's cover (``--cover``, else the book's own) and its MIME
    type; ``(None, None)``: none. Raises :class:`InputError` for one an M4B cannot carry."""
    if options.cover:
        return _read_cover(options.cover)
    cover, mime = book.cover, book.cover_type
    if cover and not _m4b_cover_ok(cover, mime):
        # An M4B carries a JPEG or PNG cover only: say so now, not after rendering.
        raise InputError(f"the book's cover is {mime or 'not an image'}, not JPEG or PNG; "
                         "give one with --cover IMAGE", file=input_path)
    if cover:
        try:
            check_cover_image(cover, input_path)
        except InputError:
            raise InputError("the book's cover image is damaged (ffmpeg cannot read it); give one "
                             "with --cover IMAGE", file=input_path) from None
    return cover, mime


def _book_outline(settings: Settings, book: Any, bplan: Any, options: RenderOptions,
                  narrator: str, input_path: Path) -> BookOutline:
    """What assembly needs to know of a book besides its segments (``Job.book``)."""
    cover, mime = book_cover(book, options, input_path)
    cover_key, cover_type = _store_cover(settings, cover, mime)
    return BookOutline(
        title=options.title or book.title, author=options.author or book.author,
        language=book.language, narrator=narrator, cover_key=cover_key, cover_type=cover_type,
        chapters=[ChapterOutline(title=c.title, first=c.first, count=c.count, lead_s=c.lead_s,
                                 source=c.source, line=c.line) for c in bplan.chapters],
    )


@dataclass(frozen=True)
class InputPlan:
    """An input parsed and planned, nothing stored: what :func:`plan_job`
    persists and ``voicecast plan`` prints (:func:`plan_input`).

    ``segments`` hold the text exactly as it will be spoken (lexicon applied);
    a ``[like:CLIP]`` line still names its clip (``emotion == "like"``): the
    clip is read and stored only when a job is planned. ``assigned`` maps each
    casefolded speaker to its entry in ``voice_map`` (casefolded).
    """

    kind: str
    segments: list[PlannedSegment]
    warnings: list[str]
    #: The track's length (subtitles, scripts); 0 for a book.
    duration: float
    voice_map: dict[str, str]
    assigned: dict[str, str]
    lexicon_sha256: str | None
    #: Scripts: silence before the first line from a leading ``[pause:S]``.
    lead_s: float = 0.0
    #: Audiobooks: the book and its plan (``BookPlan``: chapters).
    book: tuple[Book, BookPlan] | None = None
    #: Video and audio inputs: the input's facts and each dub.
    media: MediaPlan | None = None
    #: The language the input itself declares, as written (before ``--lang``;
    #: not for video and audio inputs, whose dubs have theirs).
    declared: str | None = None
    #: The job's language (BCP 47); each segment carries its own.
    language: str = "en"

    def voice_name(self, seg: PlannedSegment) -> str:
        """The voice-map entry that reads ``seg`` (``narrator``, a character's,
        or a later dub's narrator: :func:`~orchestrator.voices.track_narrator`)."""
        name = self.assigned[seg.speaker.casefold()] if seg.speaker else NARRATOR.casefold()
        return track_narrator(seg.track).casefold() if name == NARRATOR.casefold() else name


def plan_input(settings: Settings, input_path: Path, options: RenderOptions,
               dispatcher: Dispatcher, *, need_voices: bool = True, preview: bool = False) -> InputPlan:
    """Parse and plan an input of any kind with the job's options, storing
    nothing: the job kind, the segments (emotion rules and lexicon applied),
    each speaker's voice-map entry, and every warning.

    ``need_voices=False`` (``voicecast plan`` without ``--voice``): no narrator
    is required and speakers are not checked against the voice map (each is
    read by the narrator). ``preview=True`` (``voicecast plan``): a cue that
    cannot fit its slot is a warning listing every such cue, not an error.
    Raises the same user errors as a render otherwise, in the same
    order (the engine's facts are asked for only after parsing and planning,
    but for the languages it speaks when the job names one).
    """
    from orchestrator.planning.limits import check_plan

    kind = job_kind(input_path, options.mode)
    input_file(input_path, settings.inputs)
    vmap = parse_voice_map(list(options.voices)) if need_voices or options.voices else {NARRATOR: ""}
    # A character given a language (--lang NAME=TAG) is named too: their label is recognised.
    characters = [n for n in vmap if n != NARRATOR]
    characters += [n for n in options.speaker_langs if n.casefold() not in {c.casefold() for c in characters}]
    if kind != "media" and options.dubs:
        raise InputError("--subs and --timeline time a video or audio input; this input is the "
                         "timeline itself", field="--subs")
    # A language the engine does not speak is refused before anything is read (or transcribed).
    langs = [d.lang for d in options.dubs] or ([options.lang] if options.lang else [])
    if langs:
        check_spoken(dispatcher.facts(), [(x, "--lang") for x in langs])
    unfit: list[str] | None = [] if preview else None
    planned = _plan(settings, kind, input_path, options, characters, dispatcher, unfit)
    if planned.media is None:  # a media job's dubs were checked against their own subtitles
        check_plan(planned.segments, planned.duration, limits=settings.inputs,
                   hard_max=settings.fit.hard_max, source=str(input_path), timed=kind in TIMED_KINDS,
                   unfit=unfit)
    segments, warnings = planned.segments, planned.warnings
    if unfit:  # a preview lists the cues a render refuses, instead of stopping at the first
        shown = "; ".join(unfit[:5]) + (f"; and {len(unfit) - 5} more" if len(unfit) > 5 else "")
        warnings = [*warnings, f"{input_path}: {len(unfit)} cue(s) cannot fit their slot and a "
                               f"render refuses them: {shown}"]
    assigned, more = assign_voices(_speakers(segments), vmap, source=str(input_path),
                                   unmapped=options.unmapped if vmap[NARRATOR] else "narrator",
                                   explicit=kind == "audiobook" and bool(vmap[NARRATOR]))
    warnings = warnings + more
    if planned.media is not None:  # every later dub's narrator has its entry
        vmap = {**vmap, **{track_narrator(t.index): t.voice for t in planned.media.tracks[1:]}}
        language = planned.media.tracks[0].lang.tag
    else:
        language, said = _job_language(kind, input_path, options, planned)
        warnings = warnings + said
    # Each line in its language: its [lang:] tag's, its character's (--lang NAME=TAG), a media
    # job's dub's, else the job's.
    segments, unused = _speaker_languages(segments, options.speaker_langs)
    warnings = warnings + [f"--lang {who}={tag}: {input_path} has no line by {who}" for who, tag in unused]
    dub_langs = {t.index: t.lang.tag for t in planned.media.tracks} if planned.media is not None else {}
    segments = [g if g.language else dataclasses.replace(g, language=dub_langs.get(g.track, language))
                for g in segments]
    # The lines' other languages ([lang:] tags, characters', a declared one; those asked for are checked).
    others = sorted({g.language for g in segments} - set(langs))
    check_spoken(dispatcher.facts(), [(x, "--lang") for x in others])
    # The lexicon after the languages: each line gets the entries of its language's sections.
    segments, lex_digest = _apply_lexicon(segments, options, dispatcher.facts().phoneme_symbols,
                                          settings.inputs, str(input_path))
    return InputPlan(kind=kind, segments=segments, warnings=warnings, duration=planned.duration,
                     voice_map=vmap, assigned=assigned, lexicon_sha256=lex_digest,
                     lead_s=planned.lead_s, book=planned.book, media=planned.media, language=language)


def _job_language(kind: str, input_path: Path, options: RenderOptions,
                  planned: _Planned) -> tuple[str, list[str]]:
    """The job's language (BCP 47) and a warning when ``--lang`` overrides what
    the input says: ``--lang``, else the input's own (an EPUB's
    ``dc:language``, front matter or a ``Language:`` header of a book; a
    subtitle file's ``Language:`` header or ``NAME.es.srt``), else English."""
    from voicecast.languages import DEFAULT_LANGUAGE, declared_language

    said = planned.declared
    declared = declared_language(said)
    if options.lang:
        wanted = parse_language(options.lang)
        if declared is not None and declared.base != wanted.base:
            return wanted.tag, [f"{input_path}: it says it is in {declared.name} ({said}); it is spoken in "
                                f"{wanted.name} as --lang asks"]
        return wanted.tag, []
    return (declared.tag if declared is not None else DEFAULT_LANGUAGE), []


def check_spoken(facts: EngineFacts, asked: list[tuple[str, str]]) -> None:
    """Refuse a language (``(tag, field)`` pairs: the job's, a dub's, a
    character's, a line's) that is not one or that the engine does not speak,
    naming the field and the languages it speaks."""
    for tag, field in asked:
        said = unspoken(facts, parse_language(tag, field=field))
        if said:
            raise InputError(said, field=field)


def unspoken(facts: EngineFacts, lang: Language) -> str | None:
    """Why the engine of ``facts`` cannot speak ``lang`` (naming what it speaks),
    or None when it can (:func:`voicecast.languages.spoken_form`; an engine that
    declares no languages speaks whatever it is given)."""
    from voicecast.languages import spoken_form

    if not facts.languages or spoken_form(lang, facts.languages, facts.any_region) is not None:
        return None
    forms = [parse_language(t, field=None) for t in facts.languages]
    same = [f for f in forms if f.base == lang.base]
    if same:  # the language in another region only (pt-BR, not pt-PT)
        named = " and ".join(f"{f.name} ({f.tag})" for f in same)
        return f"the {facts.name} engine speaks only {named}, not {lang.name} ({lang.tag})"
    named = ", ".join(f"{f.name} ({f.tag})" for f in forms)
    return f"the {facts.name} engine does not speak {lang.name} ({lang.tag}); it speaks {named}"


def plan_job(settings: Settings, job_id: str, input_path: Path, dispatcher: Dispatcher,
             options: RenderOptions, on_progress: OnProgress | None = None) -> list[SegmentSpec]:
    """Parse, plan (:func:`plan_input`) and persist a job of any kind (subtitle
    track, plain script or book); return the specs to dispatch.

    ``options`` are the job's (see :class:`RenderOptions`): mode, voice map,
    emotion default and map, lexicon, what to do with unmapped characters, and
    book metadata overrides. Every user error is raised before any voice is
    enrolled or anything rendered, and marks the job failed.
    """
    from orchestrator.planning.segments import segment_hash

    with failing_job(settings, job_id):
        plan = plan_input(settings, input_path, options, dispatcher)
        kind, vmap, book = plan.kind, plan.voice_map, plan.book
        if plan.media is not None:
            plan = dataclasses.replace(plan, warnings=[*plan.warnings, *_check_media_output(
                settings, job_id, plan.media, options)])
        facts = dispatcher.facts()
        planned = _store_emotion_clips(settings, plan.segments, input_path, facts.sample_rate,
                                       options.clip_dir)
        outline = (_book_outline(settings, book[0], book[1], options, vmap[NARRATOR], input_path)
                   if book else None)
        voices = resolve_voice_map(settings, vmap, dispatcher, on_progress)
        narrator = voices[NARRATOR.casefold()]
        media = None
        if plan.media is not None:
            with session_scope(settings) as s:  # hashed when the job was made: not hashed again
                digest = jobs.get_job(s, job_id).input_sha256
            media = _media_outline(settings, plan.media, voices, options, digest)
        fit: dict[str, Any] = settings.fit.model_dump()
        if outline is not None:
            # Audiobook lines are levelled as they are rendered: the profile shapes their audio.
            level = {"rms_db": settings.book.speech_rms_db, "peak_db": settings.book.peak_db}
            outline = outline.model_copy(update={"level": Level(**level)})
            # The content hash's input, as a worker derives it from the spec.
            fit = hash_fit(fit, level["rms_db"], level["peak_db"])
        eng, eng_ver = facts.name, facts.version
        with STAGES.stage("sql"), session_scope(settings) as s:
            job = jobs.get_job(s, job_id)
            job.kind = kind
            job.voice_id = narrator.id
            job.duration_s = plan.duration
            job.warnings = [jobs.shown(w) for w in plan.warnings]
            job.book = outline.stored() if outline is not None else None
            job.media = media.stored() if media is not None else None
            job.options = options.model_copy(
                update={"lexicon_sha256": plan.lexicon_sha256, "lead_s": plan.lead_s, "lang": plan.language,
                        "engine": eng, "engine_version": eng_ver}).stored()
            rows = []
            for seg in planned:
                v = voices[plan.voice_name(seg)]
                rows.append(dict(
                    job_id=job_id, idx=seg.idx, text=seg.text, speaker=seg.speaker,
                    emotion=seg.emotion, intensity=seg.intensity, start_s=seg.start,
                    end_s=seg.end, max_end_s=seg.max_end, source_line=seg.source_line,
                    voice_id=v.id, chapter=seg.chapter if seg.chapter >= 0 else None,
                    pause_after_s=seg.pause_after or None, track=seg.track if seg.track >= 0 else None,
                    language=seg.language if seg.language not in ("", "en") else None,
                    content_hash=segment_hash(seg, voice_id=v.id, voice_version=v.version,
                                              engine=eng, engine_version=eng_ver, fit=fit),
                ))
            jobs.add_segments(s, rows)
            jobs.set_job_status(job, JobStatus.RENDERING)
        with STAGES.stage("sql"):
            return undone_specs(settings, job_id)


def _check_media_output(settings: Settings, job_id: str, mplan: MediaPlan,
                        options: RenderOptions) -> list[str]:
    """Refuse, before anything renders, an output the dubs cannot be written
    as: a container that cannot carry the source's picture, several dubs in an
    audio file. Returns what the container will not keep, as warnings."""
    from orchestrator.inputs.media import check_container

    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        out, fmt = job.output_path, job.output_format
    if out is None and fmt is None:
        return []
    path = Path(out) if out else Path("output" + (fmt or ""))
    if path.suffix.lower() in VIDEO_CONTAINERS:
        return check_container(path, mplan.info, keep_original=options.original == "keep")
    if len(mplan.tracks) > 1:
        raise OutputError(f"{len(mplan.tracks)} dubs need a container with a track for each: write "
                          + ", ".join(VIDEO_CONTAINERS), file=path)
    return []


def _store_media_file(settings: Settings, path: Path, digest: str | None = None) -> str:
    """Store a media file (the source, a bed) under a content key (its SHA-256,
    ``digest`` when already known), once: the assembler, wherever it runs,
    reads it from there."""
    store = get_store(settings)
    digest = digest or sha256_file(path) or ""
    if not digest:
        raise InputError("cannot be read", file=path)
    key = f"media/{digest[:32]}{path.suffix.lower()}"
    if not store.exists(key):
        with STAGES.stage("store"):
            store.put_file(key, path)
    return key


def _media_outline(settings: Settings, mplan: MediaPlan, voices: dict[str, Voice],
                   options: RenderOptions, source_sha256: str | None = None) -> MediaOutline:
    """What assembly needs of a media job (``Job.media``): the source and a
    bed stored, each dub's subtitles stored (to mux, or to hand back when
    transcribed), its language and voice."""
    from orchestrator.output.outline import DubTrackOutline, MediaOutline

    store = get_store(settings)
    info = mplan.info
    tracks = []
    for t in mplan.tracks:
        data = t.timeline.text.encode("utf-8")
        key = f"subtitles/{hashlib.sha256(data).hexdigest()[:32]}.{t.timeline.fmt}"
        if not store.exists(key):
            store.put_bytes(key, data, content_type="text/plain; charset=utf-8")
        tracks.append(DubTrackOutline(
            index=t.index, lang=t.lang.tag, voice=voices[track_narrator(t.index).casefold()].name,
            source=jobs.shown(t.timeline.source), origin=t.timeline.origin, subs_key=key,
            subs_format=t.timeline.fmt, first=t.first, count=t.count))
    return MediaOutline(
        source_key=_store_media_file(settings, info.path, source_sha256), source_name=info.path.name,
        duration_s=info.duration_s, fps=str(info.fps) if info.fps else None,
        audio_streams=len(info.audio), video_codecs=[v.codec for v in info.video], tracks=tracks,
        bed_key=_store_media_file(settings, Path(options.bed)) if options.mix == "bed" and options.bed
        else None)


def segment_spec(seg: Segment, voice: tuple[str, int], engine: tuple[str, str],
          level: Level | None = None) -> SegmentSpec:
    """A segment's message: everything its content hash covers but the worker's
    own fit settings, so the worker can recompute the hash (see
    :meth:`SegmentSpec.derive_hash`)."""
    return SegmentSpec(
        job_id=seg.job_id, idx=seg.idx, text=seg.text, voice_key=voice_profile_key(*voice),
        slot_s=round(seg.end_s - seg.start_s, 6), max_s=round(seg.max_end_s - seg.start_s, 6),
        content_hash=seg.content_hash, emotion=seg.emotion, intensity=seg.intensity,
        level_rms_db=level.rms_db if level else None,
        level_peak_db=level.peak_db if level else None,
        voice_id=voice[0], voice_version=voice[1],
        # The lengths as the hash counted them, from the same stored times.
        slot_ms=to_ms(seg.end_s - seg.start_s), borrow_ms=to_ms(seg.max_end_s - seg.start_s),
        engine=engine[0], engine_version=engine[1], language=seg.language or "en",
    )


def undone_specs(settings: Settings, job_id: str) -> list[SegmentSpec]:
    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        return specs_for(s, job, [g for g in job.segments if g.status != SegmentStatus.DONE])


def specs_for(s: Any, job: Job, segments: list[Segment]) -> list[SegmentSpec]:
    """The messages of some of a job's segments (one voice lookup per voice).
    Raises :class:`VoiceError` for a segment whose voice was removed."""
    keys: dict[str | None, tuple[str, int]] = {}
    outline = BookOutline.from_stored(job.book)
    level = outline.level if outline else None
    opts = RenderOptions.from_stored(job.options)
    engine = (opts.engine or "", opts.engine_version or "")
    out = []
    for seg in segments:
        vid = seg.voice_id or job.voice_id
        if vid not in keys:
            voice = s.get(Voice, vid) if vid else None
            if voice is None:
                raise VoiceError(f"segment {seg.idx + 1} has no voice profile (was its voice "
                                 "removed?); render the job again", field="voice")
            keys[vid] = (voice.id, voice.version)
        out.append(segment_spec(seg, keys[vid], engine, level))
    return out


def _record_stored(s: Any, store: ObjectStore, job: Job) -> bool:
    """Record as done (a storage hit) every unfinished segment whose audio and
    result are already stored: rendered by an earlier job with the same content
    hash, or by a worker whose report never arrived. True when that made the
    job ready to assemble.

    Batched, whatever the job's length: the results of earlier jobs come from
    SQL in one query per thousand hashes (:func:`jobs.done_results`), the
    store is asked once for the whole job which of the keys exist
    (:meth:`ObjectStore.existing`), only hashes SQL does not know have their
    stored result read, and the hits are recorded in one transaction.
    """
    undone = [g for g in job.segments if g.status != SegmentStatus.DONE]
    if not undone:
        return False
    hashes = sorted({g.content_hash for g in undone})
    known = jobs.done_results(s, hashes, exclude_job=job.id)
    unknown = [h for h in hashes if h not in known]
    present = store.existing([segment_audio_key(h) for h in hashes]
                             + [segment_result_key(h) for h in unknown])
    found: dict[str, SegmentResult] = {
        h: r for h, r in known.items() if segment_audio_key(h) in present}
    for h in unknown:
        if segment_audio_key(h) in present and segment_result_key(h) in present:
            read = read_result(store, h)
            if read is not None:
                found[h] = read
    hits = []
    for seg in undone:
        if seg.content_hash in found:
            if seg.status == SegmentStatus.FAILED:
                seg.status = check_segment(seg.status, SegmentStatus.QUEUED)
            hits.append(found[seg.content_hash].for_segment(job.id, seg.idx, hit=True))
    return jobs.record_results(s, job.id, hits, rows={g.idx: g for g in undone})


def dispatch(settings: Settings, job_id: str, specs: list[SegmentSpec], dispatcher: Dispatcher) -> None:
    """Queue the segments still to render. Those already in storage (an earlier
    render of the same content) are recorded as reused instead, so an edited
    book renders only what changed; if that leaves nothing, assembly starts.

    An embedded ``render`` (runner ``cli``) hands its job's specs to its own
    pool. Otherwise the segments stay pending and the scheduler releases them
    in windows, fairly across jobs (:mod:`orchestrator.schedule`)."""
    store = get_store(settings)
    runner = dispatcher.runner
    with STAGES.stage("check"), session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        job.runner = runner
        ready = _record_stored(s, store, job)
        done = {g.idx for g in job.segments if g.status == SegmentStatus.DONE}
        # Looked for in storage just now and not found: workers need not look again.
        specs = [dataclasses.replace(sp, unstored=True) for sp in specs if sp.idx not in done]
        if runner == "cli":
            jobs.mark_queued(s, job_id, [sp.idx for sp in specs])
        else:
            jobs.mark_pending(s, job_id, [sp.idx for sp in specs])
    if runner == "cli":
        if specs:
            dispatcher.submit(job_id, specs)
    elif specs:
        dispatcher.release()
    if ready:
        dispatcher.assemble(job_id)


def heal(settings: Settings, job_id: str, dispatcher: Dispatcher) -> str | None:
    """Send a stalled job's undone work again, as :func:`resume` does; called
    by the job driver when no message or task of the job is left anywhere (a
    lost queue). Returns what was done, or ``None`` for a job that is no longer
    rendering or assembling (done or failed meanwhile). Tasks are idempotent,
    so a duplicate of work that was in fact alive costs time, never output."""
    with session_scope(settings) as s:
        status = jobs.get_job(s, job_id).status
    if status not in (JobStatus.RENDERING, JobStatus.ASSEMBLING):
        return None
    return resume(settings, job_id, dispatcher, lost=True)


def resume(settings: Settings, job_id: str, dispatcher: Dispatcher, lost: bool = True) -> str:
    """Continue a job from its recorded state; returns what was done
    (``JobStatus.DONE`` when the job was done already).

    Segments whose result is already in storage are recorded as hits (a worker
    finished them but the orchestrator never heard); the rest are dispatched
    again, and assembly runs once everything is done.
    """
    store = get_store(settings)
    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        job_id = job.id
        if job.status == JobStatus.DONE:
            return JobStatus.DONE
        if job.status == JobStatus.CANCELLED:
            raise JobError("job was cancelled; render it again to start over", field="job")
        if job.status == JobStatus.PENDING or not job.segments:
            raise VoicecastError(
                "job was never planned (it failed before its segments were stored); "
                "render it again", field="job",
            )
        if job.status == JobStatus.ASSEMBLING:
            ready = True  # every segment is done: just assemble (again)
        else:
            if job.status != JobStatus.RENDERING:
                jobs.set_job_status(job, JobStatus.RENDERING)
            ready = _record_stored(s, store, job)
            ready = jobs.claim_assembly(s, job_id) or ready
    if ready:
        dispatcher.assemble(job_id)
        return "assembling"
    if lost and dispatcher.runner != "cli":
        # Queued messages that may be lost go back to the scheduler (a duplicate costs time, not output).
        from orchestrator.schedule import requeue_lost

        requeue_lost(settings, job_id)
    specs = undone_specs(settings, job_id)
    dispatch(settings, job_id, specs, dispatcher)
    return f"dispatched {len(specs)} segments"
