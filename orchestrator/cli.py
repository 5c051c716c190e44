"""The ``voicecast`` command line.

User errors (``VoicecastError``) print one line naming the file, line or field
and exit with status 2; nothing half-written is left at the output path.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from orchestrator.store.states import FINAL, JobStatus, SegmentStatus
from voicecast.errors import InputError, OutputError, VoicecastError
from voicecast.settings import Settings, get_settings
from voicecast.storage import get_store
from voicecast.timing import STAGES

if TYPE_CHECKING:
    from orchestrator.options import RenderOptions
    from orchestrator.preview import Preview

log = logging.getLogger("voicecast")
#: Statuses a job ends in.
TERMINAL = FINAL
err = Console(stderr=True, soft_wrap=True)


def _summary(settings: Settings, job_id: str) -> dict[str, Any]:
    from orchestrator.output.outline import BookOutline
    from orchestrator.store import jobs
    from orchestrator.store.db import session_scope

    with session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        segs = list(job.segments)
        outline = BookOutline.from_stored(job.book)
        # Signed now, on every read: SQL keeps keys only, a stored URL would have expired.
        store = get_store(settings)
        arts = {a.kind: store.url(a.key) for a in job.artifacts}
        errors = sorted(abs(g.error_ms) for g in segs if g.error_ms is not None)
        rates = [g.rate for g in segs if g.rate is not None]
        done = [g for g in segs if g.status == SegmentStatus.DONE]
        return {
            "job_id": job.id,
            "status": JobStatus(job.status),
            "error": job.error,
            "input": job.input_name,
            # Only a recorded delivery names a local file: a failed or never-tried copy does not.
            "output": job.delivered_path if job.status == JobStatus.DONE else None,
            "delivery_error": job.delivery_error if job.status == JobStatus.DONE else None,
            "output_url": arts.get("output"),
            "fit_report_url": arts.get("fit_report"),
            "duration_s": job.duration_s,
            "segments": len(segs),
            "rendered": sum(1 for g in done if not g.cache_hit),
            "reused": sum(1 for g in done if g.cache_hit),
            "warnings": job.warnings,
            "kind": job.kind,
            "chapters": [c.model_dump() for c in outline.assembled] if outline else [],
            "voices": dict(Counter(g.speaker or "narrator" for g in segs)),
            "emotions": dict(Counter(g.emotion.split(":")[0] for g in segs)),
            "fit": {
                "segments_fitted": sum(1 for g in segs if g.rate is not None and g.end_s > g.start_s),
                "in_slot": sum(1 for g in segs if g.rate is not None and g.end_s > g.start_s
                               and not g.overflow and (g.borrowed_s or 0) <= 0
                               and (g.target_s or 0) >= (g.end_s - g.start_s) - 1e-3),
                "padded": sum(1 for g in segs if g.target_s is not None and g.end_s > g.start_s
                              and g.target_s < (g.end_s - g.start_s) - 1e-3),
                "overflows": sum(1 for g in segs if g.overflow),
                "borrowed": sum(1 for g in segs if (g.borrowed_s or 0) > 0),
                "mean_rate": round(statistics.fmean(rates), 3) if rates else None,
                "p50_error_ms": errors[len(errors) // 2] if errors else None,
                "max_error_ms": errors[-1] if errors else None,
            },
        }


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    out = Console(soft_wrap=True)
    if summary["status"] == JobStatus.DONE:
        fit = summary["fit"]
        state = "[yellow]done, not delivered[/]" if summary["delivery_error"] else "[green]done[/]"
        out.print(f"{state} job {summary['job_id']}: {summary['rendered']} of "
                  f"{summary['segments']} segments rendered, rest reused; "
                  f"{summary['duration_s']:.1f} s of audio")
        chapters = summary["chapters"]
        if chapters:
            rebuilt = sum(1 for c in chapters if not c["reused"])
            out.print(f"  chapters: {len(chapters)} ({rebuilt} assembled, "
                      f"{len(chapters) - rebuilt} reused)")
            for n, c in enumerate(chapters, 1):
                out.print(f"    {n:2d}. {escape(c['title'])}  starts {c['start_s']:.3f} s, "
                          f"{c['duration_s']:.1f} s, {c['segments']} segments"
                          + ("" if c["reused"] else "  (assembled)"))
        if len(summary["voices"]) > 1:
            voices = sorted(summary["voices"].items())
            out.print("  lines by voice: " + ", ".join(f"{escape(str(k))} {v}" for k, v in voices))
        if fit["segments_fitted"]:
            out.print(f"  fit: {fit['in_slot']} in their slot, {fit['padded']} short lines padded, "
                      f"{fit['borrowed']} borrowed gap time, {fit['overflows']} overflowed; "
                      f"mean rate {fit['mean_rate']}, max error {fit['max_error_ms']} ms")
        emo = {k: v for k, v in summary["emotions"].items() if k != "neutral"}
        if emo:
            out.print("  emotions: " + ", ".join(f"{escape(str(k))} {v}" for k, v in sorted(emo.items())))
        if summary["output"]:
            out.print(f"  output: {escape(summary['output'])}")
            if chapters:
                folder = Path(summary["output"]).with_name(Path(summary["output"]).stem + ".chapters")
                out.print(f"  chapter files (MP3 for ACX, FLAC masters): {escape(str(folder))}")
        if summary["delivery_error"]:
            out.print(f"  [yellow]not delivered[/]: {escape(summary['delivery_error'])}; write it again "
                      f"with `voicecast resume {summary['job_id']} --out PATH`")
        if summary["output_url"]:
            out.print(f"  output url: {escape(summary['output_url'])}")
        out.print(f"  fit report: {escape(str(summary['fit_report_url']))}")
        for w in summary["warnings"] or []:
            out.print(f"  [yellow]warning[/]: {escape(w)}")
    else:
        done = summary["rendered"] + summary["reused"]
        # The error is user text (a subtitle line, a file name): never read as markup.
        out.print(f"job {summary['job_id']}: {summary['status']}, {done}/{summary['segments']} segments"
                  + (f" — {escape(summary['error'])}" if summary["error"] else ""), highlight=False)


def _follow(settings: Settings, job_id: str, dispatcher: Any, quiet: bool) -> None:
    """Drive/follow a job to the end, with a progress bar unless quiet."""
    from orchestrator.store import jobs
    from orchestrator.store.db import session_scope

    def snapshot() -> jobs.Progress:
        with session_scope(settings) as s:
            return jobs.progress(s, job_id)

    if quiet:
        dispatcher.drive(job_id, lambda: None)
        return
    first = snapshot()
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("segments · {task.fields[audio]} audio"), TimeElapsedColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), console=err, transient=False,
    ) as bar:
        task = bar.add_task("rendering", total=first.total, audio="0.0 s")

        def tick() -> None:
            p = snapshot()
            status = JobStatus(p.status)
            desc = status.value if status in (JobStatus.ASSEMBLING, *TERMINAL) else "rendering"
            if status == JobStatus.RENDERING and p.done == p.total:
                desc = "assembling"
            bar.update(task, completed=p.done, description=desc,
                       audio=(f"{p.audio_s_done:.1f}/{p.audio_s_total:.1f} s" if p.audio_s_total
                              else f"{p.audio_s_done:.1f} s"))

        dispatcher.drive(job_id, tick)


def _finish(settings: Settings, job_id: str, out: Path | None, as_json: bool) -> int:
    """Deliver a done job's output to ``out`` and print its summary. A failed
    copy is recorded on the job (``status`` shows it) and raised as the one-line
    :class:`OutputError` (exit 2) after the summary."""
    from orchestrator.output import finish

    summary = _summary(settings, job_id)
    failed: OutputError | None = None
    if summary["status"] == JobStatus.DONE and out is not None:
        try:
            finish.deliver(settings, job_id, out)
        except OutputError as e:
            failed = e
    summary = _summary(settings, job_id)
    _print_summary(summary, as_json)
    if failed is not None:
        raise failed
    if summary["status"] != JobStatus.DONE:
        if not as_json:
            err.print(f"[red]error[/]: {escape(str(summary['error']))}", highlight=False)
        return 1
    return 0


def _render_options(args: argparse.Namespace, kind: str, *, voice_required: bool = True) -> RenderOptions:
    """The validated :class:`RenderOptions` of ``render`` (and ``plan``) arguments."""
    from orchestrator.options import RenderOptions, pair_dubs, split_lexicons, split_speaker_langs
    from orchestrator.voices import split_narrators
    from voicecast.languages import parse_language

    langs, speaker_langs = split_speaker_langs(list(args.lang or []))
    lexicon, lang_lexicons = split_lexicons(list(args.lexicon or []))
    voices, dubs, lang = list(args.voice or []), [], None
    if kind == "media":
        narrators, characters = split_narrators(voices)
        dubs = pair_dubs(list(args.subs or []), args.timeline, narrators, langs,
                         voice_required=voice_required)
        voices = [dubs[0].voice, *characters] if dubs and dubs[0].voice else voices
        lang = dubs[0].lang if dubs else None
    elif args.subs or args.timeline:
        raise InputError("--subs and --timeline time a video or audio input; this input is the "
                         "timeline itself", field="--subs" if args.subs else "--timeline")
    elif len(langs) > 1:
        raise InputError("one --lang for a job (several are for the dubs of a video)", field="--lang")
    elif langs:
        lang = parse_language(langs[0]).tag
    media = dict(dubs=dubs, lang=lang, mix="bed" if args.bed and args.mix is None else args.mix or "replace",
                 bed=str(Path(args.bed).expanduser().resolve()) if args.bed else None,
                 original=args.original, mux_subs=bool(args.mux_subs), loudness=args.loudness,
                 duck_db=args.duck_db)
    return RenderOptions.from_cli(
        voice_required=voice_required, **media,
        duration=args.duration, mode="audiobook" if kind == "audiobook" else "dub",
        voices=voices, emotion=args.emotion, emotion_map=list(args.emotion_map or []),
        ignore_unknown_tags=bool(args.ignore_unknown_tags), styles=list(args.styles or []),
        strict_tags=bool(args.strict_tags), brackets=args.brackets,
        lexicon=lexicon, lang_lexicons=lang_lexicons, speaker_langs=speaker_langs,
        clip_dir=str(Path(args.clip_dir).expanduser().resolve()) if args.clip_dir else None,
        unmapped=args.unmapped, cover=args.cover, title=args.title, author=args.author,
        front_matter=bool(args.front_matter), back_matter=bool(args.back_matter), notes=args.notes,
    )


def cmd_render(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator import render
    from orchestrator.dispatch import dispatcher_for
    from orchestrator.store import jobs
    from orchestrator.store.db import ensure_schema

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    _own_tempdir(settings)
    if args.detach and not settings.distributed:
        raise VoicecastError("--detach needs distributed mode (set VOICECAST_QUEUE__BROKER_URL)",
                             field="--detach")
    inp, out = Path(args.input), Path(args.out)
    kind = render.job_kind(inp, args.mode)
    options = _render_options(args, kind)
    job_id = render.create_job(settings, inp, out, options, kind=kind, priority=args.priority)
    dispatcher = dispatcher_for(settings)
    try:
        with jobs.failing_job(settings, job_id):
            # Everything delivery needs is checked before any segment renders.
            render.check_output_path(out, kind)
            if kind == "audiobook" and options.cover:
                render.check_cover(options.cover)
            if not inp.is_file():
                raise InputError("input file not found", file=inp)
            _check_lexicons(options)
        dispatcher.warm()  # worker processes start while the input is parsed and planned
        with _enroll_bar(quiet=args.json) as on_progress, STAGES.stage("plan"):
            specs = render.plan_job(settings, job_id, inp, dispatcher, options, on_progress)
        with STAGES.stage("dispatch"):
            render.dispatch(settings, job_id, specs, dispatcher)
        if args.detach:
            print(job_id)
            return 0
        with STAGES.stage("assembly"):  # waiting and recording are stages of their own
            _follow(settings, job_id, dispatcher, quiet=args.json)
    finally:
        dispatcher.close()
    try:
        with STAGES.stage("deliver"):
            return _finish(settings, job_id, out, args.json)
    finally:
        # Where this process spent its time, for bench/bench_orchestration.py (-v).
        logging.getLogger("orchestrator.stages").info("%s", STAGES.line())


def _check_lexicons(options: RenderOptions) -> None:
    """Every ``--lexicon`` file is there (read and bounded when the job is planned)."""
    for path, _lang in options.lexicon_files():
        if not Path(path).is_file():
            raise InputError("lexicon file not found", file=path)


def _own_tempdir(settings: Settings) -> None:
    """Embedded mode assembles in this process: work in a temporary folder of
    its own (see :mod:`voicecast.localfs`), cleaning what killed runs left."""
    if not settings.distributed:
        from voicecast.localfs import claim_process_tempdir

        claim_process_tempdir()


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    """Parse and plan without rendering or storing anything (see :mod:`orchestrator.preview`)."""
    from orchestrator import render
    from orchestrator.dispatch import dispatcher_for
    from orchestrator.preview import preview
    from orchestrator.store.db import ensure_schema

    inp = Path(args.input)
    kind = render.job_kind(inp, args.mode)
    options = _render_options(args, kind, voice_required=False)
    if not inp.is_file():
        raise InputError("input file not found", file=inp)
    _check_lexicons(options)
    if args.voice:
        ensure_schema(settings, auto_upgrade=not settings.distributed)  # stored voices are looked up
    dispatcher = dispatcher_for(settings)
    try:
        result = preview(settings, inp, options, dispatcher)
    finally:
        dispatcher.close()
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_preview(result)
    return 0


def _print_preview(p: Preview) -> None:
    out = Console(soft_wrap=True, highlight=False)
    what = {"audiobook": "book", "script": "script", "dub": "subtitle track",
            "media": "video or audio to dub"}.get(p.kind, p.kind)
    head = f"[bold]{escape(p.input)}[/]: {what}, {len(p.segments)} segments"
    if p.chapters:
        head += f" in {len(p.chapters)} chapters"
    if p.duration_s:
        head += f", {p.duration_s:.1f} s track"
    out.print(head)
    if p.title:
        out.print(f"  title: {escape(p.title)}" + (f"; author: {escape(p.author)}" if p.author else ""))
    if p.voices:
        out.print("  voices: " + ", ".join(f"{escape(k)}={escape(v)}" for k, v in p.voices.items()))
    # Each line's language is shown where the job is not in English alone.
    several = p.language != "en" or any(g.language != p.language for g in p.segments)
    if several:
        out.print(f"  language: {escape(p.language)}")
    starts = {c.first: (n, c) for n, c in enumerate(p.chapters, 1)}
    for g in p.segments:
        if g.idx in starts:
            n, c = starts[g.idx]
            out.print(f"\n[bold]{n}. {escape(c.title)}[/] ({c.segments} segments)")
        where = (f"{g.start_s:8.3f}-{g.end_s:8.3f}" if g.start_s is not None and g.end_s is not None
                 else f"line {g.source_line}" if g.source_line else "")
        voice = g.speaker or "narrator"
        if g.voice:
            voice += f" ({g.voice})"
        emotion = g.emotion if g.emotion == "neutral" else f"{g.emotion}:{g.intensity:g}"
        if several:
            emotion += f" · {g.language}"
        fit = ""
        if g.predicted_s is not None:
            fit = f"  {g.predicted_s:.2f} s"
            if g.rate is not None and g.start_s is not None:
                fit += f" rate {g.rate:.2f}"
            if g.overflow:
                fit += f" [red]OVERFLOW {g.overflow_s:.2f} s[/]"
            elif g.fast:
                fit += " [yellow]fast[/]"
        out.print(f"  {g.idx + 1:4d} {where}  {escape(f'[{voice} · {emotion}]')}{fit}  {escape(g.text)}")
    flagged = p.flagged()
    if p.predicted:
        over = [g for g in flagged if g.overflow]
        out.print(f"\npredicted: {len(flagged)} line(s) need more than the comfortable rate, "
                  f"{len(over)} of them overflow (cut)"
                  + (": " + ", ".join(str(g.idx + 1) for g in flagged) if flagged else ""))
    if p.warnings:
        out.print(f"\n{len(p.warnings)} warning(s):")
        for w in p.warnings:
            out.print(f"  [yellow]warning[/]: {escape(w)}")


@contextmanager
def _enroll_bar(quiet: bool) -> Iterator[Callable[[dict[str, Any] | None], None] | None]:
    """A progress bar fed by an enrollment's progress records; it appears with
    the first record (so nothing shows when no enrollment runs). None when quiet."""
    if quiet:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]enrolling voice"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True,
    )
    task = bar.add_task("waiting for a worker", total=None)

    def update(p: dict[str, Any] | None) -> None:
        if not bar.live.is_started:
            bar.start()
        if p is not None:
            bar.update(task, total=max(1, int(p.get("total") or 1)),
                       completed=int(p.get("done") or 0), description=escape(str(p.get("note") or "")))

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


def cmd_voice_add(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator import voices
    from orchestrator.dispatch import dispatcher_for
    from orchestrator.store.db import ensure_schema

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    dispatcher = dispatcher_for(settings)
    try:
        with _enroll_bar(quiet=args.json) as on_progress:
            info = voices.add_voice(settings, args.name, [Path(r) for r in args.refs], args.consent,
                                     dispatcher, on_progress, replace=args.replace)
    finally:
        dispatcher.close()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        Console(soft_wrap=True).print(
            f"[green]enrolled[/] voice {escape(repr(info['name']))} v{info['version']}: {info['method']}, "
            f"similarity {info['similarity']}, {info['speech_s']:.1f} s of speech from "
            f"{len(info['reference']['clips'])} clip(s)", highlight=False)
    return 0


def cmd_voice_list(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator import voices
    from orchestrator.store.db import ensure_schema

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    found = voices.list_voices(settings)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    table = Table("name", "version", "method", "similarity", "speech s", "created", box=None)
    for v in found:
        speech = v.get("speech_s") or (v.get("reference") or {}).get("speech_s")
        table.add_row(escape(v["name"]), str(v["version"]), escape(str(v.get("method") or "-")),
                      _num(v.get("similarity"), ".3f"), _num(speech, ".1f"),
                      (v["created_at"] or "")[:16].replace("T", " "))
    Console(soft_wrap=True).print(table if found else "no voices enrolled")
    return 0


def _num(x: Any, fmt: str) -> str:
    return "-" if x is None else format(float(x), fmt)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """Print or save a finished job's fit report (JSON, or CSV with --csv)."""
    from orchestrator.store import jobs
    from orchestrator.store.db import ensure_schema, session_scope

    ensure_schema(settings, auto_upgrade=False)
    kind = "fit_report_csv" if args.csv else "fit_report"
    with session_scope(settings) as s:
        job = jobs.get_job(s, args.job)
        art = next((a for a in job.artifacts if a.kind == kind), None)
        if art is None:
            raise VoicecastError(f"job {job.id} is {job.status}; no fit report yet", field="job")
        key = art.key
    data = get_store(settings).get_bytes(key)
    if args.out:
        Path(args.out).write_bytes(data)
        err.print(f"fit report written to {escape(args.out)}", highlight=False)
    else:
        sys.stdout.write(data.decode())
    return 0


def cmd_voice_show(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator import voices
    from orchestrator.store.db import ensure_schema

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    info = voices.show_voice(settings, args.name)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    out = Console(soft_wrap=True, highlight=False)
    e = escape  # every value below is user text or derived from it: none is markup
    if info.get("removed"):
        out.print(f"[bold]{e(info['name'])}[/]: removed; no version is enrolled now")
    else:
        out.print(f"[bold]{e(info['name'])}[/] (id {e(info['id'])}), version {info['version']}, "
                  f"engine {e(str(info['engine']))}")
        out.print(f"  profile: {e(info['profile_key'])}")
        out.print(f"  enrollment: {e(str(info.get('method')))}, similarity {info.get('similarity')}")
        out.print(f"  consent: {e(info['consent'] or '(none recorded)')}"
                  + (f" (given {info['consent_at']})" if info.get("consent_at") else ""))
        out.print(f"  created: {info['created_at']}"
                  + (f", this version enrolled {info['enrolled_at']}" if info.get("enrolled_at") else ""))
        ref = info.get("reference") or {}
        out.print(f"  reference: {ref.get('speech_s')} s of speech, sha256 {info['source_sha256']}")
        for c in ref.get("clips") or []:
            out.print(f"    {e(c['file'])}: {c['speech_s']} s speech, peak {c['peak_db']} dBFS, "
                      f"rms {c['rms_db']} dBFS, clipped {c['clipped_ratio']:.4%}, sha256 {c['sha256'][:16]}")
    history = info.get("history") or []
    out.print(f"  consent trail ({len(history)} event(s)):" if history else "  consent trail: none recorded")
    for h in history:
        who = f" by {e(h['actor'])}" if h.get("actor") else ""
        if h["event"] == "enrolled":
            consent = e(h["consent"] or "(none)")
            out.print(f"    {h['at']}  v{h['version']} enrolled{who}; consent: {consent}; "
                      f"reference sha256 {h['reference_sha256'] or '-'}")
        else:
            out.print(f"    {h['at']}  {e(h['event'])}{who} (versions up to v{h['version']})")
    return 0


def cmd_voice_rm(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator import voices
    from orchestrator.store.db import ensure_schema

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    info = voices.remove_voice(settings, args.name, force=args.force)
    err.print(f"removed voice {escape(repr(info['name']))} ({info['version']} version(s)); its consent "
              f"trail is kept (`voicecast voice show {escape(info['name'])}`)", highlight=False)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator.store.db import ensure_schema

    ensure_schema(settings, auto_upgrade=False)
    summary = _summary(settings, args.job)
    _print_summary(summary, args.json)
    return 1 if summary["status"] == JobStatus.FAILED or summary["delivery_error"] else 0


def cmd_wait(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator.dispatch import CeleryDispatcher

    if not settings.distributed:
        raise VoicecastError("nothing runs a job in the background in embedded mode; "
                             "continue it with `voicecast resume JOB`", field="wait")
    job_id = _job_id(settings, args.job)
    if args.out:
        from orchestrator.render import check_output_path

        check_output_path(Path(args.out), _job_kind(settings, job_id))
    _follow(settings, job_id, CeleryDispatcher(settings), quiet=args.json)
    return _finish(settings, job_id, Path(args.out) if args.out else _job_out(settings, job_id),
                   args.json)


def cmd_resume(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator import render
    from orchestrator.dispatch import dispatcher_for
    from orchestrator.store.db import ensure_schema

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    _own_tempdir(settings)
    job_id = _job_id(settings, args.job)
    if args.out:
        render.check_output_path(Path(args.out), _job_kind(settings, job_id))
    dispatcher = dispatcher_for(settings)
    try:
        what = render.resume(settings, job_id, dispatcher)
        if not args.json:
            err.print(f"job {job_id}: {what}")
        if what != JobStatus.DONE:
            _follow(settings, job_id, dispatcher, quiet=args.json)
    finally:
        dispatcher.close()
    return _finish(settings, job_id, Path(args.out) if args.out else _job_out(settings, job_id),
                   args.json)


def _job_id(settings: Settings, prefix: str) -> str:
    from orchestrator.store import jobs
    from orchestrator.store.db import session_scope

    with session_scope(settings) as s:
        return jobs.get_job(s, prefix).id


def _job_kind(settings: Settings, job_id: str) -> str:
    from orchestrator.store import jobs
    from orchestrator.store.db import session_scope

    with session_scope(settings) as s:
        return str(jobs.get_job(s, job_id).kind)


def cmd_check_acx(args: argparse.Namespace, settings: Settings) -> int:
    """Measure audio files against ACX's requirements; exit 1 if any fails."""
    from voicecast.acx import format_report, measure_acx

    reports = [measure_acx(Path(f)) for f in args.files]
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        for r in reports:
            Console(soft_wrap=True, highlight=False).print(escape(format_report(r)))
    return 0 if all(r.ok for r in reports) else 1


def _job_out(settings: Settings, job_id: str) -> Path | None:
    from orchestrator.store import jobs
    from orchestrator.store.db import session_scope

    with session_scope(settings) as s:
        p = jobs.get_job(s, job_id).output_path
    return Path(p) if p else None


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.distributed:
        raise VoicecastError("a worker needs a broker: set VOICECAST_QUEUE__BROKER_URL",
                             field="queue.broker_url")
    from voicecast.localfs import claim_process_tempdir

    claim_process_tempdir()  # a worker starting cleans what killed ones left (its processes: their own)
    concurrency = args.concurrency or (os.cpu_count() or 1)
    if args.queue == "synth" and not settings.engine.threads:
        # Share the cores between the pool's processes instead of oversubscribing.
        os.environ["VOICECAST_ENGINE__THREADS"] = str(max(1, (os.cpu_count() or 1) // concurrency))
        get_settings.cache_clear()
    from orchestrator.dispatch import load_tasks
    from voicecast.celery_app import app

    load_tasks(args.queue)
    queue = {"synth": settings.queue.synth_queue, "assemble": settings.queue.assemble_queue}[args.queue]
    argv = ["worker", "-Q", queue, "-c", str(concurrency), "--loglevel", args.loglevel, "-E",
            "--without-gossip", "--without-mingle"]
    if args.hostname:
        argv += ["-n", args.hostname]
    app.worker_main(argv)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from orchestrator.service.app import create_app

    err.print(f"voicecast serving on http://{args.host}:{args.port}/ "
              f"({'distributed' if settings.distributed else 'embedded'} mode; API docs at /docs)")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=10)
    return 0


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator.service import tenants
    from orchestrator.store.db import ensure_schema

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    key = tenants.create_key(settings, args.tenant)
    secret = tenants.webhook_secret(settings, args.tenant)
    if args.json:
        print(json.dumps({"tenant": args.tenant, "key": key, "webhook_secret": secret}))
    else:
        print(key)
        err.print(f"key for tenant {escape(args.tenant)} (shown once; store it now). Webhooks are signed "
                  f"with the tenant's secret: {secret}", highlight=False)
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from orchestrator.service import tenants
    from orchestrator.store.db import ensure_schema

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    found = tenants.list_keys(settings, args.tenant)
    if args.json:
        print(json.dumps([asdict(k) for k in found], indent=2))
        return 0
    table = Table("tenant", "key", "created", "revoked", box=None)
    for k in found:
        table.add_row(escape(k.tenant), k.prefix + "...", k.created_at, k.revoked_at or "-")
    Console(soft_wrap=True).print(table if found else "no keys")
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator.service import tenants
    from orchestrator.store.db import ensure_schema

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    k = tenants.revoke_key(settings, args.key)
    err.print(f"revoked key {k.prefix}... of tenant {escape(k.tenant)}", highlight=False)
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from orchestrator.store import jobs
    from orchestrator.store.db import ensure_schema, session_scope
    from orchestrator.store.models import Job, iso

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    with session_scope(settings) as s:
        q = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(max(1, args.limit))
        if args.status:
            q = q.where(Job.status == args.status)
        if args.tenant:
            q = q.where(Job.tenant == args.tenant)
        rows: list[dict[str, Any]] = []
        for j in s.scalars(q):
            p = jobs.progress(s, j.id)
            rows.append({"id": j.id, "status": j.status, "kind": j.kind, "tenant": j.tenant,
                         "priority": j.priority, "done": p.done, "total": p.total,
                         "created_at": iso(j.created_at), "input": j.input_name})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table("job", "status", "kind", "segments", "priority", "tenant", "created", "input", box=None)
    for r in rows:
        table.add_row(r["id"][:12], r["status"], r["kind"], f"{r['done']}/{r['total']}", str(r["priority"]),
                      escape(r["tenant"] or "-"), r["created_at"][:19].replace("T", " "),
                      escape(Path(r["input"]).name))
    Console(soft_wrap=True).print(table if rows else "no jobs")
    return 0


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator.dispatch import CeleryDispatcher
    from orchestrator.store import jobs
    from orchestrator.store.db import ensure_schema, session_scope

    ensure_schema(settings, auto_upgrade=not settings.distributed)
    with session_scope(settings) as s:
        job = jobs.get_job(s, args.job)
        job_id, runner = job.id, job.runner
        queued = jobs.cancel_job(s, job)
    if runner == "celery" and settings.distributed:
        CeleryDispatcher(settings).cancel(job_id, queued)
    # An embedded render or service sees the state and drops the job's work itself.
    err.print(f"job {job_id}: cancelled")
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator.store.db import current_revision, upgrade

    upgrade(settings)
    err.print(f"database at revision {current_revision(settings)}")
    return 0


def _add_render_options(r: argparse.ArgumentParser, *, plan: bool = False) -> None:
    """The input and the options of ``render`` that shape the plan, shared by
    ``plan`` (which takes them all; ``--voice`` is optional there)."""
    r.add_argument("input", help="subtitle file (.srt, .vtt, .ass), plain script (.txt, a line each), "
                                 "book (.epub, .md, or .txt with --mode audiobook), or a video or audio "
                                 "file to dub (with --subs or --timeline asr)")
    r.add_argument("--mode", choices=["dub", "audiobook"], default=None,
                   help="dub: timed to subtitles or a line-per-segment script (default for .srt .vtt "
                        ".ass .txt); audiobook: chapters to M4B + chapter MP3s (default for .epub .md)")
    r.add_argument("--voice", required=not plan, action="append", metavar="[NAME=]VOICE",
                   help="the narrator's voice (enrolled name, built-in voice such as jm_kumo, or a "
                        "reference recording); NAME=VOICE maps a character, ASS actor or WebVTT "
                        "speaker; repeatable")
    r.add_argument("--lexicon", action="append", metavar="[LANG=]FILE",
                   help="pronunciation lexicon: WORD = respelling or WORD = /phonemes/ per line, "
                        "[lang:TAG] sections for one language's lines; LANG=FILE: a file for one "
                        "language's lines (repeatable)")
    r.add_argument("--clip-dir", default=None, metavar="DIR",
                   help="folder of the [like:CLIP] clips (default: the input's folder); "
                        "clips outside it are refused")
    r.add_argument("--unmapped", choices=["error", "narrator"], default="error",
                   help="a character with no --voice: an error (default) or read by the narrator")
    r.add_argument("--cover", default=None, metavar="IMAGE", help="audiobook cover (.jpg, .png)")
    r.add_argument("--title", default=None, help="audiobook title (default: from the book)")
    r.add_argument("--author", default=None, help="audiobook author (default: from the book)")
    r.add_argument("--front-matter", action="store_true",
                   help="books (EPUB): also read the front matter (title page, copyright, dedication, "
                        "preface...), skipped by default")
    r.add_argument("--back-matter", action="store_true",
                   help="books (EPUB): also read the back matter (appendices, index, colophon...), "
                        "skipped by default")
    r.add_argument("--notes", choices=("skip", "paragraph", "chapter"), default="skip",
                   help="books (EPUB): footnotes and endnotes are skipped (default), or read after the "
                        "paragraph that refers to them, or at the end of its chapter")
    r.add_argument("--duration", type=float, default=None,
                   help="track length in seconds (default: the last cue's end)")
    r.add_argument("--workers", type=int, default=None, help="local worker processes (embedded mode)")
    r.add_argument("--emotion", default=None, metavar="EMOTION[:INTENSITY]",
                   help="emotion of lines without a tag (default neutral); e.g. calm or sad:0.5")
    r.add_argument("--emotion-map", action="append", metavar="NAME=EMOTION[:INTENSITY]",
                   help="emotion for an ASS style or a speaker (ASS actor, WebVTT <v Name>); repeatable")
    tags = r.add_mutually_exclusive_group()
    tags.add_argument("--ignore-unknown-tags", action="store_true",
                      help="read misspelt tags such as [hapy] as text too (sound descriptions in "
                           "subtitles), not errors")
    tags.add_argument("--strict-tags", action="store_true",
                      help="an unknown [word] at the start of a line is an error, not a sound "
                           "description or stage direction (scripts written for voicecast)")
    r.add_argument("--brackets", choices=("skip", "speak"), default="skip",
                   help="books: bracketed text that is not a tag ([1], [sic], stage directions) is "
                        "skipped (default) or read")
    v = r.add_argument_group("video and audio inputs (docs/video.md)")
    v.add_argument("--subs", action="append", metavar="FILE|stream:LANG|stream:INDEX",
                   help="a dub's timeline: a subtitle file, or a text subtitle stream of the input by "
                        "language (stream:spa) or index (stream:3); repeat for several dubs, one audio "
                        "track each (pair each with its --voice and --lang, in order)")
    v.add_argument("--timeline", choices=("subs", "asr"), default=None,
                   help="asr: the timeline and text from the input's own speech (English, Whisper); "
                        "the SRT is handed back beside the output to edit and render again")
    v.add_argument("--lang", action="append", metavar="[NAME=]BCP47",
                   help="the job's language (en, es, pt-BR; default: what the input says, else en); "
                        "for a video, the dub's, tagged on its track (one per --subs, or one for all); "
                        "NAME=TAG: a character's lines in that language (repeatable)")
    v.add_argument("--mix", choices=("replace", "duck", "bed"), default=None,
                   help="the dub track: the dub alone (replace, default), the original sound lowered "
                        "under dub speech (duck), or a music-and-effects stem under it (bed, with --bed)")
    v.add_argument("--bed", default=None, metavar="FILE",
                   help="music-and-effects stem mixed under the dub (implies --mix bed)")
    v.add_argument("--duck-db", type=float, default=None, metavar="DB",
                   help="how far --mix duck lowers the original under dub speech (default 18)")
    v.add_argument("--original", choices=("keep", "drop"), default="keep",
                   help="the original sound: kept as a second track (default) or dropped")
    v.add_argument("--mux-subs", action="store_true",
                   help="also mux each dub's subtitles as a text track in its language")
    v.add_argument("--loudness", choices=("web", "broadcast"), default=None,
                   help="loudness target: web (-16 LUFS, default) or broadcast (EBU R128, -23 LUFS)")
    r.add_argument("--styles", type=_style_names, default=None, metavar="NAME,NAME|all",
                   help="ASS/SSA styles to speak, or all (default: every style but signs, songs, titles "
                        "and typeset signs)")


def _style_names(value: str) -> list[str]:
    """``--styles``: comma-separated style names (ASS style names hold no commas)."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give style names separated by commas, or all")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="voicecast", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("-v", "--verbose", action="count", default=0)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="render a subtitle track into a dubbing track, or a book "
                                      "into an audiobook")
    _add_render_options(r)
    r.add_argument("--out", required=True,
                   help="output file: .wav .m4a .aac .mp3 .flac (dub), .m4b (audiobook), "
                        ".mp4 .mkv .mov .webm (a dubbed video)")
    r.add_argument("--json", action="store_true", help="print a JSON summary instead of progress")
    r.add_argument("--detach", action="store_true", help="submit and print the job id (distributed)")
    r.add_argument("--priority", type=int, default=0,
                   help="higher is released to the workers first (distributed mode; default 0)")
    r.set_defaults(func=cmd_render)

    pl = sub.add_parser("plan", help="parse and plan an input as render would, without rendering or "
                                     "storing anything; with --voice, predict each line's length")
    _add_render_options(pl, plan=True)
    pl.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    pl.set_defaults(func=cmd_plan)

    for name, fn, hlp in (("status", cmd_status, "show a job"), ("wait", cmd_wait, "follow a job to its end"),
                          ("resume", cmd_resume, "continue an interrupted or failed job")):
        q = sub.add_parser(name, help=hlp)
        q.add_argument("job", help="job id (or a unique prefix of 8 or more characters)")
        q.add_argument("--json", action="store_true")
        if name in ("wait", "resume"):
            q.add_argument("--out", default=None, help="where to write the output (default: as rendered); "
                                                       "resume delivers a done job's output again")
        q.set_defaults(func=fn)

    rp = sub.add_parser("report", help="print or save a finished job's fit report")
    rp.add_argument("job", help="job id (or a unique prefix of 8 or more characters)")
    rp.add_argument("--csv", action="store_true", help="CSV instead of JSON")
    rp.add_argument("--out", default=None, help="write to this file instead of standard output")
    rp.set_defaults(func=cmd_report)

    ca = sub.add_parser("check-acx", help="measure audio files against ACX's audio requirements")
    ca.add_argument("files", nargs="+", metavar="FILE")
    ca.add_argument("--json", action="store_true")
    ca.set_defaults(func=cmd_check_acx)

    w = sub.add_parser("worker", help="run a Celery worker (distributed mode)")
    w.add_argument("--queue", choices=["synth", "assemble"], required=True)
    w.add_argument("--concurrency", type=int, default=0)
    w.add_argument("--hostname", default=None)
    w.add_argument("--loglevel", default="INFO")
    w.set_defaults(func=cmd_worker)

    v = sub.add_parser("voice", help="enrolled voices: add, list, show, rm")
    vsub = v.add_subparsers(dest="voice_command", required=True)
    va = vsub.add_parser("add", help="enroll a voice from reference clips (again, with --replace: "
                                     "a new version)")
    va.add_argument("name", help="the voice's name, used as `render --voice NAME`")
    va.add_argument("refs", nargs="+", metavar="REF_AUDIO",
                    help="reference clips of one speaker (3-30 s of speech in all)")
    va.add_argument("--consent", required=True,
                    help="who agreed to have this voice cloned, and for what (stored with it)")
    va.add_argument("--replace", action="store_true",
                    help="enroll an existing name again (a new version; the earlier consent stays on record)")
    va.add_argument("--json", action="store_true", help="print the stored voice as JSON")
    va.set_defaults(func=cmd_voice_add)
    vl = vsub.add_parser("list", help="list enrolled voices")
    vl.add_argument("--json", action="store_true")
    vl.set_defaults(func=cmd_voice_list)
    vs = vsub.add_parser("show", help="everything stored about a voice, and its name's consent trail "
                                      "(every version's consent, removals)")
    vs.add_argument("name")
    vs.add_argument("--json", action="store_true")
    vs.set_defaults(func=cmd_voice_show)
    vr = vsub.add_parser("rm", help="remove a voice and its profiles (its consent trail stays)")
    vr.add_argument("name")
    vr.add_argument("--force", action="store_true",
                    help="remove it (without: say what removal costs, and remove nothing)")
    vr.set_defaults(func=cmd_voice_rm)

    sv = sub.add_parser("serve", help="run the HTTP API and web page (embedded: with a local worker pool)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sv.add_argument("--workers", type=int, default=None, help="local worker processes (embedded mode)")
    sv.set_defaults(func=cmd_serve)

    k = sub.add_parser("keys", help="API keys of the HTTP service: create, list, revoke")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", help="make a key for a tenant (printed once; only its hash is stored)")
    kc.add_argument("tenant", help="the tenant (lowercase letters, digits, - and _)")
    kc.add_argument("--json", action="store_true", help='print {"tenant", "key", "webhook_secret"}')
    kc.set_defaults(func=cmd_keys_create)
    kl = ksub.add_parser("list", help="list keys (their prefixes) and tenants")
    kl.add_argument("--tenant", default=None)
    kl.add_argument("--json", action="store_true")
    kl.set_defaults(func=cmd_keys_list)
    kr = ksub.add_parser("revoke", help="revoke a key (whole, or the prefix `keys list` shows)")
    kr.add_argument("key")
    kr.set_defaults(func=cmd_keys_revoke)

    jl = sub.add_parser("jobs", help="list jobs, newest first")
    jl.add_argument("--status", default=None, choices=[st.value for st in JobStatus])
    jl.add_argument("--tenant", default=None, help="only this API tenant's jobs")
    jl.add_argument("--limit", type=int, default=20)
    jl.add_argument("--json", action="store_true")
    jl.set_defaults(func=cmd_jobs)

    cj = sub.add_parser("cancel", help="cancel a job that has not ended (nothing more renders; no output)")
    cj.add_argument("job", help="job id (or a unique prefix of 8 or more characters)")
    cj.set_defaults(func=cmd_cancel)

    d = sub.add_parser("db", help="database schema")
    d.add_argument("action", choices=["upgrade"])
    d.set_defaults(func=cmd_db)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr,
    )
    try:
        # A bad VOICECAST_* value is a SettingsError (a VoicecastError): one line, exit 2.
        settings = get_settings()
        if getattr(args, "workers", None):
            settings = settings.model_copy(update={"workers": args.workers})
        code: int = args.func(args, settings)
        return code
    except VoicecastError as e:
        err.print(f"[red]error[/]: {escape(str(e))}", highlight=False)
        return e.exit_code
    except KeyboardInterrupt:
        err.print("interrupted; continue with `voicecast resume JOB`")
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`voicecast plan --json | head`): not an error
        # of ours; point stdout at /dev/null so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
