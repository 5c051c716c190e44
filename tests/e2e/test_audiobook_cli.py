"""Audiobooks end to end through the CLI (embedded mode): the bundled example
book to an M4B with chapters, ACX-conformant chapter files, character voices,
the lexicon, resuming after everything is killed, and bad input.

Every figure is checked by an independent measurement (ffprobe, ffmpeg's
astats and silencedetect, the speaker encoder on the stored segment audio),
not by the code that made it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
BOOK = REPO / "examples" / "fables.md"
LEXICON = REPO / "examples" / "fables.lexicon"
NARRATOR, CHARACTERS = "jm_kumo", {"Fox": "jf_alpha", "Tortoise": "jf_nezumi", "Hare": "jf_gongitsune"}
VOICE_ARGS = ["--voice", f"narrator={NARRATOR}",
              *[a for name, v in CHARACTERS.items() for a in ("--voice", f"{name}={v}")]]
TITLES = ["Three Fables of Aesop", "The Fox and the Grapes", "The Crow and the Pitcher",
          "The Hare and the Tortoise"]

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def fresh_env(root: Path) -> dict[str, str]:
    data = root / "voicecast-data"
    data.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    env.update(VOICECAST_DATA_DIR=str(data), VOICECAST_WORKERS="2", PYTHONUNBUFFERED="1")
    return env


def query(env: dict[str, str], sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db") as c:
        return c.execute(sql, args).fetchall()


def render_book(env: dict[str, str], out: Path, *extra: str) -> dict:
    res = cli(env, "render", str(BOOK), *VOICE_ARGS, "--lexicon", str(LEXICON), "--out", str(out),
              "--json", *extra)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("book")
    env = fresh_env(root)
    out = root / "fables.m4b"
    cover = root / "cover.png"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=darkgreen:s=64x64",
                    "-frames:v", "1", str(cover)], check=True)
    summary = render_book(env, out, "--cover", str(cover))
    return env, out, summary


def ffprobe(path: Path) -> dict:
    res = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-show_streams",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def chapter_files(out: Path, ext: str) -> list[Path]:
    return sorted((out.parent / f"{out.stem}.chapters").glob(f"*{ext}"))


def test_m4b_chapters_titles_starts_and_tags(book):
    env, out, summary = book
    assert summary["status"] == "done" and summary["kind"] == "audiobook"
    assert summary["rendered"] == summary["segments"] > 20
    probe = ffprobe(out)
    chapters = probe["chapters"]
    assert [c["tags"]["title"] for c in chapters] == TITLES
    # The true starts: the chapter masters' exact lengths, summed (read back from the files).
    masters = chapter_files(out, ".flac")
    assert len(masters) == len(TITLES)
    lengths = [sf.info(str(m)).frames / sf.info(str(m)).samplerate for m in masters]
    starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    got = np.array([float(c["start_time"]) for c in chapters])
    # The M4B is joined from each chapter's own AAC stream (no re-encode): every
    # join adds the chapter's padding to whole AAC frames and one priming frame
    # of silence, under two frames (1024 samples each) in all.
    added = got - starts
    frame = 1024 / 24000
    assert added[0] == 0 and np.all(np.diff(added) > 0) and np.all(np.diff(added) < 2 * frame), added
    assert 0 < float(probe["format"]["duration"]) - sum(lengths) < len(lengths) * 2 * frame
    tags = {k.lower(): v for k, v in probe["format"]["tags"].items()}
    assert tags["title"] == "Three Fables of Aesop"
    assert "Townsend" in tags["artist"]
    assert tags["genre"] == "Audiobook"
    assert "synthetic speech" in tags["comment"].lower()
    [pic] = [st for st in probe["streams"] if st["codec_type"] == "video"]
    assert pic["disposition"]["attached_pic"] == 1 and pic["codec_name"] == "png"
    # The CLI's chapter starts are the M4B's markers.
    assert [round(c["start_s"], 3) for c in summary["chapters"]] == [round(g, 3) for g in got]


def _astats(path: Path) -> tuple[float, float]:
    err = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af",
                          "astats=measure_perchannel=none:measure_overall=RMS_level+Peak_level",
                          "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    rms = float(re.findall(r"RMS level dB:\s*(-?[\d.]+|-inf)", err)[-1])
    peak = float(re.findall(r"Peak level dB:\s*(-?[\d.]+|-inf)", err)[-1])
    return rms, peak


def _decoded_seconds(path: Path) -> float:
    """The audio's length as decoded (samples / rate), not the container's nominal duration.

    An MP3's nominal duration counts every frame, including LAME's encoder delay and the
    padding of the last frame (1105 to 2256 samples at 44.1 kHz: 25 to 51 ms); ffmpeg's
    decoder trims both by the LAME header (gapless), so decoded audio ends up to 51 ms
    before the nominal end. Silences are measured on the decoded timeline, so the tail is
    measured against the decoded end."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-ac", "1",
                          "-ar", "44100", "-f", "s16le", "-"], capture_output=True, check=True).stdout
    return len(raw) / 2 / 44100


def _edge_silences(path: Path) -> tuple[float, float, float]:
    err = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af",
                          "silencedetect=noise=-50dB:d=0.3", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    starts = [float(x) for x in re.findall(r"silence_start: (-?[\d.]+)", err)]
    ends = [float(x) for x in re.findall(r"silence_end: ([\d.]+)", err)]
    total = _decoded_seconds(path)
    head = ends[0] if starts and starts[0] <= 0.01 else 0.0
    # The last silence runs to the end: unclosed, or closed at EOF (within a millisecond).
    runs_to_end = len(starts) > len(ends) or (bool(ends) and ends[-1] >= total - 0.001)
    tail = total - starts[-1] if starts and runs_to_end else 0.0
    return head, tail, total


def test_chapter_mp3s_pass_acx_by_independent_measurement(book):
    env, out, _ = book
    mp3s = chapter_files(out, ".mp3")
    assert len(mp3s) == len(TITLES)
    res = cli(env, "check-acx", *map(str, mp3s), "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    reports = json.loads(res.stdout)
    masters = chapter_files(out, ".flac")
    for path, master, rep in zip(mp3s, masters, reports, strict=True):
        stream = ffprobe(path)["streams"][0]
        assert int(stream["sample_rate"]) == 44100 and int(stream["channels"]) == 1
        assert int(stream["bit_rate"]) == 192000
        rms, peak = _astats(path)
        assert -23.0 <= rms <= -18.0, (path.name, rms)
        assert peak <= -3.0, (path.name, peak)
        head, tail, decoded = _edge_silences(path)
        assert 0.5 <= head <= 1.0, (path.name, head)
        assert 1.0 <= tail <= 5.0, (path.name, tail)
        # Gapless: the decoded MP3 is as long as its master, to the millisecond.
        assert abs(decoded - sf.info(str(master)).duration) <= 0.001, (path.name, decoded)
        # The command under test agrees with ffmpeg's own figures.
        assert abs(rep["rms_db"] - rms) < 0.5 and abs(rep["peak_db"] - peak) < 0.5
        tags = {k.lower(): v for k, v in ffprobe(path)["format"].get("tags", {}).items()}
        assert "synthetic" in json.dumps(tags).lower()


def test_check_acx_fails_a_file_that_breaks_the_rules(book, tmp_path):
    env, _, _ = book
    loud = tmp_path / "loud.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
                    "-af", "volume=0.9", "-ar", "44100", "-ac", "1", "-b:a", "192k", str(loud)],
                   check=True)
    res = cli(env, "check-acx", str(loud))
    assert res.returncode == 1
    assert "FAIL" in res.stdout


def _segment_audio(env: dict[str, str], content_hash: str) -> tuple[np.ndarray, int]:
    root = Path(env["VOICECAST_DATA_DIR"]) / "objects"
    [path] = [p for p in root.rglob(f"{content_hash}*.wav")]
    audio, sr = sf.read(str(path), dtype="float32")
    return audio, sr


def test_characters_speak_in_their_mapped_voices(book):
    from voicecast.evaluation import similarity, speaker_embedding

    env, _, _ = book
    shipped = np.load(REPO / "workers" / "data" / "bundled-embeddings-kokoro.npz")
    rows = query(env, "select speaker, content_hash, text from segments where speaker is not null")
    assert {r[0] for r in rows} == set(CHARACTERS)
    for name, voice in CHARACTERS.items():
        audio = np.concatenate([_segment_audio(env, h)[0] for s, h, _ in rows if s == name])
        emb = speaker_embedding(audio, 24000)
        own, narrator = similarity(emb, shipped[voice]), similarity(emb, shipped[NARRATOR])
        print(f"{name}: own voice {own:.3f}, narrator {narrator:.3f}")
        assert own > narrator, (name, own, narrator)
    # The narrator reads everything else.
    narr = query(env, "select count(*) from segments where speaker is null")[0][0]
    assert narr > len(rows)


def test_lexicon_changes_the_word_and_rerenders_only_its_segments(book, tmp_path):
    env, _, first = book
    texts = [t for (t,) in query(env, "select text from segments where job_id = ?",
                                 first["job_id"])]
    assert any("ee-sop" in t for t in texts) and not any("Aesop" in t for t in texts)
    assert any("⟦fˈaɪlɚ⟧" in t for t in texts)
    edited = tmp_path / "fables.lexicon"
    edited.write_text(LEXICON.read_text().replace("ee-sop", "ay-sop"))
    out = tmp_path / "again.m4b"
    res = cli(env, "render", str(BOOK), *VOICE_ARGS, "--lexicon", str(edited), "--out", str(out),
              "--json")
    assert res.returncode == 0, res.stderr
    second = json.loads(res.stdout)
    using = [t for t in texts if "ee-sop" in t]
    assert second["segments"] == first["segments"]
    assert second["rendered"] == len(using) and second["reused"] == first["segments"] - len(using)
    assert [c["reused"] for c in second["chapters"]] == [False, True, True, True]
    # The respelling reaches the engine: the phonemes of that line differ.
    from workers.engines import get_engine

    eng = get_engine()
    assert eng.phonemize(using[0]) != eng.phonemize(using[0].replace("ee-sop", "ay-sop"))
    assert eng.phonemize(using[0]) != eng.phonemize(using[0].replace("ee-sop", "Aesop"))


def _decoded(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.int16)


def test_resume_after_killing_orchestrator_and_workers_matches_uninterrupted(book, tmp_path):
    _, reference_out, reference = book
    env = fresh_env(tmp_path)
    out = tmp_path / "fables.m4b"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "render", str(BOOK), *VOICE_ARGS, "--lexicon",
         str(LEXICON), "--out", str(out), "--json"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    db = Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db"
    deadline, done = time.monotonic() + 600, 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = query(env, "select count(*) from segments where status='done'")[0][0] if db.exists() else 0
        except sqlite3.OperationalError:
            done = 0
        if done >= 5:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "render finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)  # the orchestrator (CLI) and every worker process
    proc.wait()
    assert not out.exists()
    [(job_id, status)] = query(env, "select id, status from jobs")
    assert status == "rendering"
    kept = query(env, "select content_hash from segments where status='done'")
    objects = Path(env["VOICECAST_DATA_DIR"]) / "objects" / "segments"
    before = {p: p.stat().st_mtime_ns for p in objects.rglob("*.wav")}
    assert len(before) >= len(kept) >= 5

    res = cli(env, "resume", job_id[:8], "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads(res.stdout)
    assert summary["status"] == "done" and summary["segments"] == reference["segments"]
    # Segments finished before the kill were not rendered again.
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    for a, b in zip(chapter_files(reference_out, ".flac"), chapter_files(out, ".flac"), strict=True):
        assert np.array_equal(sf.read(str(a), dtype="int32")[0], sf.read(str(b), dtype="int32")[0]), a.name
    assert np.array_equal(_decoded(reference_out), _decoded(out))
    assert [c["tags"]["title"] for c in ffprobe(out)["chapters"]] == TITLES


# --------------------------------------------------------------------------- bad input


def _md(tmp: Path, text: str, name: str = "book.md") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_malformed_books_fail_with_clear_errors(tmp_path):
    env = fresh_env(tmp_path)
    not_zip = tmp_path / "novel.epub"
    not_zip.write_text("this is not an EPUB at all\n")
    zip_no_epub = tmp_path / "other.epub"
    with zipfile.ZipFile(zip_no_epub, "w") as z:
        z.writestr("hello.txt", "hi")
    cases = [
        (not_zip, [], "novel.epub"),
        (zip_no_epub, [], "other.epub"),
        (_md(tmp_path, "\n\n", "blank.md"), [], "no chapters"),
        (_md(tmp_path, "# One\n\nSome words here.\n\n# Two\n\n# Three\n\nMore words.\n", "gap.md"), [],
         "gap.md:5"),
        (_md(tmp_path, "# One\n\n[voice:Wolf]\"Let me in.\"\n\nThe end.\n", "wolf.md"), [], "Wolf"),
        (BOOK, ["--lexicon", str(_md(tmp_path, "# ok\nAesop EE-sop\n", "bad.lexicon"))], "bad.lexicon:2"),
    ]
    for path, extra, expect in cases:
        out = tmp_path / f"{path.stem}.m4b"
        voices = VOICE_ARGS if path == BOOK else ["--voice", NARRATOR]
        res = cli(env, "render", str(path), "--mode", "audiobook", *voices, "--out", str(out), *extra)
        assert res.returncode == 2, (path.name, res.stdout, res.stderr)
        assert expect in res.stderr, (path.name, res.stderr)
        assert "Traceback" not in res.stderr
        assert not out.exists() and not (tmp_path / f"{path.stem}.chapters").exists()
    # An unmapped character can be read by the narrator when asked.
    out = tmp_path / "wolf.m4b"
    res = cli(env, "render", str(tmp_path / "wolf.md"), "--voice", NARRATOR, "--unmapped", "narrator",
              "--out", str(out), "--json")
    assert res.returncode == 0, res.stderr
    assert any("Wolf" in w for w in json.loads(res.stdout)["warnings"])
    shutil.rmtree(tmp_path / "wolf.chapters", ignore_errors=True)


def test_the_voice_map_also_maps_subtitle_speakers(tmp_path):
    env = fresh_env(tmp_path)
    vtt = tmp_path / "scene.vtt"
    vtt.write_text("WEBVTT\n\n00:00:00.500 --> 00:00:03.000\n<v Bob>Where were you last night?\n\n"
                   "00:00:03.500 --> 00:00:06.000\nSAM: At the harbour, like every night.\n\n"
                   "00:00:06.500 --> 00:00:09.000\nThe boats came in late.\n")
    out = tmp_path / "scene.wav"
    # Mapping one speaker but not the other is an error naming the unmapped one.
    res = cli(env, "render", str(vtt), "--voice", NARRATOR, "--voice", "Bob=jf_alpha", "--out", str(out))
    assert res.returncode == 2 and "SAM" in res.stderr and "scene.vtt" in res.stderr, res.stderr
    res = cli(env, "render", str(vtt), "--voice", NARRATOR, "--voice", "Bob=jf_alpha",
              "--voice", "sam=jf_nezumi", "--out", str(out), "--json")
    assert res.returncode == 0, res.stderr
    rows = query(env, "select s.speaker, s.text, v.name from segments s join voices v on v.id = s.voice_id "
                      "join jobs j on j.id = s.job_id where j.status = 'done' order by s.idx")
    assert rows == [("Bob", "Where were you last night?", "kokoro:jf_alpha"),
                    ("SAM", "At the harbour, like every night.", "kokoro:jf_nezumi"),
                    (None, "The boats came in late.", f"kokoro:{NARRATOR}")]


def test_the_book_is_heard_as_written_and_no_markup_is_spoken(book):
    """Whisper on each delivered chapter master: the words of the chapter, and
    none of the markup (``[voice:Fox]``, ``[sad]``, ``[pause:1.0]``)."""
    from voicecast.evaluation import resample, transcribe, wer

    env, out, summary = book
    rows = query(env, "select chapter, text from segments where job_id = ? order by idx", summary["job_id"])
    for n, master in enumerate(chapter_files(out, ".flac")):
        audio, sr = sf.read(str(master), dtype="float32")
        hyp = transcribe(resample(audio, sr, 16000), 16000)
        ref = " ".join(t for c, t in rows if c == n)
        ref = ref.replace("ee-sop", "Aesop").replace("⟦fˈaɪlɚ⟧", "Fyler")
        print(f"chapter {n + 1}: WER {wer(ref, hyp):.3f}: {hyp}")
        assert wer(ref, hyp) <= 0.25, (ref, hyp)
        heard = " ".join(re.sub(r"[^a-z ]", " ", hyp.lower()).split())
        for words in ("pause", "sad", "happy", "bracket", "voice fox", "voice tortoise", "voice hare",
                      "voice hair"):
            assert words not in heard, (words, hyp)


def test_an_epub_renders_with_its_chapters_metadata_and_cover(tmp_path):
    from ebooklib import epub

    png = tmp_path / "cover.png"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=navy:s=32x32",
                    "-frames:v", "1", str(png)], check=True)
    book = epub.EpubBook()
    book.set_identifier("vc-test-1")
    book.set_title("The Small Book")
    book.set_language("en")
    book.add_author("Ann Author")
    book.set_cover("cover.png", png.read_bytes())
    docs = []
    for n, (title, text) in enumerate([("Morning", "The sun rose over the hill."),
                                       ("Evening", "The lamps were lit one by one.")], 1):
        doc = epub.EpubHtml(uid=f"c{n}", file_name=f"c{n}.xhtml", title=title, lang="en")
        doc.content = f"<html><body><h1>{title}</h1><p>{text}</p></body></html>"
        book.add_item(doc)
        docs.append(doc)
    book.toc = [epub.Link(d.file_name, d.title, d.id) for d in docs]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *docs]
    path = tmp_path / "small.epub"
    epub.write_epub(str(path), book)

    env = fresh_env(tmp_path)
    out = tmp_path / "small.m4b"
    res = cli(env, "render", str(path), "--voice", NARRATOR, "--out", str(out), "--json")
    assert res.returncode == 0, res.stderr
    # "The Small Book, by Ann Author.", two titles, two sentences
    assert json.loads(res.stdout)["segments"] == 5
    probe = ffprobe(out)
    assert [c["tags"]["title"] for c in probe["chapters"]] == ["Morning", "Evening"]
    tags = {k.lower(): v for k, v in probe["format"]["tags"].items()}
    assert (tags["title"], tags["artist"]) == ("The Small Book", "Ann Author")
    assert any(st["codec_type"] == "video" and st["disposition"]["attached_pic"] for st in probe["streams"])
