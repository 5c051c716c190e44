"""The ASGI app of ``voicecast serve``: thin routes over the service modules.

One :class:`Service` per process holds the dispatcher of its mode (embedded:
a local pool shared fairly by every job; distributed: the Celery queues), the
key cache and rate limiter, the planning threads and the webhook sweeper.
Errors answer ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import cached_property
from pathlib import Path, PurePath
from typing import Annotated, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from fastapi import Depends, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator.service import speech, submit, tenants, views, webhooks
from orchestrator.service.schemas import (
    Accepted,
    ErrorOut,
    JobList,
    JobOptions,
    JobOut,
    SpeechRequest,
    voice_out,
)
from orchestrator.store.db import session_scope
from orchestrator.store.states import FINAL
from voicecast.errors import InputError, JobError, VoicecastError
from voicecast.settings import Settings, get_settings
from voicecast.storage import get_store

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")

#: Which error answers which status.
STATUS: list[tuple[type[Exception], int, str]] = [
    (tenants.AuthError, 401, "unauthorized"),
    (views.NotFound, 404, "not_found"),
    (submit.UnsupportedInput, 415, "unsupported_media_type"),
    (JobError, 409, "conflict"),
    (InputError, 422, "invalid"),
    (VoicecastError, 422, "invalid"),
]


class TooLarge(VoicecastError):
    pass


class RateLimited(VoicecastError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many requests; try again in {retry_after:.1f} s", field="Authorization")
        self.retry_after = retry_after


def error(status: int, code: str, message: str, field: str | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status,
                        headers=headers)


class Service:
    """What one API process holds (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        from orchestrator.dispatch import dispatcher_for

        self.settings = settings
        self.dispatcher = dispatcher_for(settings, service=True)
        self.keys = tenants.KeyCache(settings, ttl_s=settings.api.key_cache_s)
        self.limiter = tenants.RateLimiter(settings.api.rate_per_s, settings.api.rate_burst)
        self.planner = ThreadPoolExecutor(max_workers=settings.api.plan_threads,
                                          thread_name_prefix="voicecast-plan")
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    @cached_property
    def builtins(self) -> tuple[str, ...]:
        return tuple(self.dispatcher.facts().voices)

    def start(self) -> None:
        from orchestrator.store.db import ensure_schema

        ensure_schema(self.settings, auto_upgrade=not self.settings.distributed)
        start = getattr(self.dispatcher, "start", None)
        if start is not None:  # embedded: the pool's driver thread
            start()
            self._replan_pending()
        self._sweeper = threading.Thread(target=self._sweep, name="voicecast-webhooks", daemon=True)
        self._sweeper.start()

    def _replan_pending(self) -> None:
        """Jobs accepted but never planned (the server stopped meanwhile): plan them now."""
        from sqlalchemy import select

        from orchestrator.store.models import Job
        from orchestrator.store.states import JobStatus

        with session_scope(self.settings) as s:
            ids = s.scalars(select(Job.id).where(Job.status == JobStatus.PENDING, Job.input_key.is_not(None),
                                                 Job.tenant.is_not(None))).all()
        for job_id in ids:
            self.plan(job_id)

    def plan(self, job_id: str) -> None:
        self.planner.submit(submit.plan_uploaded, self.settings, job_id, self.dispatcher)

    def _sweep(self) -> None:
        """Every second: due webhooks; every few seconds (distributed mode):
        stalled or orphaned API jobs (:mod:`orchestrator.service.janitor`)."""
        from orchestrator.dispatch import CeleryDispatcher
        from orchestrator.service.janitor import Janitor

        janitor = (Janitor(self.settings, self.dispatcher)
                   if isinstance(self.dispatcher, CeleryDispatcher) else None)
        ticks = 0
        while not self._stop.wait(1.0):
            ticks += 1
            try:
                webhooks.deliver_due(self.settings)
                if janitor is not None and ticks % 5 == 0:
                    janitor.tick()
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("service sweep")

    def stop(self) -> None:
        self._stop.set()
        self.planner.shutdown(wait=False, cancel_futures=True)
        self.dispatcher.close()

    def tenant(self, authorization: str | None) -> str:
        """Authenticate and rate-limit one request."""
        return self.admit(self.keys.tenant(authorization), authorization)

    def admit(self, who: str, authorization: str | None) -> str:
        """Rate-limit a request of an authenticated key (:class:`RateLimited` past its rate)."""
        wait = self.limiter.allow(authorization or "")
        if wait:
            raise RateLimited(wait)
        return who


def _spool(upload: UploadFile, folder: Path, name: str) -> submit.Upload:
    dest = folder / name
    with dest.open("wb") as f:
        shutil.copyfileobj(upload.file, f, 1 << 20)
    return submit.Upload(filename=upload.filename or name, path=dest)


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with a 413, by its
    Content-Length before reading it, or while it streams in."""

    def __init__(self, app: Callable[..., Any], limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self.too_big()(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message: dict[str, Any] = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise TooLarge("request body too large", field="body")
            return message

        try:
            await self.app(scope, counted, send)
        except TooLarge:
            await self.too_big()(scope, receive, send)

    def too_big(self) -> JSONResponse:
        """The 413 answer (made when needed, not for every request)."""
        return error(413, "too_large", f"the request body is over {self.limit} bytes "
                                       "(VOICECAST_API__MAX_UPLOAD_BYTES)", "body")


async def _tenant(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The request's tenant (401 without a valid key; 429 past its rate).

    Async, so that a key checked lately costs no trip to a worker thread
    (a synchronous dependency runs in the thread pool, one more hand-over
    per request besides the endpoint's); a key not checked lately is looked
    up in SQL in a worker thread."""
    service: Service = request.app.state.service
    who = service.keys.cached(authorization)
    if who is None:
        who = await run_in_threadpool(service.keys.tenant, authorization)
    return service.admit(who, authorization)


Tenant = Annotated[str, Depends(_tenant)]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    svc = Service(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(svc.start)
        try:
            yield
        finally:
            await run_in_threadpool(svc.stop)

    app = FastAPI(title="voicecast", version="1", lifespan=lifespan,
                  description="Long-form synthetic speech as a service: dubbing tracks and audiobooks "
                              "in cloned voices, rendered by a job queue.",
                  responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut},
                             429: {"model": ErrorOut}})
    app.state.service = svc

    @app.exception_handler(VoicecastError)
    async def _voicecast_error(_: Request, e: VoicecastError) -> JSONResponse:
        if isinstance(e, RateLimited):
            return error(429, "rate_limited", e.message, e.field,
                         headers={"Retry-After": str(max(1, round(e.retry_after)))})
        if isinstance(e, TooLarge):
            return error(413, "too_large", e.message, e.field)
        status, code = next((st, c) for cls, st, c in STATUS if isinstance(e, cls))
        field = e.field or (getattr(e, "file", None) and "input")
        return error(status, code, e.message, str(field) if field else None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0]
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "header", "path")]
        return error(422, "invalid", str(first.get("msg")), ".".join(loc) or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return error(e.status_code, {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "error"),
                     str(e.detail))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        from sqlalchemy import text

        from orchestrator.store.db import engine_for

        with engine_for(settings).connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "mode": "distributed" if settings.distributed else "embedded"}

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = STATIC / PurePath(name).name
        if not path.is_file():
            raise views.NotFound(f"no file {name!r}", field="name")
        return FileResponse(path)

    @app.post("/v1/jobs", status_code=202, response_model=Accepted)
    def create_job(who: Tenant,
                   input: Annotated[UploadFile, File(description="subtitles, script, book, or a video or "
                                                                  "audio file to dub")],
                   options: Annotated[str, Form(description="JSON: JobOptions")] = "{}",
                   reference: Annotated[UploadFile | None, File()] = None,
                   lexicon: Annotated[UploadFile | None, File()] = None,
                   subs: Annotated[list[UploadFile] | None, File(description="dub timelines")] = None,
                   bed: Annotated[UploadFile | None, File(description="music-and-effects stem")] = None,
                   idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
                   ) -> Accepted:
        opts = submit.parse_options(options)
        with tempfile.TemporaryDirectory(prefix="voicecast-upload-") as tmp:
            folder = Path(tmp)
            up = _spool(input, folder, "input")
            ref = _spool(reference, folder, "reference") if reference is not None else None
            lex = _spool(lexicon, folder, "lexicon") if lexicon is not None else None
            timelines = [_spool(part, folder, f"subs-{k}") for k, part in enumerate(subs or [])]
            stem = _spool(bed, folder, "bed") if bed is not None else None
            job_id, new = submit.accept(settings, who, up, ref, lex, opts, idempotency_key, svc.builtins,
                                        timelines, stem, facts=svc.dispatcher.facts())
        if new:
            svc.plan(job_id)
        with session_scope(settings) as s:
            job = views.owned_job(s, who, job_id)
            return Accepted(id=job.id, status=job.status, links=views.links(job.id))

    @app.get("/v1/jobs", response_model=JobList)
    def list_jobs(who: Tenant, status: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=views.MAX_PAGE)] = 20,
                  cursor: str | None = None) -> JobList:
        with session_scope(settings) as s:
            rows, nxt = views.list_jobs(s, who, status, limit, cursor)
            return JobList(jobs=[views.job_out(s, j) for j in rows], next_cursor=nxt)

    @app.get("/v1/jobs/{job_id}", response_model=JobOut)
    def get_job(who: Tenant, job_id: str) -> JobOut:
        with session_scope(settings) as s:
            return views.job_out(s, views.owned_job(s, who, job_id))

    @app.post("/v1/jobs/{job_id}/cancel", response_model=JobOut)
    def cancel_job(who: Tenant, job_id: str) -> JobOut:
        from orchestrator.store import jobs

        with session_scope(settings) as s:
            queued = jobs.cancel_job(s, views.owned_job(s, who, job_id))
        svc.dispatcher.cancel(job_id, queued)
        with session_scope(settings) as s:
            return views.job_out(s, views.owned_job(s, who, job_id))

    @app.get("/v1/jobs/{job_id}/events")
    async def events(who: Tenant, job_id: str) -> StreamingResponse:
        def snapshot() -> dict[str, Any]:
            with session_scope(settings) as s:
                return views.job_out(s, views.owned_job(s, who, job_id)).model_dump()

        first = await run_in_threadpool(snapshot)  # a 404 before the stream starts

        async def stream() -> AsyncIterator[str]:
            last: dict[str, Any] | None = None
            quiet = 0.0
            current = first
            while True:
                if last is None or current["status"] != last["status"]:
                    yield f"event: status\ndata: {json.dumps(current)}\n\n"
                if last is None or current["progress"] != last["progress"]:
                    yield f"event: progress\ndata: {json.dumps(current['progress'])}\n\n"
                    quiet = 0.0
                if current["status"] in FINAL:
                    return
                last = current
                await asyncio.sleep(0.5)
                quiet += 0.5
                if quiet >= 15.0:
                    yield ": keep-alive\n\n"
                    quiet = 0.0
                current = await run_in_threadpool(snapshot)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def _artifact(who: str, job_id: str, kind: str) -> tuple[str, str]:
        from orchestrator.store.models import Artifact
        from orchestrator.store.states import JobStatus

        with session_scope(settings) as s:
            job = views.owned_job(s, who, job_id)
            if job.status != JobStatus.DONE:
                raise JobError(f"job {job_id} is {job.status}; its output comes when it is done", field="id")
            art = next((a for a in s.query(Artifact).filter_by(job_id=job_id, kind=kind)), None)
            if art is None:
                raise views.NotFound(f"job {job_id} has no {kind!r} output", field="kind")
            return art.key, job.input_name

    @app.get("/v1/jobs/{job_id}/output", response_model=None, responses={302: {"description": "signed URL"}})
    def output(who: Tenant, job_id: str, kind: str = "output",
               accept: Annotated[str | None, Header()] = None) -> Response:
        """The file (local store), or a redirect to a signed URL (S3); with
        ``Accept: application/json``, that URL as ``{"url", "filename"}``
        instead: the web page plays it directly (a script cannot follow a
        redirect to a bucket that sends no CORS headers)."""
        key, name = _artifact(who, job_id, kind)
        store = get_store(settings)
        url = store.url(key)
        filename = f"{PurePath(name).stem or 'output'}{PurePath(key).suffix}"
        if url.startswith("file:"):
            return FileResponse(url2pathname(urlsplit(url).path), filename=filename)
        if "application/json" in (accept or ""):
            return JSONResponse({"url": url, "filename": filename})
        return RedirectResponse(url, status_code=302)

    @app.get("/v1/jobs/{job_id}/report", response_model=None)
    def report(who: Tenant, job_id: str, accept: Annotated[str | None, Header()] = None) -> Response:
        csv = "text/csv" in (accept or "")
        key, _ = _artifact(who, job_id, "fit_report_csv" if csv else "fit_report")
        data = get_store(settings).get_bytes(key)
        return Response(data, media_type="text/csv" if csv else "application/json")

    @app.post("/v1/voices", status_code=201)
    def add_voice(who: Tenant, name: Annotated[str, Form(max_length=100)],
                  consent: Annotated[str, Form(max_length=5000)],
                  clips: Annotated[list[UploadFile], File(description="reference clips")]) -> dict[str, Any]:
        from orchestrator import voices
        from orchestrator.voices import AUDIO_EXTS, check_voice_name

        bare = check_voice_name(name)
        if "@" in bare:
            raise InputError("a voice name must not contain '@'", field="name")
        with tempfile.TemporaryDirectory(prefix="voicecast-voice-") as tmp:
            paths = []
            for n, clip in enumerate(clips[:20]):
                ext = PurePath(submit.safe_name(clip.filename, "clip")).suffix.lower()
                if ext not in AUDIO_EXTS:
                    raise submit.UnsupportedInput(f"clip {clip.filename!r}: give audio files "
                                                  f"({', '.join(sorted(AUDIO_EXTS))})", field="clips")
                paths.append(_spool(clip, Path(tmp), f"clip{n + 1}{ext}").path)
            info = voices.add_voice(settings, submit.qualified(bare, who), paths, consent, svc.dispatcher,
                                    replace=True, actor=f"api tenant {who}")
        return voice_out(info, who)

    @app.get("/v1/voices")
    def list_voices(who: Tenant) -> dict[str, Any]:
        from orchestrator import voices

        mine = voices.list_voices(settings, name_suffix=submit.qualified("", who))
        return {"voices": [voice_out(v, who) for v in mine], "builtin": list(svc.builtins)}

    @app.get("/v1/languages")
    def list_languages(who: Tenant) -> dict[str, Any]:
        """The languages the engine speaks (BCP 47 tags and English names), for
        ``options.lang`` and ``options.speaker_langs``."""
        from voicecast.languages import parse_language

        facts = svc.dispatcher.facts()
        spoken = [{"tag": t, "name": parse_language(t, field=None).name} for t in facts.languages]
        return {"languages": spoken, "any_region": list(facts.any_region)}

    @app.get("/v1/voices/{name}")
    def show_voice(who: Tenant, name: str) -> dict[str, Any]:
        from orchestrator import voices

        try:
            info = voices.show_voice(settings, submit.qualified(name, who))
        except VoicecastError:
            raise views.NotFound(f"no voice {name!r}", field="name") from None
        return voice_out(info, who)

    @app.delete("/v1/voices/{name}")
    def delete_voice(who: Tenant, name: str) -> dict[str, Any]:
        from orchestrator import voices

        try:
            info = voices.remove_voice(settings, submit.qualified(name, who), force=True,
                                       actor=f"api tenant {who}")
        except VoicecastError:
            raise views.NotFound(f"no voice {name!r}", field="name") from None
        return {"removed": voice_out(info, who)["name"]}

    @app.post("/v1/audio/speech", response_model=None, responses={200: {"content": {"audio/mpeg": {}}}})
    def audio_speech(who: Tenant, req: SpeechRequest) -> Response:
        audio, sr = speech.speak(settings, who, req, svc.dispatcher, svc.builtins)
        return Response(audio, media_type=speech.MEDIA_TYPES[req.response_format],
                        headers={"X-Sample-Rate": str(sr)})

    app.add_middleware(BodyLimit, limit=settings.api.max_upload_bytes)
    return app


__all__ = ["create_app", "JobOptions"]
