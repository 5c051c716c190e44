"""Video and audio inputs: what a media file holds (ffprobe), which of its
subtitle streams a dub is timed by, and what an output container can carry.

A dub never re-encodes the picture, so what the source holds decides what the
output may be: :func:`check_container` refuses a container that cannot carry
the source's video codec (H.264 in WebM) before anything renders, naming the
codec and the containers that can.

``--subs stream:LANG`` / ``stream:INDEX`` select a text subtitle stream
(:func:`select_subtitle_stream`); its text is read out with ffmpeg
(:func:`subtitle_stream_text`) and parsed by the subtitle readers like a file.
Image subtitles (PGS, VobSub, DVB) carry pictures of text: they need OCR first,
and say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from orchestrator.files import regular_file
from voicecast.errors import InputError, OutputError
from voicecast.languages import Language, parse_language, same_language
from voicecast.settings import InputSettings, env_name

#: Input suffixes read as media (a video, or audio to re-voice) in dub mode.
MEDIA_FORMATS: tuple[str, ...] = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts",
    ".mp3", ".m4a", ".wav", ".flac", ".ogg", ".opus", ".oga", ".aac", ".mka",
)

#: Output suffixes that hold a picture (the source's video stream, copied).
VIDEO_CONTAINERS: tuple[str, ...] = (".mp4", ".m4v", ".mov", ".mkv", ".webm")

#: Subtitle codecs whose text ffmpeg can read out, and the format it is read as.
TEXT_SUBTITLES: dict[str, str] = {
    "subrip": "srt", "srt": "srt", "mov_text": "srt", "text": "srt", "ass": "ass", "ssa": "ass",
    "webvtt": "vtt",
}

#: Subtitle codecs that carry pictures of text.
IMAGE_SUBTITLES: dict[str, str] = {
    "hdmv_pgs_subtitle": "PGS (Blu-ray)", "dvd_subtitle": "VobSub (DVD)", "dvb_subtitle": "DVB",
    "xsub": "XSUB", "dvb_teletext": "teletext",
}

#: What each output container can carry without re-encoding (ffprobe codec
#: names): picture, sound, subtitles. Matroska carries anything ffmpeg writes.
_VIDEO_OK: dict[str, frozenset[str] | None] = {
    ".webm": frozenset({"vp8", "vp9", "av1"}),
    ".mp4": frozenset({"h264", "hevc", "av1", "vp9", "mpeg4", "mpeg2video", "mpeg1video", "mjpeg"}),
    ".m4v": frozenset({"h264", "hevc", "av1", "vp9", "mpeg4", "mpeg2video", "mpeg1video", "mjpeg"}),
    ".mov": frozenset({"h264", "hevc", "mpeg4", "mpeg2video", "mpeg1video", "mjpeg", "prores", "dnxhd",
                       "av1", "vp9", "png", "qtrle", "rawvideo"}),
    ".mkv": None,
}
_AUDIO_OK: dict[str, frozenset[str] | None] = {
    ".webm": frozenset({"opus", "vorbis"}),
    ".mp4": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus", "mp2"}),
    ".m4v": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus", "mp2"}),
    ".mov": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le", "pcm_f32le",
                       "pcm_s16be", "pcm_s24be", "mp2"}),
    ".mkv": None,
}
#: The subtitle codec a container's text track is written in.
SUBTITLE_CODEC: dict[str, str] = {".mp4": "mov_text", ".m4v": "mov_text", ".mov": "mov_text",
                                  ".mkv": "srt", ".webm": "webvtt"}
#: The codec a dub track is encoded in, per container (audio outputs: assembly's own table).
DUB_CODEC: dict[str, str] = {".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "opus"}


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a media file, as ffprobe reports it. ``index`` is its
    absolute index (``Stream #0:3`` in ffmpeg's output, ``stream:3`` here)."""

    index: int
    kind: str
    codec: str
    language: str | None = None
    title: str | None = None
    default: bool = False
    attached_pic: bool = False
    channels: int | None = None
    sample_rate: int | None = None

    def describe(self) -> str:
        """``#3 subrip, spa "Spanish"``: for messages and listings."""
        bits = [f"#{self.index} {self.codec}"]
        if self.language:
            bits.append(self.language)
        if self.title:
            bits.append(repr(self.title))
        return ", ".join(bits)


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds: its length, picture rate and streams."""

    path: Path
    format_name: str
    duration_s: float
    #: The first picture stream's frame rate (``None``: no picture).
    fps: Fraction | None
    streams: tuple[StreamInfo, ...]
    chapters: int = 0

    @property
    def video(self) -> list[StreamInfo]:
        """Picture streams (cover art excluded)."""
        return [s for s in self.streams if s.kind == "video" and not s.attached_pic]

    @property
    def audio(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == "audio"]

    @property
    def subtitles(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == "subtitle"]

    @property
    def frame_ms(self) -> float | None:
        """One frame's length in milliseconds (``None``: no picture)."""
        return 1000.0 / float(self.fps) if self.fps else None


def _fps(stream: dict[str, Any]) -> Fraction | None:
    for key in ("avg_frame_rate", "r_frame_rate"):
        try:
            rate = Fraction(str(stream.get(key) or "0/0"))
        except (ValueError, ZeroDivisionError):
            continue
        if 0 < rate < 1000:
            return rate
    return None


def media_info(path: Path, data: dict[str, Any]) -> MediaInfo:
    """A :class:`MediaInfo` from ffprobe's JSON (``-show_format -show_streams
    -show_chapters``). Pure. Raises :class:`InputError` naming ``path`` for a
    file with no audio or picture stream, or no usable length."""
    streams: list[StreamInfo] = []
    fps: Fraction | None = None
    lengths: list[float] = []
    for s in data.get("streams") or []:
        tags = {str(k).lower(): str(v) for k, v in (s.get("tags") or {}).items()}
        disp = s.get("disposition") or {}
        kind = str(s.get("codec_type") or "data")
        lang = tags.get("language")
        info = StreamInfo(
            index=int(s.get("index", len(streams))), kind=kind, codec=str(s.get("codec_name") or "unknown"),
            language=None if not lang or lang == "und" else lang, title=tags.get("title") or None,
            default=bool(disp.get("default")), attached_pic=bool(disp.get("attached_pic")),
            channels=int(s["channels"]) if s.get("channels") else None,
            sample_rate=int(s["sample_rate"]) if s.get("sample_rate") else None,
        )
        streams.append(info)
        if kind == "video" and not info.attached_pic and fps is None:
            fps = _fps(s)
        if kind in ("video", "audio") and not info.attached_pic:
            try:
                lengths.append(float(s.get("duration") or "nan"))
            except ValueError:
                pass
    fmt = data.get("format") or {}
    try:
        duration = float(fmt.get("duration") or "nan")
    except ValueError:
        duration = math.nan
    if not math.isfinite(duration):
        duration = max((x for x in lengths if math.isfinite(x)), default=math.nan)
    media = MediaInfo(path=path, format_name=str(fmt.get("format_name") or ""), duration_s=duration,
                      fps=fps, streams=tuple(streams), chapters=len(data.get("chapters") or []))
    if not media.video and not media.audio:
        raise InputError("holds no picture or sound stream (not a video or audio file)", file=path)
    if not math.isfinite(duration) or duration <= 0:
        raise InputError("has no length ffprobe can read (a damaged or truncated file?)", file=path)
    return media


def probe_media(path: Path, limits: InputSettings) -> MediaInfo:
    """Probe a media input: a regular file under ``inputs.max_media_bytes``
    that ffprobe reads. Raises :class:`InputError` naming the file otherwise
    (a damaged or truncated file, a text file renamed ``.mp4``)."""
    import json

    from voicecast.media import run_tool

    regular_file(path, what="input file", max_bytes=limits.max_media_bytes,
                 setting=env_name("inputs", "max_media_bytes"))
    proc = run_tool("ffprobe", ["-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                                "-show_chapters", str(path)])
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = why[-1].split(": ", 1)[-1] if why else f"ffprobe exited with {proc.returncode}"
        raise InputError(f"not a readable video or audio file ({reason})", file=path)
    try:
        data = json.loads(proc.stdout or b"{}")
    except ValueError:
        raise InputError("not a readable video or audio file (ffprobe's answer is not JSON)",
                         file=path) from None
    return media_info(path, data)


def check_decodes(info: MediaInfo, seconds: float = 2.0) -> None:
    """Decode the first ``seconds`` of every picture and sound stream: a file
    whose header reads fine but whose data is damaged fails here, before any
    work, not when it is muxed. Raises :class:`InputError` naming the file."""
    from voicecast.media import run_tool

    proc = run_tool("ffmpeg", ["-nostdin", "-v", "error", "-xerror", "-t", f"{seconds:g}", "-i",
                               str(info.path), "-map", "0:v?", "-map", "0:a?", "-f", "null", "-"])
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError("is damaged: ffmpeg cannot decode it"
                         + (f" ({why[-1].split('] ')[-1]})" if why else ""), file=info.path)


def select_subtitle_stream(info: MediaInfo, spec: str) -> StreamInfo:
    """The subtitle stream ``stream:LANG`` or ``stream:INDEX`` names: by
    absolute stream index (as ``ffprobe`` lists it), or the first stream in that
    language (``spa``, ``es`` and ``es-MX`` all match a ``spa`` stream; a
    ``default`` one first). Raises :class:`InputError` naming the input and
    listing its subtitle streams when none matches, and for an image-based one
    (which needs OCR first)."""
    want = spec.split(":", 1)[1].strip() if ":" in spec else spec.strip()
    subs = info.subtitles
    listed = "; ".join(s.describe() for s in subs) or "none"
    if want.isdigit():
        found = next((s for s in info.streams if s.index == int(want)), None)
        if found is None or found.kind != "subtitle":
            what = "no stream" if found is None else f"stream #{want} is {found.kind}, not subtitles"
            raise InputError(f"--subs {spec}: {what}; its subtitle streams: {listed}", file=info.path)
    else:
        try:
            lang: Language = parse_language(want, field="--subs")
        except InputError:
            raise InputError(f"--subs {spec}: {want!r} is neither a stream index nor a language code; "
                             f"its subtitle streams: {listed}", file=info.path) from None
        matches = sorted((s for s in subs if same_language(lang, s.language)), key=lambda s: not s.default)
        if not matches:
            raise InputError(f"--subs {spec}: no subtitle stream in {lang.name}; its subtitle streams: "
                             f"{listed}", file=info.path)
        found = matches[0]
    if found.codec in IMAGE_SUBTITLES:
        kind = IMAGE_SUBTITLES[found.codec]
        text = "; ".join(s.describe() for s in subs if s.codec in TEXT_SUBTITLES)
        raise InputError(f"--subs {spec}: subtitle stream {found.describe()} is {kind} "
                         "images of text, not text; run OCR on it first (e.g. Subtitle Edit) and give "
                         "the result with --subs FILE.srt"
                         + (f", or choose a text stream: {text}" if text else ""), file=info.path)
    if found.codec not in TEXT_SUBTITLES:
        raise InputError(f"--subs {spec}: subtitle stream {found.describe()} is not a text format "
                         f"voicecast reads ({', '.join(sorted(set(TEXT_SUBTITLES)))}); extract it to "
                         "a file and give it with --subs FILE", file=info.path)
    return found


def subtitle_stream_text(info: MediaInfo, stream: StreamInfo, limits: InputSettings) -> tuple[str, str]:
    """The text of a subtitle stream, read out by ffmpeg, and its format
    (``srt``, ``ass`` or ``vtt``, for :func:`~orchestrator.inputs.subtitles.parse_subtitles_text`).
    ASS keeps its styles and actors; mov_text and plain text come out as SubRip.
    Raises :class:`InputError` naming the stream when it cannot be read or is
    larger than ``inputs.max_text_bytes``."""
    from voicecast.media import run_tool

    fmt = TEXT_SUBTITLES[stream.codec]
    muxer = {"srt": "srt", "ass": "ass", "vtt": "webvtt"}[fmt]
    proc = run_tool("ffmpeg", ["-nostdin", "-v", "error", "-i", str(info.path), "-map", f"0:{stream.index}",
                               "-c:s", "copy" if fmt == "ass" else ("webvtt" if fmt == "vtt" else "srt"),
                               "-f", muxer, "pipe:1"])
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"subtitle stream {stream.describe()} cannot be read"
                         + (f" ({why[-1].split('] ')[-1]})" if why else ""), file=info.path)
    if len(proc.stdout) > limits.max_text_bytes:
        raise InputError(f"subtitle stream {stream.describe()} holds more than "
                         f"{limits.max_text_bytes >> 20} MiB of text", file=info.path)
    return proc.stdout.decode("utf-8", "replace"), fmt


def carries_audio(ext: str, codec: str) -> bool:
    """Whether a container (by its suffix) carries sound in ``codec`` as it is."""
    ok = _AUDIO_OK.get(ext.lower())
    return ok is None or codec in ok


def carried_subtitles(info: MediaInfo, ext: str) -> list[StreamInfo]:
    """The source's subtitle streams a ``ext`` output keeps: all of them in
    Matroska (as they are); elsewhere the text ones, converted to the
    container's text format (image ones cannot be)."""
    if ext.lower() == ".mkv":
        return list(info.subtitles)
    return [s for s in info.subtitles if s.codec in TEXT_SUBTITLES]


def check_container(out: Path, info: MediaInfo, *, keep_original: bool) -> list[str]:
    """Refuse, before any work, an output container that cannot carry the
    source's picture (never re-encoded) and say which can; returns warnings
    for what the container will not keep as it is (image subtitle streams
    outside Matroska, which are left out; text ones, converted to the
    container's text format; original sound it cannot carry, which is
    re-encoded).
    Raises :class:`OutputError` naming the output."""
    ext = out.suffix.lower()
    if ext not in VIDEO_CONTAINERS:
        raise OutputError(f"{ext or '(none)'} holds no picture; a dubbed video is written as "
                          + ", ".join(VIDEO_CONTAINERS), file=out)
    warnings: list[str] = []
    for v in info.video:
        ok = _VIDEO_OK[ext]
        if ok is not None and v.codec not in ok:
            can = [c for c, allowed in _VIDEO_OK.items() if allowed is None or v.codec in allowed]
            raise OutputError(f"a {ext} file cannot carry the source's {v.codec} video (the picture is "
                              f"copied, never re-encoded); write {' or '.join(can)}", file=out)
    if keep_original:
        for a in info.audio:
            if not carries_audio(ext, a.codec):
                warnings.append(f"{info.path}: the original sound ({a.describe()}) cannot be carried in "
                                f"{ext} as it is; it is re-encoded as {DUB_CODEC[ext]}")
    if ext != ".mkv":
        carried = carried_subtitles(info, ext)
        images = [s for s in info.subtitles if s not in carried]
        converted = [s for s in carried if s.codec != SUBTITLE_CODEC[ext]]
        if images:
            warnings.append(f"{info.path}: its {len(images)} image subtitle stream(s) "
                            f"({', '.join(sorted({IMAGE_SUBTITLES.get(s.codec, s.codec) for s in images}))}) "
                            f"are not carried into {ext} (a .mkv output keeps them)")
        if converted:
            warnings.append(f"{info.path}: its {len(converted)} text subtitle stream(s) are converted to "
                            f"{SUBTITLE_CODEC[ext]} for {ext} (styling is lost; a .mkv output keeps them "
                            "as they are)")
    return warnings
