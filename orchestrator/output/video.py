"""Assembly of a video or audio input's dubs: each dub's track laid out as a
subtitle track's is (:mod:`orchestrator.output.assembly`), mixed with the
original sound or a bed, brought to the loudness target, and muxed with the
source's picture, which is copied, never re-encoded.

The mix of a dub track (``--mix``):

- ``replace``: the dub alone.
- ``duck``: the original sound under the dub, lowered by ``duck_db`` while dub
  speech plays and restored between lines. The gain is an envelope track
  (:func:`duck_envelope`) built from where the speech was placed, so the
  fall ends as a line starts (a look-ahead no compressor can have) and the
  rise begins as it ends; ffmpeg multiplies the original by it
  (``amultiply``). Like the timeline, the envelope is a concat list of a
  few short files, so a film-length track costs neither memory nor disk.
- ``bed``: a music-and-effects stem under the dub, at its own level.

The dub is levelled to the target first, so its level against the original
or the bed does not depend on the voice; the mix is then measured and
normalised (two-pass EBU R128, linear) to the target preset.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orchestrator.inputs.media import DUB_CODEC, SUBTITLE_CODEC, MediaInfo, carried_subtitles, carries_audio
from orchestrator.output.assembly import (
    OUTPUT_FORMATS,
    SILENCE_CHUNK_S,
    Placement,
    parse_ebur128,
)
from orchestrator.output.outline import DubTrackOutline
from voicecast.audio import write_wav
from voicecast.languages import parse_language
from voicecast.media import run_ffmpeg, run_ffmpeg_stderr
from voicecast.settings import LoudnessSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    """A stretch of the envelope: ``kind`` is ``flat`` (``gain`` held) or
    ``ramp`` (from ``gain`` to ``to``), ``n`` samples long."""

    kind: str
    n: int
    gain: float
    to: float = 0.0


def speech_spans(placements: Sequence[Placement], ends: dict[int, int], sr: int,
                 to_sr: int) -> list[tuple[int, int]]:
    """Where dub speech plays, in samples at ``to_sr``: each placed clip from
    its start to its end (``ends``: its last sample + 1 at ``sr``). Pure."""
    out = []
    for p in placements:
        end = ends.get(p.idx, p.start)
        if end > p.start:
            out.append((round(p.start * to_sr / sr), round(end * to_sr / sr)))
    return out


def duck_envelope(spans: Sequence[tuple[int, int]], total: int, sr: int, *, depth_db: float,
                  attack_s: float, release_s: float, hold_s: float) -> list[Piece]:
    """The gain applied to the original sound under a dub, as pieces that add
    up to ``total`` samples. Pure.

    Unity between lines; ``10 ** (-depth_db / 20)`` while dub speech plays;
    a linear fall of ``attack_s`` ending where a line's speech starts and a
    linear rise of ``release_s`` starting where it ends. Lines closer than
    ``hold_s`` plus the two ramps stay under one dip (no pumping between
    close lines). A ramp cut short by the track's start or end is shortened.
    """
    low = 10.0 ** (-depth_db / 20.0)
    attack, release = round(attack_s * sr), round(release_s * sr)
    gap = round(hold_s * sr) + attack + release
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        a, b = max(0, a), min(total, b)
        if b <= a:
            continue
        if merged and a - merged[-1][1] < gap:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    pieces: list[Piece] = []
    cursor = 0
    for a, b in merged:
        fall_from = max(cursor, a - attack)
        if fall_from > cursor:
            pieces.append(Piece("flat", fall_from - cursor, 1.0))
        if a > fall_from:
            # A fall cut short starts part-way down, so the gain is continuous.
            start_gain = 1.0 - (1.0 - low) * (1.0 - (a - fall_from) / attack) if attack else low
            pieces.append(Piece("ramp", a - fall_from, start_gain, low))
        pieces.append(Piece("flat", b - a, low))
        rise = min(release, total - b)
        if rise > 0:
            end_gain = low + (1.0 - low) * (rise / release) if release else 1.0
            pieces.append(Piece("ramp", rise, low, end_gain))
        cursor = b + rise
    if total > cursor:
        pieces.append(Piece("flat", total - cursor, 1.0))
    return pieces


def write_envelope(pieces: Sequence[Piece], sr: int, workdir: Path) -> Path:
    """The envelope as an ffmpeg concat list of float WAVs: flat stretches are
    copies of one chunk file per gain (plus a short rest), ramps a file each
    (one per distinct ramp, shared)."""
    files: dict[tuple[float, float, int], Path] = {}

    def file_of(a: float, b: float, n: int) -> Path:
        if (a, b, n) not in files:
            path = workdir / f"env{len(files):05d}.wav"
            x = (np.full(n, a, np.float32) if a == b
                 else np.linspace(a, b, n, endpoint=False, dtype=np.float32))
            write_wav(path, x, sr, subtype="FLOAT")
            files[(a, b, n)] = path
        return files[(a, b, n)]

    chunk = SILENCE_CHUNK_S * sr
    entries: list[Path] = []
    for p in pieces:
        if p.kind == "ramp":
            entries.append(file_of(p.gain, p.to, p.n))
            continue
        whole, rest = divmod(p.n, chunk)
        entries += [file_of(p.gain, p.gain, chunk)] * whole if whole else []
        if rest:
            entries.append(file_of(p.gain, p.gain, rest))
    listing = workdir / "envelope.ffconcat"
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{e.name}'\n" for e in entries))
    return listing


@dataclass(frozen=True)
class MixInputs:
    """What one dub track is mixed from: the dub's timeline (a concat list),
    and for ``duck`` the source with its envelope, for ``bed`` the stem."""

    dub: Path
    total_s: float
    mode: str = "replace"
    under: Path | None = None
    envelope: Path | None = None


def _concat(path: Path) -> list[str]:
    return ["-f", "concat", "-safe", "0", "-i", str(path)]


def mix_args(m: MixInputs, dub_gain_db: float, sample_rate: int) -> tuple[list[str], str]:
    """ffmpeg's inputs and the filter graph (ending in ``[mix]``, stereo at
    ``sample_rate``, exactly ``total_s`` long) of one dub track. Pure."""
    stereo = f"aresample={sample_rate},aformat=sample_fmts=fltp:channel_layouts=stereo"
    fit = f"apad,atrim=0:{m.total_s:.6f}"
    args = _concat(m.dub)
    graph = f"[0:a]{stereo},volume={dub_gain_db:.3f}dB,{fit}[dub]"
    if m.mode == "replace" or m.under is None:
        return args, graph + ";[dub]anull[mix]"
    args += ["-i", str(m.under)]
    graph += f";[1:a:0]{stereo},{fit}[under]"
    if m.mode == "duck":
        if m.envelope is None:
            raise ValueError("duck needs its envelope")
        args += _concat(m.envelope)
        graph += f";[2:a]{stereo},{fit}[env];[under][env]amultiply[ducked]"
        under = "[ducked]"
    else:
        under = "[under]"
    return args, graph + f";[dub]{under}amix=inputs=2:duration=first:normalize=0[mix]"


def measure_graph(args: list[str], graph: str) -> dict[str, str]:
    """Pass one over a mix: its loudness, as
    :func:`~orchestrator.output.assembly.measure_loudness` gives a track's."""
    err = run_ffmpeg_stderr(["-v", "info", "-nostats", *args, "-filter_complex",
                             graph + ";[mix]ebur128=peak=true[out]", "-map", "[out]", "-f", "null", "-"])
    return parse_ebur128(err)


def gain_to(target: LoudnessSettings, measured: dict[str, str]) -> float:
    """The gain (dB) that brings a measured track to the target, capped so its
    true peak stays under the ceiling; 0 when it is not measurable."""
    i, tp = float(measured["input_i"]), float(measured["input_tp"])
    if not (math.isfinite(i) and math.isfinite(tp)):
        return 0.0
    return min(target.integrated_lufs - i, target.true_peak_db - tp)


def encode_track(m: MixInputs, dub_loudness: dict[str, str], target: LoudnessSettings,
                 out: Path, codec_args: list[str]) -> dict[str, str]:
    """Mix one dub track, measure the mix, and encode it normalised to the
    target (one linear gain, capped by the true-peak ceiling, so the duck's
    depth and the bed's level are kept exactly). Returns the mix's measurement."""
    args, graph = mix_args(m, gain_to(target, dub_loudness), target.sample_rate)
    measured = measure_graph(args, graph)
    gain = gain_to(target, measured)
    run_ffmpeg(["-v", "error", *args, "-filter_complex", graph + f";[mix]volume={gain:.3f}dB[out]",
                "-map", "[out]", "-ar", str(target.sample_rate), *codec_args, str(out)])
    return measured


def audio_codec_args(ext: str) -> list[str]:
    """Encoder arguments of a dub written as an audio file (``.wav .mp3 .m4a
    ...``: :data:`~orchestrator.output.assembly.OUTPUT_FORMATS`). A video's dub
    is kept lossless and encoded as it is muxed (:func:`mux_args`)."""
    fmt = OUTPUT_FORMATS[ext.lower()]
    out = ["-c:a", fmt["acodec"]]
    if "audio_bitrate" in fmt:
        out += ["-b:a", fmt["audio_bitrate"]]
    if "f" in fmt:
        out += ["-f", fmt["f"]]
    return out


def track_title(track: DubTrackOutline) -> str:
    """A dub track's title: its language and voice (``Spanish dub (voice jf_alpha)``)."""
    return f"{parse_language(track.lang).name} dub (voice {track.voice}, voicecast)"


def mux_args(info: MediaInfo, tracks: Sequence[tuple[DubTrackOutline, Path]], out: Path, *,
             keep_original: bool, subs: Sequence[tuple[DubTrackOutline, Path]] = (),
             bitrate: str = "192k") -> list[str]:
    """ffmpeg's arguments to write the dubbed video. Pure.

    The picture streams are copied; each dub is a track (mixed and levelled,
    lossless, encoded here in the container's codec, so the encoder's priming
    is written with it) tagged with its language in the
    container's ISO 639-2 form, titled with its voice, the first one the
    default; the original sound follows (copied, or re-encoded where the
    container cannot carry it) and is not the default; each dub's subtitles
    (``subs``) become a text track in its language; the source's subtitle
    streams are kept after them (Matroska: all of them and the attachments;
    MP4, QuickTime and WebM: the text ones, converted to the container's text
    format, with their language); chapters and global metadata are kept."""
    ext = out.suffix.lower()
    args: list[str] = ["-i", str(info.path)]
    for _, path in tracks:
        args += ["-i", str(path)]
    for _, path in subs:
        args += ["-i", str(path)]
    maps: list[str] = []
    for v in info.video:
        maps += ["-map", f"0:{v.index}"]
    for k in range(len(tracks)):
        maps += ["-map", f"{k + 1}:a:0"]
    originals = info.audio if keep_original else []
    for a in originals:
        maps += ["-map", f"0:{a.index}"]
    for k in range(len(subs)):
        maps += ["-map", f"{len(tracks) + 1 + k}:s:0"]
    # The source's subtitles (Matroska: all, with the attachments; elsewhere the
    # text ones, converted to the container's text format).
    kept = carried_subtitles(info, ext) if ext != ".mkv" else []
    for s in kept:
        maps += ["-map", f"0:{s.index}"]
    if ext == ".mkv":
        maps += ["-map", "0:s?", "-map", "0:t?"]
    codecs = ["-c", "copy"]
    encoder = "libopus" if DUB_CODEC[ext] == "opus" else DUB_CODEC[ext]
    for k in range(len(tracks)):
        codecs += [f"-c:a:{k}", encoder, f"-b:a:{k}", bitrate]
    for j, a in enumerate(originals):
        if not carries_audio(ext, a.codec):
            codecs += [f"-c:a:{len(tracks) + j}", encoder, f"-b:a:{len(tracks) + j}", bitrate]
    if subs or kept:
        codecs += ["-c:s", SUBTITLE_CODEC[ext]] if ext != ".mkv" else []
        for k in range(len(subs)):
            codecs += [f"-c:s:{k}", SUBTITLE_CODEC[ext]]
    meta: list[str] = []
    for k, (t, _) in enumerate(tracks):
        lang = parse_language(t.lang)
        meta += [f"-metadata:s:a:{k}", f"language={lang.container_code(ext)}",
                 f"-metadata:s:a:{k}", f"title={track_title(t)}",
                 # MP4 and QuickTime name a track by its handler: the same title.
                 f"-metadata:s:a:{k}", f"handler_name={track_title(t)}",
                 f"-disposition:a:{k}", "default" if k == 0 else "0"]
    for j, _a in enumerate(originals):
        meta += [f"-disposition:a:{len(tracks) + j}", "0"]
    for k, (t, _) in enumerate(subs):
        lang = parse_language(t.lang)
        meta += [f"-metadata:s:s:{k}", f"language={lang.container_code(ext)}",
                 f"-metadata:s:s:{k}", f"title={lang.name} (dub)", f"-disposition:s:{k}", "0"]
    flags = ["-movflags", "+faststart"] if ext in (".mp4", ".m4v", ".mov") else []
    return ["-v", "error", *args, *maps, *codecs, "-map_metadata", "0", "-map_chapters", "0", *meta,
            *flags, str(out)]
