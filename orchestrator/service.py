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
from typing import Any, Protocol, cast

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
    def submit(self, job_id: str, specs: list[SegmentSpec]) -> None: ...
    def assemble(self, job_id: str) -> None: ...
    def drive(self, job_id: str, tick: Callable[[], None]) -> None: ...


def check_output_path(out: Path) -> None:
    if out.suffix.lower() not in OUTPUT_FORMATS:
        raise OutputError(
            f"unsupported output format {out.suffix or '(none)'!r}; use one of "
            + ", ".join(sorted(OUTPUT_FORMATS)), file=out,
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
    """A stored voice by name, or a profile made on the fly from a reference clip
    (cached by the clip's hash, so the same clip is enrolled once)."""
    path = Path(voice).expanduser()
    if _looks_like_path(voice):
        return _voice_from_reference(settings, path, dispatcher, on_progress)
    with session_scope(settings) as s:
        found = s.scalars(select(Voice).where(Voice.name == voice)).one_or_none()
        if found is None:
            names = s.scalars(select(Voice.name).order_by(Voice.name)).all()
            raise VoiceError(
                f"unknown voice {voice!r}; enrolled voices: {', '.join(names) or 'none'} "
                "(or give the path of a reference recording)", field="--voice",
            )
        return found


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
        s.execute(update(Job).where(Job.voice_id == v.id).values(voice_id=None))
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


#: Input suffixes read as plain scripts (one line per segment, no timing).
SCRIPT_FORMATS: tuple[str, ...] = (".txt",)


def job_kind(input_path: Path) -> str:
    """``"script"`` for plain scripts, ``"dub"`` for subtitle files."""
    return "script" if input_path.suffix.lower() in SCRIPT_FORMATS else "dub"


def emotion_rules(options: dict[str, Any]) -> Any:
    """The job's :class:`~orchestrator.planner.EmotionRules` from its stored options."""
    from .planner import EmotionRules

    return EmotionRules.from_options(options.get("emotion"), options.get("emotion_map") or (),
                                     bool(options.get("ignore_unknown_tags")))


def _store_emotion_clips(settings: Settings, plan: Any, input_path: Path) -> list[Any]:
    """Read every ``[like:CLIP]`` clip (relative to the script's folder), store it
    under a content key, and return the plan's segments with ``emotion`` set to
    ``like:<id>``. Raises :class:`InputError` naming the script line."""
    import dataclasses

    from voicecast.media import decode_audio
    from workers.audio import active_speech_seconds, to_wav_bytes
    from workers.engines import engine_sample_rate

    store = get_store(settings)
    sr = engine_sample_rate(settings.engine.name)
    ids: dict[Path, str] = {}
    out = []
    for seg in plan.segments:
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


def prepare_dub(settings: Settings, job_id: str, input_path: Path, voice: str,
                dispatcher: Dispatcher, duration: float | None = None,
                on_progress: OnProgress | None = None,
                options: dict[str, Any] | None = None) -> list[SegmentSpec]:
    """Parse, plan and persist a job (subtitle file or plain script); return the
    specs to dispatch. ``options`` are the job's (emotion default and map)."""
    from workers.fitting import FitPolicy

    from .planner import plan_cues, plan_script, segment_hash
    from .subtitles import parse_subtitles, read_text

    with failing_job(settings, job_id):
        rules = emotion_rules(options or {})
        if job_kind(input_path) == "script":
            plan = plan_script(read_text(input_path), source=str(input_path), emotions=rules)
        else:
            cues = parse_subtitles(input_path)
            plan = plan_cues(cues, source=str(input_path), track_end=duration, emotions=rules)
        planned = _store_emotion_clips(settings, plan, input_path)
        v = resolve_voice(settings, voice, dispatcher, on_progress)
        fit = FitPolicy.from_settings(settings.fit).as_dict()
        eng, eng_ver = settings.engine.name, engine_version(settings)
        with session_scope(settings) as s:
            job = jobs.get_job(s, job_id)
            job.voice_id = v.id
            job.duration_s = plan.duration
            job.warnings = list(plan.warnings)
            for seg in planned:
                s.add(Segment(
                    job_id=job_id, idx=seg.idx, text=seg.text, speaker=seg.speaker,
                    emotion=seg.emotion, intensity=seg.intensity, start_s=seg.start,
                    end_s=seg.end, max_end_s=seg.max_end, source_line=seg.source_line,
                    content_hash=segment_hash(seg, voice_id=v.id, voice_version=v.version,
                                              engine=eng, engine_version=eng_ver, fit=fit),
                ))
            jobs.set_job_status(job, JobStatus.RENDERING)
        return undone_specs(settings, job_id)


def _spec(seg: Segment, voice_key: str) -> SegmentSpec:
    return SegmentSpec(
        job_id=seg.job_id, idx=seg.idx, text=seg.text, voice_key=voice_key,
        slot_s=round(seg.end_s - seg.start_s, 6), max_s=round(seg.max_end_s - seg.start_s, 6),
        content_hash=seg.content_hash, emotion=seg.emotion, intensity=seg.intensity,
    )


def undone_specs(settings: Settings, job_id: str) -> list[SegmentSpec]:
    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        voice = s.get(Voice, job.voice_id) if job.voice_id else None
        if voice is None:
            raise VoiceError("job has no voice profile", field="voice")
        key = voice_profile_key(voice.id, voice.version)
        return [_spec(seg, key) for seg in job.segments if seg.status != SegmentStatus.DONE]


def dispatch(settings: Settings, job_id: str, specs: list[SegmentSpec], dispatcher: Dispatcher) -> None:
    with session_scope(settings) as s:
        jobs.mark_queued(s, job_id, [sp.idx for sp in specs])
    dispatcher.submit(job_id, specs)


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
        if job.status == JobStatus.PENDING or not job.segments or job.voice_id is None:
            raise VoicecastError(
                "job was never planned (it failed before its segments were stored); "
                "render it again", field="job",
            )
        if job.status == JobStatus.ASSEMBLING:
            ready = True  # every segment is done: just assemble (again)
        else:
            if job.status != JobStatus.RENDERING:
                jobs.set_job_status(job, JobStatus.RENDERING)
            ready = False
            for seg in job.segments:
                rkey = segment_result_key(seg.content_hash)
                if seg.status != SegmentStatus.DONE and store.exists(rkey) \
                        and store.exists(segment_audio_key(seg.content_hash)):
                    # A worker finished it but the orchestrator never heard.
                    rec = json.loads(store.get_bytes(rkey))
                    rec.update(job_id=job_id, idx=seg.idx, hit=True)
                    if seg.status == SegmentStatus.FAILED:
                        seg.status = SegmentStatus.QUEUED
                    ready = jobs.record_result(s, rec) or ready
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
        ext = job.output_format or ".wav"
        total = float(job.duration_s or 0.0)
        kind = job.kind
    with failing_job(settings, job_id):
        # Every input present and in order before ffmpeg starts.
        missing = [g.idx + 1 for g in segs if g.status != SegmentStatus.DONE
                   or not store.exists(g.audio_key)]
        if missing:
            raise VoicecastError(f"segments missing before assembly: {missing[:20]}", field="job")
        sr = engine_sample_rate(settings.engine.name)
        if kind == "script":
            sc = settings.script
            clips, total = assembly.sequential_clips(segs, sc.head_s, sc.line_pause_s, sc.tail_s)
        else:
            clips = [assembly.Clip(g.idx, g.audio_key, g.start_s, g.max_end_s) for g in segs]
        placements, total_samples = assembly.plan_timeline(clips, sr, total)
        meta = {
            "title": Path(job.input_name).stem,
            "comment": "Synthetic speech generated by voicecast"
                       + (f"; voice profile {voice.name} v{voice.version}" if voice else ""),
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
            store.put_bytes(job_key(job_id, "fit-report.json"), json.dumps(report, indent=1).encode(),
                            content_type="application/json")
            store.put_bytes(job_key(job_id, "fit-report.csv"), assembly.fit_report_csv(rows),
                            content_type="text/csv")
        with session_scope(settings) as s:
            jobs.lock_job(s, job_id)
            if jobs.get_job(s, job_id).status == JobStatus.DONE:
                return  # a duplicate assembly finished first; same keys, same output
            jobs.add_artifact(s, job_id, "output", out_key, store.url(out_key), store.size(out_key))
            for kind, name in (("fit_report", "fit-report.json"), ("fit_report_csv", "fit-report.csv")):
                k = job_key(job_id, name)
                jobs.add_artifact(s, job_id, kind, k, store.url(k), store.size(k))
            done = jobs.get_job(s, job_id)
            done.duration_s = total
            jobs.set_job_status(done, JobStatus.DONE)


def deliver(settings: Settings, job_id: str, out: Path | None = None) -> Path:
    """Copy a finished job's output to ``out`` (default: the path given at render)."""
    store = get_store(settings)
    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        art = next((a for a in job.artifacts if a.kind == "output"), None)
        if job.status != JobStatus.DONE or art is None:
            raise VoicecastError(f"job {job.id} is {job.status}; no output yet", field="job")
        dest = Path(out or job.output_path or Path(art.key).name).expanduser()
        key = art.key
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    try:
        store.get_file(key, Path(tmp))
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest

