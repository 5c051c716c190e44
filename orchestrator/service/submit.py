"""Jobs coming in over HTTP: checked, stored, planned in the background.

:func:`accept` does what must answer the request: it validates the options
with the CLI's model, refuses an input type the renderer cannot read (415),
resolves the voices the tenant may use, stores the uploads under the
tenant's prefix and creates the job (honouring an ``Idempotency-Key``).
:func:`plan_uploaded` then runs in the API process's planning threads: it
fetches the uploads into a private folder and plans and dispatches the job
exactly as ``voicecast render`` does. An error there fails the job with its
reason (``GET /v1/jobs/{id}`` shows it).
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from orchestrator.files import sha256_file
from orchestrator.options import DubSpec, RenderOptions, pair_dubs
from orchestrator.service.schemas import DUB_FORMATS, VIDEO_FORMATS, JobOptions
from orchestrator.store import jobs
from orchestrator.store.db import session_scope
from orchestrator.store.models import Job, Voice
from orchestrator.store.states import JobStatus
from voicecast.errors import InputError, VoicecastError
from voicecast.settings import Settings
from voicecast.storage import ObjectStore, get_store, tenant_upload_key

if TYPE_CHECKING:
    from orchestrator.dispatch import Dispatcher
    from voicecast.queue import EngineFacts

log = logging.getLogger(__name__)

#: The narrator token of a job whose voice is the uploaded ``reference`` clip.
REFERENCE = "@reference"
LEXICON = "@lexicon"
#: A dub timed by an uploaded ``subs`` part: ``@subs:K:NAME`` (the K-th part, the client's file name).
SUBS = "@subs:"
#: The uploaded ``bed`` part: ``@bed.EXT``.
BED = "@bed"


class UnsupportedInput(VoicecastError):
    """An input type the renderer does not read: HTTP 415."""


def input_suffixes() -> tuple[str, ...]:
    from orchestrator.inputs.books import BOOK_FORMATS
    from orchestrator.inputs.media import MEDIA_FORMATS
    from orchestrator.inputs.subtitles import SUPPORTED_FORMATS

    return tuple(sorted({*(f".{x}" for x in SUPPORTED_FORMATS), *BOOK_FORMATS, *MEDIA_FORMATS}))


def qualified(name: str, tenant: str) -> str:
    """A tenant's voice as stored: ``name@tenant`` (tenants never see each other's)."""
    return f"{name}@{tenant}"


def safe_name(filename: str | None, default: str) -> str:
    """A client's file name reduced to its last part, printable, at most 200 characters."""
    base = PurePath((filename or "").replace("\\", "/")).name
    base = "".join(ch for ch in base if ch.isprintable())[:200]
    return base or default


def check_callback(url: str, allow_private: bool) -> str:
    """An ``http(s)`` URL whose host does not resolve to a loopback, private,
    link-local or reserved address (unless ``allow_private``): a callback
    must not reach the service's own network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("callback_url must be an http:// or https:// URL", field="options.callback_url")
    if not allow_private:
        try:
            addrs = {a[4][0] for a in socket.getaddrinfo(parts.hostname, parts.port or 443)}
        except OSError:
            raise InputError(f"callback_url host {parts.hostname!r} does not resolve",
                             field="options.callback_url") from None
        for a in addrs:
            ip = ipaddress.ip_address(str(a).split("%")[0])
            if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
                raise InputError(f"callback_url resolves to {ip}, a non-public address",
                                 field="options.callback_url")
    return url


@dataclass(frozen=True)
class Upload:
    """A request's file part, spooled by the framework."""

    filename: str
    path: Path


def parse_options(raw: str | None) -> JobOptions:
    """The ``options`` part (JSON); a problem is a 422 naming ``options.<field>``."""
    try:
        return JobOptions.model_validate_json(raw or "{}")
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise InputError(first["msg"], field=f"options.{loc}" if loc else "options") from None


def _voice_entry(settings: Settings, tenant: str, value: str, builtins: tuple[str, ...], field: str) -> str:
    """What the voice map holds for a voice a tenant named: its own stored voice
    (qualified), or a built-in one. Anything else (another tenant's voice, a
    path on the server, a clip made on the fly) is a 422."""
    with session_scope(settings) as s:
        if s.scalars(select(Voice.id).where(Voice.name == qualified(value, tenant))).first():
            return qualified(value, tenant)
    bare = value.split(":", 1)[1] if ":" in value else value
    if bare in builtins and "/" not in value:
        return value
    raise InputError(f"unknown voice {value!r}: use one of your voices (GET /v1/voices) or a built-in "
                     f"voice ({', '.join(builtins[:8])}{', ...' if len(builtins) > 8 else ''})", field=field)


#: ``JobOptions`` of video and audio inputs, turned into the CLI's dubs by :func:`_media_values`.
_MEDIA_FIELDS = {"subs", "dub_voices", "lang", "mix", "original", "mux_subs", "loudness", "duck_db"}


def _media_values(settings: Settings, tenant: str, opts: JobOptions, kind: str, narrator: str,
                  builtins: tuple[str, ...], subs_names: list[str],
                  bed_ext: str | None) -> tuple[dict[str, object], list[DubSpec]]:
    """The media options of :class:`RenderOptions` from a request (the mix,
    the bed, the language) and the dubs: each one's timeline (an uploaded
    part by its file name, a stream, ``asr``), voice and language."""
    values: dict[str, object] = dict(original=opts.original, mux_subs=opts.mux_subs, loudness=opts.loudness,
                                     duck_db=opts.duck_db, mix=opts.mix or ("bed" if bed_ext else "replace"),
                                     bed=BED + bed_ext if bed_ext else None)
    if kind != "media":
        if opts.subs or opts.dub_voices or len(opts.lang) > 1:
            raise InputError("subs, dub_voices and several languages are for a video or audio input",
                             field="options.subs")
        from voicecast.languages import parse_language

        return {**values, "lang": parse_language(opts.lang[0]).tag if opts.lang else None}, []
    parts = {name: f"{SUBS}{k}:{name}" for k, name in enumerate(subs_names)}
    specs = [parts.get(x, x) for x in opts.subs]
    for x in specs:
        if not (x.startswith((SUBS, "stream:")) or x == "asr"):
            raise InputError(f"{x!r} is neither an uploaded subs part, stream:LANG, stream:INDEX nor asr",
                             field="options.subs")
    timeline = "asr" if specs == ["asr"] else None
    narrators = [_voice_entry(settings, tenant, v, builtins, f"options.dub_voices.{k}")
                 for k, v in enumerate(opts.dub_voices)] or [narrator]
    dubs = pair_dubs([] if timeline else specs, timeline, narrators, opts.lang, resolve=False)
    return {**values, "lang": dubs[0].lang if dubs else None}, dubs


def render_options(settings: Settings, tenant: str, opts: JobOptions, kind: str, ref_ext: str | None,
                   has_lexicon: bool, builtins: tuple[str, ...], subs_names: list[str] | None = None,
                   bed_ext: str | None = None) -> RenderOptions:
    """The job's :class:`RenderOptions` (the CLI's model validates them again).
    ``ref_ext``: the uploaded reference clip's extension (None: no clip);
    ``subs_names``: the uploaded ``subs`` parts' file names, in order;
    ``bed_ext``: the uploaded ``bed`` part's extension."""
    if opts.voice is None and ref_ext is None:
        raise InputError("give the narrator's voice, or upload a reference clip", field="options.voice")
    narrator = (REFERENCE + (ref_ext or "") if opts.voice is None
                else _voice_entry(settings, tenant, opts.voice, builtins, "options.voice"))
    voices = [narrator] + [f"{who}={_voice_entry(settings, tenant, v, builtins, f'options.voices.{who}')}"
                           for who, v in opts.voices.items()]
    values = opts.model_dump(exclude={"voice", "voices", "format", "priority", "callback_url",
                                      *_MEDIA_FIELDS})
    from voicecast.languages import parse_language

    values["speaker_langs"] = {who: parse_language(tag, field=f"options.speaker_langs.{who}").tag
                               for who, tag in opts.speaker_langs.items()}
    from orchestrator.render import emotion_rules

    try:
        media, dubs = _media_values(settings, tenant, opts, kind, narrator, builtins, subs_names or [],
                                    bed_ext)
        if dubs:
            voices[0] = dubs[0].voice
        mode = kind if kind == "audiobook" else "dub"
        options = RenderOptions.from_cli(voices=voices, lexicon=LEXICON if has_lexicon else None,
                                         **{**values, **media, "dubs": dubs, "mode": mode})
        emotion_rules(options)  # the emotion options are checked now, not when the job is planned
        return options
    except InputError as e:
        # The CLI's model names its flags (in the field, or leading the message: "--emotion: ...").
        if e.field and e.field.startswith("options."):
            raise
        flag = e.field or (e.message.split(":", 1)[0].split()[0] if e.message.startswith("--") else "")
        field = str(flag).lstrip("-").replace("-", "_")
        raise InputError(e.message, field=f"options.{field}" if field else "options") from None


def _check_spoken(facts: EngineFacts, options: RenderOptions) -> None:
    """Refuse a job language, dub language or character's language the engine
    does not speak, naming the option."""
    from orchestrator.render import check_spoken

    asked = [(t, "options.lang") for t in [options.lang, *(d.lang for d in options.dubs)] if t]
    asked += [(t, f"options.speaker_langs.{who}") for who, t in options.speaker_langs.items()]
    check_spoken(facts, asked)


def accept(settings: Settings, tenant: str, upload: Upload, reference: Upload | None, lexicon: Upload | None,
           opts: JobOptions, idempotency_key: str | None, builtins: tuple[str, ...],
           subs: list[Upload] | None = None, bed: Upload | None = None, *,
           facts: EngineFacts | None = None) -> tuple[str, bool]:
    """Check and store a new job; returns its id and whether it is new
    (``False``: the ``Idempotency-Key`` named an earlier job). With the
    engine's ``facts``, a language it does not speak is refused here (422),
    not when the job is planned."""
    from orchestrator.render import job_kind

    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 200 or not idempotency_key.isprintable():
            raise InputError("Idempotency-Key must be 1 to 200 printable characters", field="Idempotency-Key")
        if (earlier := _by_idempotency(settings, tenant, idempotency_key)) is not None:
            return earlier, False
    name = safe_name(upload.filename, "input")
    ext = PurePath(name).suffix.lower()
    if ext not in input_suffixes():
        raise UnsupportedInput(f"{name}: voicecast reads {', '.join(input_suffixes())}", field="input")
    try:
        kind = job_kind(Path(name), opts.mode)
    except InputError as e:
        raise InputError(e.message, field="options.mode") from None
    own = ext.lstrip(".")
    fmt = opts.format or ("m4b" if kind == "audiobook" else own if kind == "media" and own in VIDEO_FORMATS
                          else "m4a" if kind == "media" else "wav")
    allowed = {"audiobook": ("m4b",), "media": (*VIDEO_FORMATS, *DUB_FORMATS)}.get(kind, DUB_FORMATS)
    if fmt not in allowed:
        what = {"audiobook": "book", "media": "dubbed video or audio"}.get(kind, "dub")
        raise InputError(f"a {what} is delivered as {', '.join(allowed)}", field="options.format")
    subs = subs or []
    subs_names = [safe_name(u.filename, f"subs-{k}.srt") for k, u in enumerate(subs)]
    if kind != "media" and (subs or bed):
        raise InputError("subs and bed parts are for a video or audio input", field="subs" if subs else "bed")
    bed_ext = PurePath(safe_name(bed.filename, "bed.wav")).suffix.lower() if bed is not None else None
    if opts.callback_url:
        check_callback(opts.callback_url, settings.api.webhook_allow_private)
    ref_ext = None
    if reference is not None:
        from orchestrator.voices import AUDIO_EXTS

        ref_ext = PurePath(safe_name(reference.filename, "reference")).suffix.lower()
        if ref_ext not in AUDIO_EXTS:
            raise UnsupportedInput(f"reference {reference.filename!r}: give an audio file "
                                   f"({', '.join(sorted(AUDIO_EXTS))})", field="reference")
    options = render_options(settings, tenant, opts, kind, ref_ext, lexicon is not None, builtins,
                             subs_names, bed_ext)
    if facts is not None:
        _check_spoken(facts, options)
    job_id = jobs.new_job_id()
    store = get_store(settings)
    input_key = tenant_upload_key(tenant, job_id, "input" + ext)
    store.put_file(input_key, upload.path)
    if reference is not None:
        store.put_file(tenant_upload_key(tenant, job_id, f"reference{ref_ext}"), reference.path)
    if lexicon is not None:
        store.put_file(tenant_upload_key(tenant, job_id, "lexicon.txt"), lexicon.path)
    for k, (part, part_name) in enumerate(zip(subs, subs_names, strict=True)):
        key = tenant_upload_key(tenant, job_id, f"subs-{k}{PurePath(part_name).suffix.lower()}")
        store.put_file(key, part.path)
    if bed is not None and bed_ext is not None:
        store.put_file(tenant_upload_key(tenant, job_id, f"bed{bed_ext}"), bed.path)
    try:
        with session_scope(settings) as s:
            s.add(Job(id=job_id, kind=kind, status=JobStatus.PENDING, input_name=name, input_key=input_key,
                      output_format="." + fmt, options=options.stored(), tenant=tenant,
                      priority=opts.priority, callback_url=opts.callback_url,
                      idempotency_key=idempotency_key,
                      input_sha256=None))
    except IntegrityError:
        # The same Idempotency-Key arrived twice at once: the other request made the job.
        if idempotency_key and (earlier := _by_idempotency(settings, tenant, idempotency_key)):
            return earlier, False
        raise
    return job_id, True


def _by_idempotency(settings: Settings, tenant: str, key: str) -> str | None:
    with session_scope(settings) as s:
        found: str | None = s.scalars(select(Job.id).where(
            Job.tenant == tenant, Job.idempotency_key == key)).first()
        return found


def plan_uploaded(settings: Settings, job_id: str, dispatcher: Dispatcher) -> None:
    """Plan and dispatch a job accepted over HTTP (the planning thread's work).
    A user error fails the job with its reason; nothing is raised."""
    from orchestrator import render

    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        if job.status != JobStatus.PENDING:
            return  # cancelled before it was planned, or planned already
        tenant, input_key, name = job.tenant or "", job.input_key or "", job.input_name
        options = RenderOptions.from_stored(job.options)
    store = get_store(settings)
    folder = Path(tempfile.mkdtemp(prefix="voicecast-job-"))
    hidden = jobs.HIDDEN_FOLDER.set(str(folder))  # the job's messages name the client's files
    try:
        with jobs.failing_job(settings, job_id):
            # The client's own file name (made safe): what warnings and errors name.
            inp = folder / (PurePath(name).stem[:100] + PurePath(input_key).suffix)
            store.get_file(input_key, inp)
            stored_voices, stored_lexicon = list(options.voices), options.lexicon
            voices = list(options.voices)
            if voices and voices[0].startswith(REFERENCE):
                ref_name = "reference" + voices[0].removeprefix(REFERENCE)
                ref = folder / ref_name
                store.get_file(tenant_upload_key(tenant, job_id, ref_name), ref)
                voices[0] = str(ref)
            lexicon = None
            if options.lexicon == LEXICON:
                lexicon = folder / "lexicon.txt"
                store.get_file(tenant_upload_key(tenant, job_id, "lexicon.txt"), lexicon)
            stored_dubs, stored_bed = list(options.dubs), options.bed
            dubs = [d.model_copy(update={"subs": _fetch_subs(store, tenant, job_id, d.subs, folder),
                                         "voice": voices[0] if d.voice.startswith(REFERENCE) else d.voice})
                    for d in options.dubs]
            bed = None
            if options.bed and options.bed.startswith(BED):
                bed = folder / ("bed" + options.bed.removeprefix(BED))
                store.get_file(tenant_upload_key(tenant, job_id, bed.name), bed)
            options = options.model_copy(update={"voices": voices, "dubs": dubs,
                                                 "bed": str(bed) if bed else None,
                                                 "lexicon": str(lexicon) if lexicon else None})
            with session_scope(settings) as s:
                jobs.get_job(s, job_id).input_sha256 = sha256_file(inp)
            specs = render.plan_job(settings, job_id, inp, dispatcher, options)
            with session_scope(settings) as s:
                # The stored options keep the upload tokens, not this folder's paths.
                job = jobs.get_job(s, job_id)
                job.options = {**job.options, "voices": stored_voices, "lexicon": stored_lexicon,
                               "dubs": [d.model_dump(mode="json") for d in stored_dubs], "bed": stored_bed}
                job.input_name = name
            render.dispatch(settings, job_id, specs, dispatcher)
    except VoicecastError as e:
        log.info("job %s failed while planning: %s", job_id, e)
    except Exception:
        log.exception("job %s: internal error while planning", job_id)
    finally:
        jobs.HIDDEN_FOLDER.reset(hidden)
        shutil.rmtree(folder, ignore_errors=True)


def _fetch_subs(store: ObjectStore, tenant: str, job_id: str, spec: str, folder: Path) -> str:
    """A dub's timeline for planning: an uploaded ``subs`` part (``@subs:K:NAME``)
    fetched into the job's folder under the client's file name (what messages
    name; in a folder of its own when another file took that name); a stream
    or ``asr`` as it is."""
    if not spec.startswith(SUBS):
        return spec
    k, _, name = spec.removeprefix(SUBS).partition(":")
    dest = folder / name
    if dest.exists():
        dest = folder / f"subs-{k}" / name
        dest.parent.mkdir(exist_ok=True)
    store.get_file(tenant_upload_key(tenant, job_id, f"subs-{k}{PurePath(name).suffix.lower()}"), dest)
    return str(dest)
