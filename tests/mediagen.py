"""Generated media for video tests, and independent measurements of media files.

Test code, not project code: it runs ffmpeg/ffprobe directly (the project goes through
``voicecast.media``). Every generator writes the file it is given (``dest``) and returns its
path; intermediate files go to a temporary folder next to it. Everything is deterministic.

Generators:

- :func:`speech_and_tone_soundtrack` stereo 48 kHz WAV: real English speech (asterisk's
  Allison prompts, with pauses; laid out by :func:`speech_layout`) over a steady sine tone,
  the "background" a dub must keep.
- :func:`make_video` a small testsrc2 picture (H.264 + AAC in mp4/mov/mkv, VP9 + Opus in
  webm), optionally with text subtitle streams, chapters and a title.
- :func:`make_image_subtitle_video` an MKV whose subtitle stream is a bitmap one (PGS,
  VobSub or DVB), which no text tool can read.

Measurements: :func:`probe_json`, :func:`audio_tracks`, :func:`decode_stream`,
:func:`video_packet_md5s` (is the picture stream-copied, untouched?), :func:`tone_level_db`
(is the background tone still there, at its level, under the new speech?).
"""

from __future__ import annotations

import functools
import json
import struct
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

ALLISON = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
#: Sentence-long Allison prompts (1.4-4.5 s each), in the order the soundtrack uses them.
PROMPTS: tuple[str, ...] = (
    "cannot-complete-as-dialed", "all-circuits-busy-now", "check-number-dial-again",
    "conf-getpin", "agent-newlocation", "pls-hold-while-try", "please-try-call-later",
    "number-not-answering", "priv-callpending", "one-moment-please", "feature-not-avail-line",
    "conf-noempty", "auth-incorrect", "demo-echodone", "privacy-unident", "hello-world",
)
SOUNDTRACK_SR = 48000
#: Speech peak in the soundtrack (dBFS); with a -20 dBFS tone the mix never clips.
SPEECH_PEAK_DB = -6.0
#: Layout of the speech: first prompt at FIRST_S, PAUSE_S of tone alone between prompts,
#: at least TAIL_S of tone alone at the end.
FIRST_S, PAUSE_S, TAIL_S = 0.5, 0.8, 0.5

VideoContainer = Literal["mp4", "mov", "mkv", "webm"]
ImageSubtitleKind = Literal["pgs", "dvd", "dvb"]

#: Text subtitle codec each container takes.
TEXT_SUBTITLE_CODEC: dict[str, str] = {
    "mp4": "mov_text", "mov": "mov_text", "mkv": "srt", "webm": "webvtt",
}
#: ffprobe's codec_name of each image subtitle kind.
IMAGE_SUBTITLE_CODEC: dict[str, str] = {
    "pgs": "hdmv_pgs_subtitle", "dvd": "dvd_subtitle", "dvb": "dvb_subtitle",
}


# --------------------------------------------------------------------------- running tools

def _run(args: Sequence[str | Path]) -> bytes:
    """Run a tool; on failure raise with its stderr (so a test failure says why)."""
    proc = subprocess.run([str(a) for a in args], capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout


def _ffmpeg(*args: str | Path) -> None:
    _run(["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args])


def probe_json(path: Path) -> dict[str, Any]:
    """ffprobe's view of a file: ``{"format": {...}, "streams": [...], "chapters": [...]}``."""
    out = _run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters",
                "-of", "json", path])
    data: dict[str, Any] = json.loads(out)
    data.setdefault("streams", [])
    data.setdefault("chapters", [])
    return data


def _tag(stream: dict[str, Any], name: str) -> str | None:
    """A stream tag, whatever its case (Matroska writes ``DURATION``, mp4 ``language``)."""
    for k, v in stream.get("tags", {}).items():
        if k.lower() == name.lower():
            return str(v)
    return None


def _hms(text: str) -> float:
    """``"00:00:40.000000000"`` (a Matroska DURATION tag) in seconds."""
    h, m, s = text.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def stream_duration(stream: dict[str, Any], fmt: dict[str, Any] | None = None) -> float | None:
    """A stream's duration (s): its own ``duration``, else Matroska's DURATION tag, else
    the container's (``fmt``, ffprobe's format section)."""
    if "duration" in stream:
        return float(stream["duration"])
    tag = _tag(stream, "DURATION")
    if tag:
        return _hms(tag)
    if fmt and "duration" in fmt:
        return float(fmt["duration"])
    return None


def audio_tracks(path: Path) -> list[dict[str, Any]]:
    """Each audio stream's facts, in file order: ``index`` (absolute stream index),
    ``codec``, ``language`` and ``title`` (tags, None when absent; MP4 and QuickTime
    name a track by its handler, so there ``handler_name`` unless it is ffmpeg's
    default ``SoundHandler``), ``default`` (the disposition, bool), ``channels``,
    ``sample_rate`` and ``duration`` (s)."""
    info = probe_json(path)
    return [
        {
            "index": s["index"],
            "codec": s.get("codec_name"),
            "language": _tag(s, "language"),
            "title": _tag(s, "title") or (None if _tag(s, "handler_name") in (None, "SoundHandler")
                                          else _tag(s, "handler_name")),
            "default": bool(s.get("disposition", {}).get("default", 0)),
            "channels": s.get("channels"),
            "sample_rate": int(s["sample_rate"]) if "sample_rate" in s else None,
            "duration": stream_duration(s, info.get("format")),
        }
        for s in info["streams"] if s.get("codec_type") == "audio"
    ]


def decode_stream(path: Path, stream: str = "a:0", sr: int = 16000) -> np.ndarray:
    """One audio stream (an ffmpeg stream specifier within input 0) as mono float32 at ``sr``.

    Mono is the plain mean of the channels, done here: ffmpeg's own ``-ac 1`` downmix of
    stereo adds the channels at 1/sqrt(2) each, reading identical channels 3 dB hotter.
    """
    raw = _run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", f"0:{stream}",
                "-ar", str(sr), "-f", "f32le", "-c:a", "pcm_f32le", "-"])
    channels = _run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
                     "stream=channels", "-of", "csv=p=0", path]).split()[0]
    x = np.frombuffer(raw, "<f4")
    n = int(channels)
    return x[: x.size // n * n].reshape(-1, n).mean(axis=1).astype(np.float32)


def video_packet_md5s(path: Path, stream: str = "v:0") -> list[str]:
    """The MD5 of each packet of one stream, read by stream copy (ffmpeg's framemd5 muxer).

    Equal lists mean the packets are bit-identical, e.g. that a muxer copied the picture
    rather than re-encoding it (timestamps are not compared; remuxing may shift them)."""
    out = _run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", f"0:{stream}",
                "-c", "copy", "-f", "framemd5", "-"]).decode()
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines()
            if line.strip() and not line.startswith("#")]


# --------------------------------------------------------------------------- measurement

def tone_level_db(x: np.ndarray, sr: int, hz: float, t0: float, t1: float) -> float:
    """Level (dBFS, of the sine's peak amplitude) of a steady sine at ``hz`` in [t0, t1).

    The Hann-windowed discrete-time Fourier transform evaluated at exactly ``hz`` (so no
    scalloping loss whatever the window length): a sine of amplitude A reads 20*log10(A),
    e.g. a full-scale sine 0 dB. Narrowband: the main lobe is 4/(t1-t0) Hz wide and Hann
    sidelobes fall 18 dB/octave, so speech over the tone barely moves the figure for a
    window of a few seconds.
    """
    a, b = int(round(t0 * sr)), int(round(t1 * sr))
    seg = np.asarray(x[max(0, a): b], dtype=np.float64)
    if seg.size < 16:
        raise ValueError(f"window [{t0}, {t1}) holds {seg.size} samples")
    w = np.hanning(seg.size)
    n = np.arange(seg.size) + max(0, a)
    amp = 2 * abs(np.sum(seg * w * np.exp(-2j * np.pi * hz * n / sr))) / w.sum()
    return float(20 * np.log10(amp + 1e-12))


# --------------------------------------------------------------------------- soundtracks

@dataclass(frozen=True)
class SpeechClip:
    """One prompt placed in a soundtrack: its speech spans [start, end) seconds."""

    prompt: str
    start: float
    end: float


@functools.cache
def _prompt_audio(name: str) -> np.ndarray:
    """An Allison prompt at SOUNDTRACK_SR, trimmed to its speech (frames within 40 dB of
    its loudest 10 ms frame), scaled to peak SPEECH_PEAK_DB."""
    raw = _run(["ffmpeg", "-nostdin", "-v", "error", "-i", ALLISON / f"{name}.g722",
                "-ac", "1", "-ar", str(SOUNDTRACK_SR), "-f", "f32le", "-"])
    x = np.frombuffer(raw, "<f4").astype(np.float64)
    hop = SOUNDTRACK_SR // 100
    n = x.size // hop
    level = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    on = np.nonzero(level > level.max() - 40)[0]
    x = x[on[0] * hop: (on[-1] + 1) * hop]
    x *= 10 ** (SPEECH_PEAK_DB / 20) / np.abs(x).max()
    x.setflags(write=False)  # cached: shared by every caller
    return x


def speech_layout(seconds: float) -> list[SpeechClip]:
    """Where :func:`speech_and_tone_soundtrack` puts speech in a track of ``seconds``:
    PROMPTS in order (cycling), FIRST_S in, PAUSE_S apart, ending TAIL_S before the end
    at the latest. Pure given the prompts; the same every call."""
    clips: list[SpeechClip] = []
    t, i = FIRST_S, 0
    while True:
        name = PROMPTS[i % len(PROMPTS)]
        length = _prompt_audio(name).size / SOUNDTRACK_SR
        if t + length > seconds - TAIL_S:
            return clips
        clips.append(SpeechClip(name, round(t, 6), round(t + length, 6)))
        t += length + PAUSE_S
        i += 1


def speech_intervals(seconds: float) -> list[tuple[float, float]]:
    """The [start, end) seconds of speech in a soundtrack of ``seconds``."""
    return [(c.start, c.end) for c in speech_layout(seconds)]


def speech_and_tone_soundtrack(dest: Path, seconds: float, *, tone_hz: float = 997.0,
                               tone_db: float = -20.0, speech: bool = True) -> Path:
    """Write a stereo 48 kHz 16-bit WAV of ``seconds``: speech (see :func:`speech_layout`,
    centred: the same in both channels) over a steady sine at ``tone_hz`` with peak
    amplitude ``tone_db`` dBFS; ``speech=False``: the tone alone. Returns ``dest``.

    997 Hz is prime-ish to the usual frame and sample rates, so the tone lines up with
    no codec frame boundary."""
    n = int(round(seconds * SOUNDTRACK_SR))
    t = np.arange(n) / SOUNDTRACK_SR
    mix = 10 ** (tone_db / 20) * np.sin(2 * np.pi * tone_hz * t)
    if speech:
        for clip in speech_layout(seconds):
            x = _prompt_audio(clip.prompt)
            a = int(round(clip.start * SOUNDTRACK_SR))
            mix[a: a + x.size] += x[: n - a]
    pcm = np.round(np.clip(mix, -1, 1) * 32767).astype("<i2")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(dest), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SOUNDTRACK_SR)
        w.writeframes(np.repeat(pcm, 2).tobytes())
    return dest


# --------------------------------------------------------------------------- videos

def _chapters_ffmetadata(path: Path, seconds: float, title: str | None) -> None:
    """Three equal chapters ("Opening", "Middle", "Ending") in ffmetadata form."""
    ms = int(round(seconds * 1000))
    cuts = [0, ms // 3, 2 * ms // 3, ms]
    lines = [";FFMETADATA1"] + ([f"title={title}"] if title else [])
    for name, a, b in zip(("Opening", "Middle", "Ending"), cuts, cuts[1:], strict=False):
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={a}", f"END={b}", f"title={name}"]
    path.write_text("\n".join(lines) + "\n")


def make_video(dest: Path, *, seconds: float = 40.0, container: VideoContainer = "mp4",
               fps: int = 25, with_audio: bool = True, soundtrack: Path | None = None,
               subtitle_streams: Sequence[tuple[Path, str]] = (), chapters: bool = False,
               title: str | None = None, audio_language: str | None = "eng",
               size: str = "320x180") -> Path:
    """Write a test video to ``dest`` and return it.

    Picture: ffmpeg's testsrc2 (``size``, ``fps``), H.264 (libx264 ultrafast, yuv420p,
    a keyframe every 2 s) in mp4/mov/mkv, VP9 (realtime, cpu-used 8) in webm.
    Audio (``with_audio``): ``soundtrack`` (default :func:`speech_and_tone_soundtrack` of
    ``seconds``) as AAC (mp4/mov/mkv) or Opus (webm), tagged ``audio_language``.
    ``subtitle_streams``: (SRT file, ISO 639-2 language) pairs, each muxed as a text
    subtitle stream of the container's kind (TEXT_SUBTITLE_CODEC) with its language tag.
    ``chapters``: three equal chapters (mp4/mov: ffmpeg also writes them as a QuickTime
    chapter track, a ``bin_data`` data stream). ``title``: the global title tag.
    Dispositions: video and audio default, subtitles not.
    """
    if container not in TEXT_SUBTITLE_CODEC:
        raise ValueError(f"unknown container {container!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    webm = container == "webm"
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".mediagen-") as tmp:
        inputs: list[str | Path] = [
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}",
        ]
        maps: list[str] = ["-map", "0:v:0"]
        codecs: list[str | Path] = (
            ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "150k",
             "-row-mt", "1"]
            if webm else
            ["-c:v", "libx264", "-preset", "ultrafast"]
        )
        codecs += ["-g", str(2 * fps), "-pix_fmt", "yuv420p", "-disposition:v:0", "default"]
        n_in = 1
        if with_audio:
            if soundtrack is None:
                soundtrack = speech_and_tone_soundtrack(Path(tmp) / "soundtrack.wav", seconds)
            inputs += ["-i", soundtrack]
            maps += ["-map", f"{n_in}:a:0"]
            codecs += (["-c:a", "libopus", "-b:a", "96k"] if webm
                       else ["-c:a", "aac", "-b:a", "128k"])
            codecs += ["-disposition:a:0", "default"]
            if audio_language:
                codecs += ["-metadata:s:a:0", f"language={audio_language}"]
            n_in += 1
        for i, (srt, lang) in enumerate(subtitle_streams):
            inputs += ["-i", srt]
            maps += ["-map", f"{n_in}:s:0"]
            codecs += [f"-metadata:s:s:{i}", f"language={lang}", f"-disposition:s:{i}", "0"]
            n_in += 1
        if subtitle_streams:
            codecs += ["-c:s", TEXT_SUBTITLE_CODEC[container]]
        meta: list[str | Path] = []
        if chapters:
            ffmeta = Path(tmp) / "chapters.txt"
            _chapters_ffmetadata(ffmeta, seconds, title)
            inputs += ["-f", "ffmetadata", "-i", ffmeta]
            meta += ["-map_chapters", str(n_in)]
            n_in += 1
        else:
            meta += ["-map_chapters", "-1"]
        if title is not None:
            meta += ["-metadata", f"title={title}"]
        fmt = {"mkv": "matroska"}.get(container, container)
        _ffmpeg(*inputs, *maps, *codecs, *meta, "-t", str(seconds), "-f", fmt, dest)
    return dest


# --------------------------------------------------------------------------- image subtitles

def _pgs_segment(pts: float, kind: int, payload: bytes) -> bytes:
    """One PGS segment: "PG", PTS and DTS (90 kHz; DTS 0), type, size, payload."""
    return b"PG" + struct.pack(">IIBH", int(round(pts * 90000)), 0, kind, len(payload)) + payload


def _pgs_rle_line(width: int, color: int) -> bytes:
    """One RLE-coded line of ``width`` pixels of palette entry ``color`` plus end-of-line.
    (Codes: 00 10LLLLLL CC = L pixels (3..63) of colour CC; 00 00 = end of line.)"""
    assert 3 <= width <= 63 and color != 0
    return bytes([0x00, 0x80 | width, color, 0x00, 0x00])


def write_pgs_sup(dest: Path, cues: Sequence[tuple[float, float]], *, video_size: tuple[int, int]
                  = (320, 180), obj_size: tuple[int, int] = (8, 2)) -> Path:
    """Write a minimal valid PGS (.sup) stream: for each (start, end) cue, a display set
    showing one small white object near the bottom centre at ``start`` (PCS epoch start,
    WDS, PDS, ODS, END) and an empty one clearing it at ``end`` (PCS, WDS, END)."""
    vw, vh = video_size
    ow, oh = obj_size
    x, y = (vw - ow) // 2, vh - 20 - oh
    window = struct.pack(">BBHHHH", 1, 0, x, y, ow, oh)  # one window, id 0
    # palette id 0, version 0; entry 1 = white (Y=235, Cr=Cb=128), opaque
    palette = bytes([0, 0]) + bytes([1, 235, 128, 128, 255])
    rle = _pgs_rle_line(ow, 1) * oh
    obj_data = struct.pack(">HH", ow, oh) + rle
    ods = struct.pack(">HBB", 0, 0, 0xC0) + len(obj_data).to_bytes(3, "big") + obj_data
    out = bytearray()
    for number, (start, end) in enumerate(cues):
        # width, height, frame rate code, composition number, state, palette update, palette id
        shown = struct.pack(">HHBHBBBB", vw, vh, 0x10, 2 * number, 0x80, 0, 0, 1)
        shown += struct.pack(">HBBHH", 0, 0, 0x00, x, y)  # object 0 in window 0, not cropped
        out += _pgs_segment(start, 0x16, shown)
        out += _pgs_segment(start, 0x17, window)
        out += _pgs_segment(start, 0x14, palette)
        out += _pgs_segment(start, 0x15, ods)
        out += _pgs_segment(start, 0x80, b"")
        cleared = struct.pack(">HHBHBBBB", vw, vh, 0x10, 2 * number + 1, 0x00, 0, 0, 0)
        out += _pgs_segment(end, 0x16, cleared)
        out += _pgs_segment(end, 0x17, window)
        out += _pgs_segment(end, 0x80, b"")
    dest.write_bytes(bytes(out))
    return dest


def make_image_subtitle_video(dest: Path, kind: ImageSubtitleKind = "pgs", *,
                              seconds: float = 10.0, language: str = "eng",
                              with_audio: bool = True) -> Path:
    """Write an MKV (a :func:`make_video` of ``seconds``) with one bitmap subtitle stream
    of ``kind``, tagged ``language``, and return it. ffprobe's codec_name is
    IMAGE_SUBTITLE_CODEC[kind].

    ffmpeg cannot render text to bitmaps, so the PGS stream is crafted by hand
    (:func:`write_pgs_sup`) and stream-copied; "dvd" (VobSub) and "dvb" are ffmpeg's
    dvdsub/dvbsub encoders re-encoding that PGS stream (bitmap to bitmap it can do)."""
    if kind not in IMAGE_SUBTITLE_CODEC:
        raise ValueError(f"unknown image subtitle kind {kind!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".mediagen-") as tmp:
        video = make_video(Path(tmp) / "video.mkv", seconds=seconds, container="mkv",
                           with_audio=with_audio)
        cues = [(t, t + 1.5) for t in np.arange(1.0, seconds - 2.0, 3.0)]
        sup = write_pgs_sup(Path(tmp) / "subs.sup", cues)
        codec = {"pgs": "copy", "dvd": "dvdsub", "dvb": "dvbsub"}[kind]
        _ffmpeg("-copyts", "-i", video, "-fix_sub_duration", "-f", "sup", "-i", sup,
                "-map", "0", "-map", "1:s:0",
                "-c", "copy", "-c:s", codec, "-metadata:s:s:0", f"language={language}",
                "-disposition:s:0", "0",
                "-f", "matroska", dest)
    return dest
