"""What a render is, step by step, independent of where the work runs.

create job -> parse -> plan -> voice profile -> persist segments -> dispatch ->
(record results) -> assemble -> deliver. Every user error on the way marks the
job failed with its reason before it reaches the CLI.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import select, update

from voicecast.errors import (
    InputError,
    OutputError,
    ReferenceAudioError,
    TransientError,
    VoicecastError,
    VoiceError,
)
from voicecast.settings import Settings
from voicecast.storage import (
    ObjectStore,
    emotion_clip_key,
    get_store,
    job_key,
    read_progress,
    reference_key,
    segment_audio_key,
    segment_result_key,
    voice_meta_key,
    voice_profile_key,
    voice_progress_key,
    voice_retired_key,
)
from workers.synth import SegmentSpec

from . import jobs
from .assembly import OUTPUT_FORMATS
from .db import session_scope
from .models import Job, Segment, Voice
from .states import JobStatus, SegmentStatus

log = logging.getLogger(__name__)

AUDIO_EXTS = {".wav", ".mp3", ".flac", ".m4a", ".aac", ".ogg", ".opus", ".webm", ".mp4", ".mkv",
              ".aiff", ".aif", ".wma", ".mov"}


#: Called while an enrollment runs with its latest progress record, or ``None``.
OnProgress = Callable[[dict[str, Any] | None], None]


class Dispatcher(Protocol):
    """Where work runs: a local process pool (embedded) or Celery queues."""

    def enroll(self, ref_key: str, voice_id: str, version: int,
               tick: Callable[[], None] | None = None) -> dict[str, Any]: ...
    def warm(self) -> None: ...
    def submit(self, job_id: str, specs: list[SegmentSpec]) -> None: ...
    def assemble(self, job_id: str) -> None: ...
    def drive(self, job_id: str, tick: Callable[[], None]) -> None: ...


def check_output_path(out: Path, kind: str = "dub") -> None:
    if kind == "audiobook":
        if out.suffix.lower() != ".m4b":
            raise OutputError("an audiobook is written as an .m4b file (chapter MP3s and "
                              "masters go beside it)", file=out)
    elif out.suffix.lower() not in OUTPUT_FORMATS:
        raise OutputError(
            f"unsupported output format {out.suffix or '(none)'!r}; use one of "
            + ", ".join(sorted(OUTPUT_FORMATS)) + " (.m4b: audiobooks, --mode audiobook)", file=out,
        )
    parent = out.expanduser().resolve().parent
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} does not exist", file=out)
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output folder {parent} is not writable", file=out)


def _sha256_file(path: Path) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None


def create_job(settings: Settings, input_path: Path, out: Path | None, options: dict[str, Any],
               kind: str = "dub") -> str:
    job_id = jobs.new_job_id()
    with session_scope(settings) as s:
        s.add(Job(
            id=job_id, kind=kind, status=JobStatus.PENDING, input_name=str(input_path),
            input_sha256=_sha256_file(input_path),
            output_path=str(out.expanduser().resolve()) if out else None,
            output_format=out.suffix.lower() if out else None, options=options,
        ))
    return job_id


@contextmanager
def failing_job(settings: Settings, job_id: str) -> Iterator[None]:
    """Mark the job failed with the reason of any error raised inside."""
    try:
        yield
    except VoicecastError as e:
        with session_scope(settings) as s:
            jobs.fail_job(s, job_id, str(e))
        raise
    except TransientError:
        raise  # retried by the task; `resume` picks the job up if retries run out
    except Exception as e:
        with session_scope(settings) as s:
            jobs.fail_job(s, job_id, f"internal error: {type(e).__name__}: {e}")
        raise


def resolve_voice(settings: Settings, voice: str, dispatcher: Dispatcher,
                  on_progress: OnProgress | None = None) -> Voice:
    """A stored voice by name, one of the engine's own voices (``jf_alpha`` or
    ``kokoro:jf_alpha``), or a profile made on the fly from a reference clip
    (cached by the clip's hash, so the same clip is enrolled once)."""
    path = Path(voice).expanduser()
    if _looks_like_path(voice):
        return _voice_from_reference(settings, path, dispatcher, on_progress)
    with session_scope(settings) as s:
        found = s.scalars(select(Voice).where(Voice.name == voice)).one_or_none()
        if found is not None:
            return found
    builtin = _builtin_voice(settings, voice)
    if builtin is not None:
        return builtin
    with session_scope(settings) as s:
        names = s.scalars(select(Voice.name).where(~Voice.id.startswith("builtin-"))
                          .order_by(Voice.name)).all()
    raise VoiceError(
        f"unknown voice {voice!r}; enrolled voices: {', '.join(names) or 'none'}; "
        f"built-in voices: {', '.join(_builtin_names(settings)) or 'none'} "
        "(or give the path of a reference recording)", field="--voice",
    )


def _builtin_names(settings: Settings) -> list[str]:
    from workers.engines import get_engine
    from workers.voices import builtin_voices

    return builtin_voices(get_engine(settings.engine.name, settings.engine))


def _builtin_voice(settings: Settings, name: str) -> Voice | None:
    """The row of an engine's own voice, stored on first use like an enrolled one."""
    from workers.engines import get_engine
    from workers.voices import builtin_profile

    eng_name = settings.engine.name
    bare = name.split(":", 1)[1] if name.startswith(f"{eng_name}:") else name
    engine = get_engine(eng_name, settings.engine)
    store = get_store(settings)
    profile = builtin_profile(engine, bare, store)
    if profile is None:
        return None
    voice_id = f"builtin-{eng_name}-{bare}"[:64]
    key = voice_profile_key(voice_id, 1)
    data = profile.to_bytes()
    if not store.exists(key):
        store.put_bytes(key, data)
    with session_scope(settings) as s:
        v = s.get(Voice, voice_id)
        if v is None:
            v = s.merge(Voice(
                id=voice_id, name=f"{eng_name}:{bare}", version=1, engine=eng_name,
                profile_key=key, source_sha256=hashlib.sha256(data).hexdigest(),
                meta={"method": f"builtin:{bare}", "engine_version": engine.version},
            ))
        return v


#: The voice-map name of the default voice (``--voice narrator=NAME``, or ``--voice NAME``).
NARRATOR = "narrator"


def parse_voice_map(items: list[str]) -> dict[str, str]:
    """``--voice`` values into ``{name: voice}``: ``NAME=VOICE`` maps a character
    (or an ASS actor, a WebVTT ``<v Name>``, a ``NAME:`` label); a bare ``VOICE``
    or ``narrator=VOICE`` is the narrator, the voice of every other line. Names
    are kept as written and matched case-insensitively."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or _looks_like_path(item):
            name, value = NARRATOR, item
        name, value = name.strip(), value.strip()
        if not name or not value:
            raise InputError(f"{item!r} is not VOICE or NAME=VOICE", field="--voice")
        key = name.casefold()
        if key in seen:
            raise InputError(f"{name!r} is given two voices ({seen[key]!r} and {value!r})",
                             field="--voice")
        seen[key] = value
        out[NARRATOR if key == NARRATOR else name] = value
    if NARRATOR not in out:
        raise InputError("no narrator voice: give --voice VOICE (or --voice narrator=VOICE) "
                         "for the lines no character speaks", field="--voice")
    return out


def resolve_voice_map(settings: Settings, voice_map: dict[str, str], dispatcher: Dispatcher,
                      on_progress: OnProgress | None = None) -> dict[str, Voice]:
    """Every voice of the map, by casefolded name (the same voice is resolved once)."""
    found: dict[str, Voice] = {}
    out: dict[str, Voice] = {}
    for name, voice in voice_map.items():
        if voice not in found:
            try:
                found[voice] = resolve_voice(settings, voice, dispatcher, on_progress)
            except VoicecastError as e:
                if name == NARRATOR:
                    raise
                raise type(e)(f"character {name!r}: {e.message}", file=e.file, line=e.line,
                              field=e.field) from None
        out[name.casefold()] = found[voice]
    return out


def assign_voices(speakers: dict[str, int], voice_map: dict[str, str], *, source: str,
                  unmapped: str = "error", explicit: bool = True) -> tuple[dict[str, str], list[str]]:
    """Each speaker's entry in the voice map (casefolded speaker -> casefolded
    map name): its own, or the narrator's.

    An unmapped speaker is an :class:`InputError` listing every unmapped one
    with its first line, unless ``unmapped == "narrator"`` (then a warning).
    When only the narrator is mapped and ``explicit`` is false (a subtitle
    file's actor names, a script's labels), everyone is the narrator without
    complaint: speaker names there are incidental, not a request for voices.
    """
    if unmapped not in ("error", "narrator"):
        raise InputError(f"--unmapped is error or narrator, not {unmapped!r}", field="--unmapped")
    mapped = {n.casefold() for n in voice_map}
    out: dict[str, str] = {}
    missing: list[tuple[str, int]] = []
    for name, line in speakers.items():
        key = name.casefold()
        if key in mapped and key != NARRATOR:
            out[key] = key
        else:
            out[key] = NARRATOR
            if key != NARRATOR:
                missing.append((name, line))
    warnings: list[str] = []
    if missing and (explicit or len(voice_map) > 1):
        listed = ", ".join(f"{n} (line {ln})" if ln else n for n, ln in missing)
        if unmapped != "narrator":
            raise InputError(
                f"no voice for character(s): {listed}; map each with --voice NAME=VOICE, "
                "or read them in the narrator's voice with --unmapped narrator", file=source,
            )
        warnings.append(f"{source}: read in the narrator's voice (no voice mapped): {listed}")
    return out, warnings


def _looks_like_path(voice: str) -> bool:
    path = Path(voice).expanduser()
    return path.suffix.lower() in AUDIO_EXTS or os.sep in voice or path.exists()


def _voice_from_reference(settings: Settings, path: Path, dispatcher: Dispatcher,
                          on_progress: OnProgress | None = None) -> Voice:
    from workers.audio import to_wav_bytes
    from workers.reference import load_reference

    store = get_store(settings)
    sha = _sha256_file(path)
    if sha is not None:  # a clip enrolled before was checked then: no need to decode it again
        with session_scope(settings) as s:
            existing = s.get(Voice, f"ref-{sha[:16]}")
            if existing is not None and store.exists(existing.profile_key):
                return existing
    ref = load_reference(path)
    voice_id = f"ref-{ref.sha256[:16]}"
    key = reference_key(ref.sha256)
    if not store.exists(key):
        store.put_bytes(key, to_wav_bytes(ref.audio, ref.sample_rate), content_type="audio/wav")
    meta = _enroll(store, dispatcher, key, voice_id, 1, on_progress)
    if "error" in meta:
        raise ReferenceAudioError(meta["error"], file=path)
    with session_scope(settings) as s:
        v = s.get(Voice, voice_id) or Voice(id=voice_id, name=voice_id)
        v.version = 1
        v.engine = meta["engine"]
        v.profile_key = meta["profile_key"]
        v.source_sha256 = ref.sha256
        v.meta = {k: meta[k] for k in ("method", "similarity", "ranking", "engine_version")}
        v.meta["reference"] = {"file": path.name, "speech_s": round(ref.speech_s, 2),
                               "peak_db": round(ref.peak_db, 1), "rms_db": round(ref.rms_db, 1)}
        return s.merge(v)


def _enroll(store: ObjectStore, dispatcher: Dispatcher, ref_key: str, voice_id: str, version: int,
            on_progress: OnProgress | None) -> dict[str, Any]:
    """Run the enrollment task; while it runs, hand its latest progress record
    (``{done, total, note, t}`` or ``None`` before the first) to ``on_progress``."""
    pkey = voice_progress_key(voice_id, version)
    tick = (lambda: on_progress(read_progress(store, pkey))) if on_progress else None
    try:
        return dispatcher.enroll(ref_key, voice_id, version, tick)
    finally:
        store.delete(pkey)


# --------------------------------------------------------------------------- named voices

#: Longest voice name (the column is 200 characters).
MAX_NAME = 100


def voice_id_for(name: str) -> str:
    """Stable id of a named voice: ``v-<slug>-<10 hex of the name's SHA-256>`` (<= 64 chars)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-") or "voice"
    return f"v-{slug}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def check_voice_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise VoiceError("a voice name must not be empty", field="NAME")
    if len(name) > MAX_NAME:
        raise VoiceError(f"a voice name has at most {MAX_NAME} characters", field="NAME")
    if _looks_like_path(name) or name.startswith("ref-"):
        raise VoiceError(f"{name!r} cannot name a voice: it reads as a file path (or is reserved "
                         "for voices made from a clip on the fly)", field="NAME")
    return name


def _find_voice(s: Any, name: str) -> Voice:
    found = s.scalars(select(Voice).where(Voice.name == name)).one_or_none()
    if found is None:
        names = s.scalars(select(Voice.name).order_by(Voice.name)).all()
        raise VoiceError(f"unknown voice {name!r}; enrolled voices: {', '.join(names) or 'none'}",
                         field="NAME")
    return cast(Voice, found)


def _iso(t: datetime | None) -> str | None:
    """UTC ISO time to the second (SQLite returns naive datetimes: they are UTC)."""
    return t.replace(tzinfo=t.tzinfo or UTC).isoformat(timespec="seconds") if t else None


def voice_info(v: Voice) -> dict[str, Any]:
    """Everything stored about a voice, JSON-ready."""
    return {
        "name": v.name, "id": v.id, "version": v.version, "engine": v.engine,
        "profile_key": v.profile_key, "source_sha256": v.source_sha256, "consent": v.consent,
        "created_at": _iso(v.created_at), **(v.meta or {}),
    }


def add_voice(settings: Settings, name: str, refs: list[Path], consent: str, dispatcher: Dispatcher,
              on_progress: OnProgress | None = None) -> dict[str, Any]:
    """Check the reference clips, enroll them as a queued task, and store the voice.

    Adding an existing name enrolls it again under the next version (which
    changes every segment hash made with it). Nothing is stored when a check
    or the enrollment fails.
    """
    from workers.audio import to_wav_bytes
    from workers.reference import load_references

    name = check_voice_name(name)
    consent = (consent or "").strip()
    if not consent:
        raise VoiceError("consent text is required: say who agreed to have this voice cloned, "
                         "and for what", field="--consent")
    consent_at = _iso(datetime.now(UTC))
    t0 = time.perf_counter()
    ref = load_references(refs)
    check_s = time.perf_counter() - t0
    voice_id = voice_id_for(name)
    store = get_store(settings)
    with session_scope(settings) as s:
        current = s.scalars(select(Voice).where(Voice.name == name)).one_or_none()
        if current is not None and current.id != voice_id:
            voice_id = current.id  # keep the id it was first stored under
        version = current.version + 1 if current is not None else _retired_version(store, voice_id) + 1
    key = reference_key(ref.sha256)
    if not store.exists(key):
        store.put_bytes(key, to_wav_bytes(ref.audio, ref.sample_rate), content_type="audio/wav")
    t1 = time.perf_counter()
    meta = _enroll(store, dispatcher, key, voice_id, version, on_progress)
    if "error" in meta:
        raise ReferenceAudioError(meta["error"], file=", ".join(str(p) for p in refs))
    enroll_wall_s = time.perf_counter() - t1
    enrollment = {k: v for k, v in meta.items()
                  if k not in ("voice_id", "version", "profile_key", "engine", "cached")}
    with session_scope(settings) as s:
        v = s.get(Voice, voice_id) or Voice(id=voice_id, name=name)
        v.version = version
        v.engine = meta["engine"]
        v.profile_key = meta["profile_key"]
        v.source_sha256 = ref.sha256
        v.consent = consent
        v.meta = {
            "method": meta.get("method"), "similarity": meta.get("similarity"),
            "engine_version": meta.get("engine_version"), "speech_s": round(ref.speech_s, 2),
            "consent_at": consent_at, "enrolled_at": _iso(datetime.now(UTC)),
            "reference": {"sha256": ref.sha256, "speech_s": round(ref.speech_s, 2),
                          "duration_s": round(ref.duration_s, 2), "key": key,
                          "clips": [c.as_dict() for c in ref.clips]},
            "enrollment": enrollment,
            "timings": {"check_s": round(check_s, 2), "enroll_wall_s": round(enroll_wall_s, 2)},
        }
        v = s.merge(v)
        s.flush()  # fills created_at
        return voice_info(v)


def list_voices(settings: Settings) -> list[dict[str, Any]]:
    with session_scope(settings) as s:
        return [voice_info(v) for v in s.scalars(select(Voice).order_by(Voice.name))]


def show_voice(settings: Settings, name: str) -> dict[str, Any]:
    with session_scope(settings) as s:
        return voice_info(_find_voice(s, name))


def remove_voice(settings: Settings, name: str) -> dict[str, Any]:
    """Delete a voice's row and its profile objects (every version).

    Jobs that used it keep their segments and output but lose the link (they
    can no longer be resumed). The last version number is kept in storage, so a
    voice added again under this name starts after it and never reuses a
    segment rendered with the removed one.
    """
    store = get_store(settings)
    with session_scope(settings) as s:
        v = _find_voice(s, name)
        info = voice_info(v)
        users = select(Segment.job_id).where(Segment.voice_id == v.id).distinct()
        s.execute(update(Job).where((Job.voice_id == v.id) | Job.id.in_(users)).values(voice_id=None))
        s.execute(update(Segment).where(Segment.voice_id == v.id).values(voice_id=None))
        s.delete(v)
    vid, last = info["id"], int(info["version"])
    for n in range(1, last + 1):
        for key in (voice_profile_key(vid, n), voice_meta_key(vid, n), voice_progress_key(vid, n)):
            store.delete(key)
    store.put_bytes(voice_retired_key(vid), json.dumps({"version": last}).encode(),
                    content_type="application/json")
    return info


def _retired_version(store: ObjectStore, voice_id: str) -> int:
    key = voice_retired_key(voice_id)
    if not store.exists(key):
        return 0
    return int(json.loads(store.get_bytes(key)).get("version", 0))


def engine_version(settings: Settings) -> str:
    from workers.engines import engine_version as ev

    return ev(settings.engine.name)


#: Input suffixes read as plain scripts (one line per segment, no timing) in dub mode.
SCRIPT_FORMATS: tuple[str, ...] = (".txt",)
#: Job modes (``render --mode``).
MODES: tuple[str, ...] = ("dub", "audiobook")


def job_kind(input_path: Path, mode: str | None = None) -> str:
    """What a job is: ``"audiobook"`` (``--mode audiobook``, and EPUB/Markdown
    by default), ``"script"`` (a ``.txt`` in dub mode: a line per segment) or
    ``"dub"`` (subtitles). Raises :class:`InputError` for a mode the input
    cannot take."""
    from .books import BOOK_FORMATS

    ext = input_path.suffix.lower()
    if mode not in (None, *MODES):
        raise InputError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}", field="--mode")
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


def emotion_rules(options: dict[str, Any]) -> Any:
    """The job's :class:`~orchestrator.planner.EmotionRules` from its stored options."""
    from .planner import EmotionRules

    return EmotionRules.from_options(options.get("emotion"), options.get("emotion_map") or (),
                                     bool(options.get("ignore_unknown_tags")))


def _store_emotion_clips(settings: Settings, segments: list[Any], input_path: Path) -> list[Any]:
    """Read every ``[like:CLIP]`` clip (relative to the script's folder), store it
    under a content key, and return the segments with ``emotion`` set to
    ``like:<id>``. Raises :class:`InputError` naming the script line."""
    import dataclasses

    from voicecast.media import decode_audio
    from workers.audio import active_speech_seconds, to_wav_bytes
    from workers.engines import engine_sample_rate

    store = get_store(settings)
    sr = engine_sample_rate(settings.engine.name)
    ids: dict[Path, str] = {}
    out = []
    for seg in segments:
        if seg.emotion != "like":
            out.append(seg)
            continue
        clip = (input_path.parent / Path(seg.clip or "").expanduser()).resolve()
        if clip not in ids:
            if not clip.is_file():
                raise InputError(f"[like:{seg.clip}]: clip not found ({clip})",
                                 file=input_path, line=seg.source_line or None)
            try:
                audio = decode_audio(clip, sr)
            except Exception as e:
                raise InputError(f"[like:{seg.clip}]: not readable audio ({e})",
                                 file=input_path, line=seg.source_line or None) from None
            if active_speech_seconds(audio, sr) < 0.5:
                raise InputError(f"[like:{seg.clip}]: the clip has less than 0.5 s of sound",
                                 file=input_path, line=seg.source_line or None)
            data = to_wav_bytes(audio, sr)
            ids[clip] = hashlib.sha256(data).hexdigest()[:16]
            key = emotion_clip_key(ids[clip])
            if not store.exists(key):
                store.put_bytes(key, data, content_type="audio/wav")
        out.append(dataclasses.replace(seg, emotion=f"like:{ids[clip]}"))
    return out


def _apply_lexicon(settings: Settings, segments: list[Any], path: str | None) -> tuple[list[Any], str | None]:
    """Respellings and phonemes of the job's lexicon put into every segment's
    text (before hashing: a changed entry changes only the segments that use it)."""
    import dataclasses

    if not path:
        return segments, None
    from voicecast.lexicon import load_lexicon

    lex = load_lexicon(Path(path).expanduser())
    _check_lexicon_phonemes(settings, lex)
    return [dataclasses.replace(g, text=lex.apply(g.text)) for g in segments], lex.digest()


def _check_lexicon_phonemes(settings: Settings, lex: Any) -> None:
    from workers.engines import get_engine

    allowed = getattr(get_engine(settings.engine.name, settings.engine), "phoneme_symbols", None)
    if callable(allowed) and hasattr(lex, "check_phonemes"):
        lex.check_phonemes(allowed())


def _speakers(segments: list[Any]) -> dict[str, int]:
    """Every speaker named in a plan, as first written, with its first line."""
    out: dict[str, int] = {}
    seen: set[str] = set()
    for g in segments:
        if g.speaker and g.speaker.casefold() not in seen:
            seen.add(g.speaker.casefold())
            out[g.speaker] = g.source_line
    return out


def _store_cover(settings: Settings, data: bytes | None, mime: str | None) -> dict[str, Any]:
    if not data:
        return {}
    key = f"covers/{hashlib.sha256(data).hexdigest()[:16]}"
    store = get_store(settings)
    if not store.exists(key):
        store.put_bytes(key, data, content_type=mime or "application/octet-stream")
    return {"cover_key": key, "cover_type": mime}


def _read_cover(path: str) -> tuple[bytes, str]:
    p = Path(path).expanduser()
    mime = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}.get(p.suffix.lower())
    if mime is None:
        raise InputError("the cover must be a .jpg or .png image", file=p)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the cover ({e.strerror})", file=p) from None
    if not (data.startswith(b"\xff\xd8") or data.startswith(b"\x89PNG")):
        raise InputError("the cover is not a JPEG or PNG image", file=p)
    return data, mime


class _Planned(NamedTuple):
    segments: list[Any]
    warnings: list[str]
    duration: float
    #: Audiobooks: the book and its plan.
    book: tuple[Any, Any] | None = None
    #: Scripts: silence before the first line from a leading ``[pause:S]``.
    lead_s: float = 0.0


def _plan(settings: Settings, kind: str, input_path: Path, options: dict[str, Any],
          characters: list[str], duration: float | None) -> _Planned:
    """Parse and plan any input."""
    from .planner import plan_cues, plan_script
    from .subtitles import parse_subtitles, read_text

    rules = emotion_rules(options)
    if kind == "audiobook":
        from .books import read_book
        from .prose import plan_book

        book = read_book(input_path)
        bplan = plan_book(book, source=str(input_path), settings=settings.book, emotions=rules,
                          characters=characters)
        return _Planned(bplan.segments, list(bplan.warnings), 0.0, (book, bplan))
    if kind == "script":
        plan = plan_script(read_text(input_path), source=str(input_path), emotions=rules,
                           characters=characters)
    else:
        plan = plan_cues(parse_subtitles(input_path), source=str(input_path), track_end=duration,
                         emotions=rules, characters=characters)
    return _Planned(plan.segments, list(plan.warnings), plan.duration, None, plan.lead_s)


def _book_outline(settings: Settings, book: Any, bplan: Any, options: dict[str, Any],
                  narrator: str) -> dict[str, Any]:
    """What assembly needs to know of a book besides its segments (``Job.book``)."""
    cover, mime = (_read_cover(options["cover"]) if options.get("cover")
                   else (book.cover, book.cover_type))
    return {
        "title": options.get("title") or book.title,
        "author": options.get("author") or book.author,
        "language": book.language,
        "narrator": narrator,
        **_store_cover(settings, cover, mime),
        "chapters": [{"title": c.title, "first": c.first, "count": c.count, "lead_s": c.lead_s,
                      "source": c.source, "line": c.line} for c in bplan.chapters],
    }


def prepare_dub(settings: Settings, job_id: str, input_path: Path, voice: str,
                dispatcher: Dispatcher, duration: float | None = None,
                on_progress: OnProgress | None = None,
                options: dict[str, Any] | None = None) -> list[SegmentSpec]:
    """Parse, plan and persist a job (subtitle file, plain script or book);
    return the specs to dispatch.

    ``options`` are the job's: mode, voice map (``voices``: ``--voice`` values;
    ``voice`` is used when it has none), emotion default and map, lexicon,
    what to do with unmapped characters, and book metadata overrides. Every
    user error is raised before any voice is enrolled or anything rendered.
    """
    from workers.fitting import FitPolicy

    from .planner import segment_hash

    options = options or {}
    with failing_job(settings, job_id):
        kind = job_kind(input_path, options.get("mode"))
        vmap = parse_voice_map(list(options.get("voices") or [voice]))
        characters = [n for n in vmap if n != NARRATOR]
        planned_input = _plan(settings, kind, input_path, options, characters, duration)
        segments, warnings, total, book = planned_input[:4]
        assigned, more = assign_voices(_speakers(segments), vmap, source=str(input_path),
                                       unmapped=options.get("unmapped") or "error",
                                       explicit=kind == "audiobook")
        warnings += more
        segments, lex_digest = _apply_lexicon(settings, segments, options.get("lexicon"))
        planned = _store_emotion_clips(settings, segments, input_path)
        outline = _book_outline(settings, book[0], book[1], options, vmap[NARRATOR]) if book else None
        voices = resolve_voice_map(settings, vmap, dispatcher, on_progress)
        narrator = voices[NARRATOR.casefold()]
        fit = FitPolicy.from_settings(settings.fit).as_dict()
        if outline is not None:
            # Audiobook lines are levelled as they are rendered: the profile shapes their audio.
            outline["level"] = {"rms_db": settings.book.speech_rms_db, "peak_db": settings.book.peak_db}
            fit = {**fit, "level": outline["level"]}
        eng, eng_ver = settings.engine.name, engine_version(settings)
        with session_scope(settings) as s:
            job = jobs.get_job(s, job_id)
            job.kind = kind
            job.voice_id = narrator.id
            job.duration_s = total
            job.warnings = warnings
            job.book = outline
            if lex_digest or planned_input.lead_s:
                job.options = {**job.options, "lexicon_sha256": lex_digest,
                               "lead_s": planned_input.lead_s}
            for seg in planned:
                v = voices[assigned[seg.speaker.casefold()]] if seg.speaker else narrator
                s.add(Segment(
                    job_id=job_id, idx=seg.idx, text=seg.text, speaker=seg.speaker,
                    emotion=seg.emotion, intensity=seg.intensity, start_s=seg.start,
                    end_s=seg.end, max_end_s=seg.max_end, source_line=seg.source_line,
                    voice_id=v.id, chapter=seg.chapter if seg.chapter >= 0 else None,
                    pause_after_s=seg.pause_after or None,
                    content_hash=segment_hash(seg, voice_id=v.id, voice_version=v.version,
                                              engine=eng, engine_version=eng_ver, fit=fit),
                ))
            jobs.set_job_status(job, JobStatus.RENDERING)
        return undone_specs(settings, job_id)


def _spec(seg: Segment, voice_key: str, level: dict[str, float] | None = None) -> SegmentSpec:
    return SegmentSpec(
        job_id=seg.job_id, idx=seg.idx, text=seg.text, voice_key=voice_key,
        slot_s=round(seg.end_s - seg.start_s, 6), max_s=round(seg.max_end_s - seg.start_s, 6),
        content_hash=seg.content_hash, emotion=seg.emotion, intensity=seg.intensity,
        level_rms_db=level["rms_db"] if level else None,
        level_peak_db=level["peak_db"] if level else None,
    )


def undone_specs(settings: Settings, job_id: str) -> list[SegmentSpec]:
    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        keys: dict[str | None, str] = {}
        out = []
        for seg in job.segments:
            if seg.status == SegmentStatus.DONE:
                continue
            vid = seg.voice_id or job.voice_id
            if vid not in keys:
                voice = s.get(Voice, vid) if vid else None
                if voice is None:
                    raise VoiceError(f"segment {seg.idx + 1} has no voice profile (was its voice "
                                     "removed?); render the job again", field="voice")
                keys[vid] = voice_profile_key(voice.id, voice.version)
            out.append(_spec(seg, keys[vid], (job.book or {}).get("level")))
        return out


def _record_stored(s: Any, store: ObjectStore, job: Job) -> bool:
    """Record as done (a storage hit) every unfinished segment whose audio and
    result are already stored: rendered by an earlier job with the same content
    hash, or by a worker whose report never arrived. True when that made the
    job ready to assemble."""
    ready = False
    for seg in job.segments:
        if seg.status == SegmentStatus.DONE:
            continue
        rkey = segment_result_key(seg.content_hash)
        if store.exists(rkey) and store.exists(segment_audio_key(seg.content_hash)):
            rec = json.loads(store.get_bytes(rkey))
            rec.update(job_id=job.id, idx=seg.idx, hit=True)
            if seg.status == SegmentStatus.FAILED:
                seg.status = SegmentStatus.QUEUED
            ready = jobs.record_result(s, rec) or ready
    return ready


def dispatch(settings: Settings, job_id: str, specs: list[SegmentSpec], dispatcher: Dispatcher) -> None:
    """Queue the segments still to render. Those already in storage (an earlier
    render of the same content) are recorded as reused instead, so an edited
    book renders only what changed; if that leaves nothing, assembly starts."""
    store = get_store(settings)
    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        ready = _record_stored(s, store, job)
        done = {g.idx for g in job.segments if g.status == SegmentStatus.DONE}
        specs = [sp for sp in specs if sp.idx not in done]
        jobs.mark_queued(s, job_id, [sp.idx for sp in specs])
    if specs:
        dispatcher.submit(job_id, specs)
    if ready:
        dispatcher.assemble(job_id)


def resume(settings: Settings, job_id: str, dispatcher: Dispatcher) -> str:
    """Continue a job from its recorded state; returns what was done.

    Segments whose result is already in storage are recorded as hits (a worker
    finished them but the orchestrator never heard); the rest are dispatched
    again, and assembly runs once everything is done.
    """
    store = get_store(settings)
    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        job_id = job.id
        if job.status == JobStatus.DONE:
            return "done"
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
    specs = undone_specs(settings, job_id)
    dispatch(settings, job_id, specs, dispatcher)
    return f"dispatched {len(specs)} segments"


def assemble(settings: Settings, job_id: str) -> None:
    """Build, normalise, encode and publish a job's output (the ``assemble`` task body)."""
    from workers.engines import engine_sample_rate

    from . import assembly

    store = get_store(settings)
    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        if job.status == JobStatus.DONE:
            return
        if job.status != JobStatus.ASSEMBLING:
            raise VoicecastError(f"job {job_id} is {job.status}, not ready to assemble", field="job")
        segs = list(job.segments)
        voice = s.get(Voice, job.voice_id) if job.voice_id else None
        others = sorted({v.name for v in (s.get(Voice, vid) for vid in {g.voice_id for g in segs}
                                           if vid and vid != job.voice_id) if v is not None})
        ext = job.output_format or ".wav"
        total = float(job.duration_s or 0.0)
        kind = job.kind
        book_outline = job.book
        options = dict(job.options or {})
    with failing_job(settings, job_id):
        # Every input present and in order before ffmpeg starts.
        missing = [g.idx + 1 for g in segs if g.status != SegmentStatus.DONE
                   or not store.exists(g.audio_key)]
        if missing:
            raise VoicecastError(f"segments missing before assembly: {missing[:20]}", field="job")
        sr = engine_sample_rate(settings.engine.name)
        voice_desc = f"voice profile {voice.name} v{voice.version}" if voice else "unknown voice"
        if others:
            voice_desc += "; character voices " + ", ".join(others)
        if kind == "audiobook":
            _assemble_book(settings, job_id, segs, book_outline or {}, store, voice_desc, sr)
            return
        if kind == "script":
            sc = settings.script
            head = sc.head_s + float((options or {}).get("lead_s") or 0.0)
            clips, total = assembly.sequential_clips(segs, head, sc.line_pause_s, sc.tail_s)
        else:
            clips = [assembly.Clip(g.idx, g.audio_key, g.start_s, g.max_end_s) for g in segs]
        placements, total_samples = assembly.plan_timeline(clips, sr, total)
        meta = {
            "title": Path(job.input_name).stem,
            "comment": "Synthetic speech generated by voicecast; " + voice_desc,
            "encoded_by": "voicecast",
        }
        with assembly.workdir() as tmp:
            wd = Path(tmp)
            timeline = assembly.build_timeline(placements, total_samples, sr, store.get_file, wd)
            out = wd / f"output{ext}"
            loud = assembly.encode(timeline, out, total, settings.loudness, meta)
            out_key = job_key(job_id, f"output{ext}")
            store.put_file(out_key, out)
            rows = assembly.fit_report_rows(segs, placements, sr)
            report = {"job_id": job_id, "input": job.input_name, "duration_s": total,
                      "loudness_measured": loud, "segments": rows}
            _put_reports(store, job_id, report, rows)
        _finish_job(settings, store, job_id, out_key, total, {})


def _put_reports(store: ObjectStore, job_id: str, report: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    from . import assembly

    store.put_bytes(job_key(job_id, "fit-report.json"), json.dumps(report, indent=1).encode(),
                    content_type="application/json")
    store.put_bytes(job_key(job_id, "fit-report.csv"), assembly.fit_report_csv(rows),
                    content_type="text/csv")


def _finish_job(settings: Settings, store: ObjectStore, job_id: str, out_key: str, total: float,
                extra: dict[str, str]) -> None:
    """Record the artifacts (``extra``: kind -> key) and mark the job done, once."""
    with session_scope(settings) as s:
        jobs.lock_job(s, job_id)
        if jobs.get_job(s, job_id).status == JobStatus.DONE:
            return  # a duplicate assembly finished first; same keys, same output
        jobs.add_artifact(s, job_id, "output", out_key, store.url(out_key), store.size(out_key))
        for kind, name in (("fit_report", "fit-report.json"), ("fit_report_csv", "fit-report.csv")):
            k = job_key(job_id, name)
            jobs.add_artifact(s, job_id, kind, k, store.url(k), store.size(k))
        for kind, k in extra.items():
            jobs.add_artifact(s, job_id, kind, k, store.url(k), store.size(k))
        done = jobs.get_job(s, job_id)
        done.duration_s = total
        jobs.set_job_status(done, JobStatus.DONE)


def _assemble_book(settings: Settings, job_id: str, segs: list[Any], outline: dict[str, Any],
                   store: ObjectStore, voice_desc: str, sr: int) -> None:
    from . import assembly
    from .bookjob import assemble_book

    built = assemble_book(settings, job_id, segs, outline, store, voice_desc, sr)
    rows = assembly.fit_report_rows(segs)
    for r, g in zip(rows, segs, strict=True):
        r.update(chapter=(g.chapter or 0) + 1, speaker=g.speaker, pause_after_s=g.pause_after_s)
    report = {"job_id": job_id, "duration_s": built["duration_s"], "chapters": built["chapters"],
              "segments": rows}
    _put_reports(store, job_id, report, rows)
    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        job.book = {**(job.book or {}), "assembled": [
            {k: c[k] for k in ("title", "start_s", "duration_s", "marker_s", "reused", "segments")}
            for c in built["chapters"]]}
    extra = {}
    for c in built["chapters"]:
        extra[f"chapter_master:{c['index'] + 1}"] = c["master"]
        extra[f"chapter_mp3:{c['index'] + 1}"] = c["mp3"]
    _finish_job(settings, store, job_id, built["output"], built["duration_s"], extra)


def deliver(settings: Settings, job_id: str, out: Path | None = None) -> Path:
    """Copy a finished job's output to ``out`` (default: the path given at
    render); an audiobook's chapter files go beside it, into ``<out stem>.chapters/``
    (``01-Title.mp3`` and the lossless ``01-Title.flac``). Each file is written
    under a temporary name and renamed, so nothing half-written is left."""
    store = get_store(settings)
    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        arts = {a.kind: a.key for a in job.artifacts}
        if job.status != JobStatus.DONE or "output" not in arts:
            raise VoicecastError(f"job {job.id} is {job.status}; no output yet", field="job")
        dest = Path(out or job.output_path or Path(arts["output"]).name).expanduser()
        chapters = (job.book or {}).get("chapters") or [] if job.kind == "audiobook" else []
    for n, ch in enumerate(chapters, 1):
        from .bookjob import chapter_file_stem

        folder = dest.with_name(dest.stem + ".chapters")
        folder.mkdir(exist_ok=True)
        stem = chapter_file_stem(n - 1, ch["title"])
        for kind, ext in (("chapter_mp3", ".mp3"), ("chapter_master", ".flac")):
            key = arts.get(f"{kind}:{n}")
            if key:
                _fetch_atomic(store, key, folder / f"{stem}{ext}")
    _fetch_atomic(store, arts["output"], dest)
    return dest


def _fetch_atomic(store: ObjectStore, key: str, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    try:
        store.get_file(key, Path(tmp))
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
