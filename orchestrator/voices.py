"""The voice registry: named voices (enrolled from reference clips, with
consent), the engine's own voices, voices made on the fly from a clip, and
the voice map of a job (``--voice NAME=VOICE``)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select, update

from orchestrator.files import reference_file, sha256_file
from orchestrator.store.db import session_scope
from orchestrator.store.models import Job, Segment, Voice, VoiceEvent, iso
from voicecast.errors import (
    InputError,
    ReferenceAudioError,
    VoicecastError,
    VoiceError,
)
from voicecast.settings import Settings
from voicecast.storage import (
    ObjectStore,
    get_store,
    read_progress,
    voice_meta_key,
    voice_profile_key,
    voice_progress_key,
    voice_retired_key,
)

if TYPE_CHECKING:
    from orchestrator.dispatch import Dispatcher
    from voicecast.queue import EngineFacts

log = logging.getLogger(__name__)


AUDIO_EXTS = {".wav", ".mp3", ".flac", ".m4a", ".aac", ".ogg", ".opus", ".webm", ".mp4", ".mkv",
              ".aiff", ".aif", ".wma", ".mov"}


#: Called while an enrollment runs with its latest progress record, or ``None``.
OnProgress = Callable[[dict[str, Any] | None], None]


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
    builtin = _builtin_voice(settings, voice, dispatcher)
    if builtin is not None:
        return builtin
    raise _unknown_voice(settings, voice, dispatcher.facts())


@dataclass(frozen=True)
class VoiceLookup:
    """A voice found without storing or enrolling anything (``voicecast plan``):
    a stored profile (``profile_key``), or an engine's own voice not stored yet
    (``builtin``), or neither (``note`` says why: a clip never enrolled)."""

    voice: str
    profile_key: str | None = None
    builtin: str | None = None
    note: str | None = None


def lookup_voice(settings: Settings, voice: str, facts: EngineFacts) -> VoiceLookup:
    """What :func:`resolve_voice` would use for ``voice``, read-only: a stored
    voice by name, a reference clip enrolled before (by its hash), or one of
    the engine's own voices. A clip not enrolled yet is not enrolled here.
    Raises :class:`VoiceError` for an unknown voice, as a render would."""
    if _looks_like_path(voice):
        path = Path(voice).expanduser()
        if (clip := _enrolled_clip(settings, path)) is not None:
            return VoiceLookup(voice, profile_key=voice_profile_key(clip.id, clip.version))
        return VoiceLookup(voice, note=f"{path.name} is a reference clip not enrolled yet (a render "
                                       "enrolls it): no prediction")
    with session_scope(settings) as s:
        found = s.scalars(select(Voice).where(Voice.name == voice)).one_or_none()
        if found is not None:
            return VoiceLookup(voice, profile_key=voice_profile_key(found.id, found.version))
    if (bare := _builtin_name(voice, facts)) is not None:
        return VoiceLookup(voice, builtin=bare)
    raise _unknown_voice(settings, voice, facts)


def _builtin_name(name: str, facts: EngineFacts) -> str | None:
    """The engine's own voice ``name`` names (``jf_alpha`` or ``kokoro:jf_alpha``), or None."""
    bare = name.split(":", 1)[1] if name.startswith(f"{facts.name}:") else name
    return bare if bare in facts.voices else None


def _enrolled_clip(settings: Settings, path: Path) -> Voice | None:
    """The voice made earlier from the clip at ``path`` (found by the clip's
    hash, its profile still stored), or None; the clip is checked before it is hashed."""
    sha = sha256_file(reference_file(path, settings.inputs))
    if sha is None:
        return None
    with session_scope(settings) as s:
        found = s.get(Voice, f"ref-{sha[:16]}")
        return found if found is not None and get_store(settings).exists(found.profile_key) else None


def _unknown_voice(settings: Settings, voice: str, facts: EngineFacts) -> VoiceError:
    with session_scope(settings) as s:
        names = s.scalars(select(Voice.name).where(~Voice.id.startswith("builtin-"))
                          .order_by(Voice.name)).all()
    return VoiceError(
        f"unknown voice {voice!r}; enrolled voices: {', '.join(names) or 'none'}; "
        f"built-in voices: {', '.join(facts.voices) or 'none'} "
        "(or give the path of a reference recording)", field="--voice",
    )


def _builtin_voice(settings: Settings, name: str, dispatcher: Dispatcher) -> Voice | None:
    """The row of an engine's own voice, stored on first use like an enrolled one."""
    facts = dispatcher.facts()
    eng_name = facts.name
    bare = _builtin_name(name, facts)
    if bare is None:
        return None
    voice_id = f"builtin-{eng_name}-{bare}"[:64]
    with session_scope(settings) as s:
        v = s.get(Voice, voice_id)
        if v is not None and get_store(settings).exists(v.profile_key):
            return v
    found = dispatcher.builtin_voice(voice_id, bare)
    if found is None:
        return None
    with session_scope(settings) as s:
        v = s.get(Voice, voice_id)
        if v is None:
            v = s.merge(Voice(
                id=voice_id, name=f"{eng_name}:{bare}", version=1, engine=eng_name,
                profile_key=found.profile_key, source_sha256=found.sha256,
                meta={"method": f"builtin:{bare}", "engine_version": facts.version},
            ))
        return v


#: The voice-map name of the default voice (``--voice narrator=NAME``, or ``--voice NAME``).
NARRATOR = "narrator"


def track_narrator(track: int) -> str:
    """The voice-map entry of a media job's dub ``track`` (0-based): the
    narrator for the first dub, ``narrator (dub N)`` for the others."""
    return NARRATOR if track <= 0 else f"{NARRATOR} (dub {track + 1})"


def parse_voice_map(items: list[str]) -> dict[str, str]:
    """``--voice`` values into ``{name: voice}``: ``NAME=VOICE`` maps a character
    (or an ASS actor, a WebVTT ``<v Name>``, a ``NAME:`` label); a bare ``VOICE``
    or ``narrator=VOICE`` is the narrator, the voice of every other line. Names
    are kept as written and matched case-insensitively."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if _is_bare(item):
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


def _is_bare(item: str) -> bool:
    """A ``--voice`` value that names a voice without a character: ``VOICE``, a clip's path."""
    return "=" not in item or _looks_like_path(item)


def split_narrators(items: list[str]) -> tuple[list[str], list[str]]:
    """``--voice`` values split into narrators (``VOICE``, ``narrator=VOICE``:
    with several dubs, one per dub, in order) and character entries (``NAME=VOICE``)."""
    narrators, others = [], []
    for item in items:
        if _is_bare(item):
            narrators.append(item.strip())
        elif item.partition("=")[0].strip().casefold() == NARRATOR:
            narrators.append(item.partition("=")[2].strip())
        else:
            others.append(item)
    return narrators, others


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
    # A clip enrolled before was checked then: no need to decode it again.
    if (existing := _enrolled_clip(settings, path)) is not None:
        return existing
    store = get_store(settings)
    ref = dispatcher.load_references([path])
    voice_id = f"ref-{ref.sha256[:16]}"
    meta = _enroll(store, dispatcher, ref.key, voice_id, 1, on_progress)
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


def voice_info(v: Voice) -> dict[str, Any]:
    """Everything stored about a voice, JSON-ready."""
    return {
        "name": v.name, "id": v.id, "version": v.version, "engine": v.engine,
        "profile_key": v.profile_key, "source_sha256": v.source_sha256, "consent": v.consent,
        "created_at": iso(v.created_at), **(v.meta or {}),
    }


def _actor() -> str | None:
    """Who runs this command, as ``user@host``: recorded in the consent trail.
    What the process can know, not an authentication."""
    import getpass
    import socket

    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"[:200]
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return f"uid {os.getuid()}@{socket.gethostname()}"[:200]


def _event(s: Any, v: Voice, event: str, details: dict[str, Any] | None = None,
           actor: str | None = None) -> None:
    """Add a row to the name's consent trail (rows are only ever added)."""
    s.add(VoiceEvent(name=v.name, voice_id=v.id, version=v.version, event=event, consent=v.consent,
                     reference_sha256=v.source_sha256, actor=actor or _actor(), details=details))


def voice_history(s: Any, name: str) -> list[dict[str, Any]]:
    """The consent trail of a voice name, oldest first: every enrollment
    (version, consent, reference hash) and removal, with when and by whom."""
    rows = s.scalars(select(VoiceEvent).where(VoiceEvent.name == name)
                     .order_by(VoiceEvent.at, VoiceEvent.id))
    return [{"event": e.event, "version": e.version, "at": iso(e.at), "consent": e.consent,
             "reference_sha256": e.reference_sha256, "actor": e.actor, "voice_id": e.voice_id,
             **({"details": e.details} if e.details else {})} for e in rows]


def add_voice(settings: Settings, name: str, refs: list[Path], consent: str, dispatcher: Dispatcher,
              on_progress: OnProgress | None = None, *, replace: bool = False,
              actor: str | None = None) -> dict[str, Any]:
    """Check the reference clips, enroll them as a queued task, and store the voice.

    An existing name is enrolled again (under the next version, which changes
    every segment hash made with it) only with ``replace``: otherwise a
    :class:`VoiceError` says so before anything runs. Each enrollment adds its
    consent text and reference hash to the name's trail (:func:`voice_history`),
    which a later version or a removal never erases. Nothing is stored when a
    check or the enrollment fails.
    """

    name = check_voice_name(name)
    consent = (consent or "").strip()
    if not consent:
        raise VoiceError("consent text is required: say who agreed to have this voice cloned, "
                         "and for what", field="--consent")
    with session_scope(settings) as s:
        existing = s.scalars(select(Voice).where(Voice.name == name)).one_or_none()
        if existing is not None and not replace:
            raise VoiceError(
                f"voice {name!r} is enrolled already (version {existing.version}); enrolling it "
                "again replaces the profile every later render uses: add --replace to do so (the "
                f"earlier consent stays on record: `voicecast voice show {name}`)", field="NAME")
    consent_at = iso(datetime.now(UTC))
    t0 = time.perf_counter()
    ref = dispatcher.load_references(refs)
    check_s = time.perf_counter() - t0
    voice_id = voice_id_for(name)
    store = get_store(settings)
    with session_scope(settings) as s:
        current = s.scalars(select(Voice).where(Voice.name == name)).one_or_none()
        if current is not None and current.id != voice_id:
            voice_id = current.id  # keep the id it was first stored under
        version = current.version + 1 if current is not None else _retired_version(store, voice_id) + 1
    key = ref.key
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
            "consent_at": consent_at, "enrolled_at": iso(datetime.now(UTC)),
            "reference": {"sha256": ref.sha256, "speech_s": round(ref.speech_s, 2),
                          "duration_s": round(ref.duration_s, 2), "key": key,
                          "clips": list(ref.clips)},
            "enrollment": enrollment,
            "timings": {"check_s": round(check_s, 2), "enroll_wall_s": round(enroll_wall_s, 2)},
        }
        v = s.merge(v)
        s.flush()  # fills created_at
        clips = [{"file": c.get("file"), "sha256": c.get("sha256")} for c in ref.clips]
        _event(s, v, "enrolled", {"method": meta.get("method"), "consent_at": consent_at, "clips": clips},
               actor)
        return voice_info(v)


def list_voices(settings: Settings, name_suffix: str | None = None) -> list[dict[str, Any]]:
    """Every stored voice, or those whose stored name ends with ``name_suffix``
    (an API tenant's: ``@tenant``)."""
    q = select(Voice).order_by(Voice.name)
    if name_suffix:
        q = q.where(Voice.name.endswith(name_suffix, autoescape=True))
    with session_scope(settings) as s:
        return [voice_info(v) for v in s.scalars(q)]


def show_voice(settings: Settings, name: str) -> dict[str, Any]:
    """Everything stored about a voice and its name's consent trail
    (``history``). A removed name with a trail shows the trail alone
    (``removed: True``); a name never enrolled is a :class:`VoiceError`."""
    with session_scope(settings) as s:
        history = voice_history(s, name)
        found = s.scalars(select(Voice).where(Voice.name == name)).one_or_none()
        if found is None and history:
            return {"name": name, "removed": True, "history": history}
        return {**voice_info(_find_voice(s, name)), "history": history}


def remove_voice(settings: Settings, name: str, *, force: bool = False,
                 actor: str | None = None) -> dict[str, Any]:
    """Delete a voice's row and its profile objects (every version); only with
    ``force`` (otherwise a :class:`VoiceError` says what removal costs).

    Jobs that used it keep their segments and output but lose the link (they
    can no longer be resumed). The removal is added to the name's consent
    trail, which stays. The last version number is kept in storage, so a
    voice added again under this name starts after it and never reuses a
    segment rendered with the removed one.
    """
    store = get_store(settings)
    with session_scope(settings) as s:
        v = _find_voice(s, name)
        info = voice_info(v)
        if not force:
            used = s.scalar(select(func.count(func.distinct(Segment.job_id)))
                            .where(Segment.voice_id == v.id)) or 0
            raise VoiceError(
                f"removing voice {name!r} deletes its profiles ({v.version} version(s)); {used} job(s) "
                "rendered with it could no longer be resumed; add --force to remove it (its consent "
                "trail is kept)", field="NAME")
        _event(s, v, "removed", actor=actor)
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
