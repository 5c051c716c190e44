"""Bounds on inputs (pure code): files checked before they are read, EPUB
decompression limits, plan limits (job length, segment count, impossible cues),
[like:] clip confinement. The whole CLI runs each hostile input in
tests/e2e/test_hostile_inputs.py."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from orchestrator.files import input_file, inside, regular_file, sha256_file
from orchestrator.inputs.books.epub import _check_epub_container
from orchestrator.planning.limits import check_plan, clock
from orchestrator.planning.segments import PlannedSegment
from voicecast.errors import InputError, ReferenceAudioError
from voicecast.settings import InputSettings, load_settings

LIMITS = InputSettings()


# --------------------------------------------------------------------------- files


def test_regular_files_only_checked_before_reading(tmp_path: Path) -> None:
    ok = tmp_path / "a.srt"
    ok.write_text("x")
    assert input_file(ok, LIMITS).st_size == 1
    fifo = tmp_path / "b.srt"
    os.mkfifo(fifo)  # opening it would block: only stat is used
    cases = {Path("/dev/zero"): "is a device", fifo: "is a pipe", tmp_path: "is a folder",
             tmp_path / "missing.srt": "not found"}
    for path, needle in cases.items():
        with pytest.raises(InputError) as e:
            input_file(path, LIMITS)
        assert needle in str(e.value) and str(e.value).startswith(f"{path}: ")
    with pytest.raises(ReferenceAudioError, match="reference clip is a device"):
        regular_file(Path("/dev/zero"), what="reference clip", max_bytes=1, error=ReferenceAudioError)


def test_size_bounds_name_their_setting(tmp_path: Path) -> None:
    big = tmp_path / "big.srt"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(InputError, match="VOICECAST_INPUTS__MAX_TEXT_BYTES"):
        input_file(big, InputSettings(max_text_bytes=1024))
    epub = tmp_path / "big.epub"  # an EPUB has its own, larger bound
    epub.write_bytes(b"x" * 2048)
    input_file(epub, InputSettings(max_text_bytes=1024))


def test_sha256_reads_regular_files_only(tmp_path: Path) -> None:
    f = tmp_path / "a"
    f.write_bytes(b"abc")
    assert sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(f, max_bytes=2) is None
    assert sha256_file(Path("/dev/zero")) is None  # returns at once: never read
    assert sha256_file(tmp_path / "missing") is None


def test_inside_resolves_links_and_parents(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    (folder / "clips").mkdir(parents=True)
    (folder / "clips" / "a.wav").write_bytes(b"")
    (folder / "out.wav").symlink_to("/etc/passwd")
    (folder / "in.wav").symlink_to(folder / "clips" / "a.wav")
    assert inside(Path("clips/a.wav"), folder) == (folder / "clips" / "a.wav").resolve()
    assert inside(Path("in.wav"), folder) == (folder / "clips" / "a.wav").resolve()
    for bad in ("../../etc/passwd", "/proc/self/environ", "out.wav", "clips/../../x.wav"):
        assert inside(Path(bad), folder) is None, bad


def test_input_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICECAST_INPUTS__MAX_JOB_DURATION_S", "3600")
    assert load_settings().inputs.max_job_duration_s == 3600
    monkeypatch.setenv("VOICECAST_INPUTS__MAX_SEGMENTS", "0")
    with pytest.raises(Exception, match="VOICECAST_INPUTS__MAX_SEGMENTS"):
        load_settings()


# --------------------------------------------------------------------------- EPUB archives


CONTAINER = ('<?xml version="1.0"?><container version="1.0" '
             'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
             '<rootfile full-path="content.opf" media-type="application/oebps-package+xml"/>'
             "</rootfiles></container>")


def _epub(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", CONTAINER)
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _refused(path: Path, limits: InputSettings, needle: str) -> str:
    with pytest.raises(InputError) as e:
        _check_epub_container(path, limits)
    assert needle in str(e.value) and str(e.value).startswith(f"{path}: refused EPUB: ")
    return str(e.value)


def test_epub_within_limits_passes(tmp_path: Path) -> None:
    _check_epub_container(_epub(tmp_path / "ok.epub", {"a.xhtml": b"<p>hello</p>" * 1000}), LIMITS)


def test_epub_limits_from_the_directory(tmp_path: Path) -> None:
    noise = os.urandom(2 << 20)  # does not compress: only the sizes are at fault
    book = _epub(tmp_path / "b.epub", {f"t{i}.xhtml": noise for i in range(3)})
    msg = _refused(book, InputSettings(epub_max_bytes=5 << 20), "decompress to more than 5242880 bytes")
    assert "VOICECAST_INPUTS__EPUB_MAX_BYTES" in msg
    _refused(book, InputSettings(epub_max_entry_bytes=1 << 20), "t0.xhtml decompresses to 2097152 bytes")
    _refused(book, InputSettings(epub_max_entries=4), "5 files in the archive, more than 4")
    _check_epub_container(book, LIMITS)
    # 2 MiB of zeros deflate to about 2 KB: a ratio of about 1000.
    zeros = _epub(tmp_path / "z.epub", {"z.xhtml": b"\0" * (2 << 20)})
    _refused(zeros, LIMITS, "z.xhtml is compressed 10")
    _check_epub_container(zeros, InputSettings(epub_max_ratio=5000))


def test_epub_whose_directory_lies_is_refused_while_inflating(tmp_path: Path) -> None:
    book = _epub(tmp_path / "liar.epub", {"a.xhtml": b"\0" * (8 << 20)})
    data = bytearray(book.read_bytes())
    # Rewrite the uncompressed size of a.xhtml in its central directory entry to 100 bytes.
    with zipfile.ZipFile(book) as zf:
        info = zf.getinfo("a.xhtml")
    pos = data.index(b"PK\x01\x02")
    while not data[pos + 46: pos + 46 + len(b"a.xhtml")] == b"a.xhtml":
        pos = data.index(b"PK\x01\x02", pos + 4)
    assert int.from_bytes(data[pos + 24: pos + 28], "little") == info.file_size
    data[pos + 24: pos + 28] = (100).to_bytes(4, "little")
    book.write_bytes(bytes(data))
    _refused(book, LIMITS, "a.xhtml decompresses to more than the 100 bytes its directory entry says")


def test_epub_with_another_compression_method_is_refused(tmp_path: Path) -> None:
    book = tmp_path / "bz.epub"
    with zipfile.ZipFile(book, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("META-INF/container.xml", CONTAINER, compress_type=zipfile.ZIP_BZIP2)
    with pytest.raises(InputError, match="compressed with method 12"):
        _check_epub_container(book, LIMITS)


def test_damaged_deflate_is_left_to_the_reader(tmp_path: Path) -> None:
    # Not larger than declared: the bound holds; ebooklib reports the damage later.
    book = _epub(tmp_path / "d.epub", {"a.xhtml": b"<p>x</p>" * 100})
    data = bytearray(book.read_bytes())
    with zipfile.ZipFile(book) as zf:
        info = zf.getinfo("a.xhtml")
    start = info.header_offset + 30 + len("a.xhtml")
    data[start: start + 4] = b"\xff\xff\xff\xff"
    book.write_bytes(bytes(data))
    _check_epub_container(book, LIMITS)


# --------------------------------------------------------------------------- plans


def seg(idx: int, text: str, start: float, end: float, max_end: float | None = None,
        line: int = 0, pause: float = 0.0) -> PlannedSegment:
    return PlannedSegment(idx=idx, text=text, start=start, end=end, max_end=max_end or end,
                          source_line=line or idx * 4 + 1, pause_after=pause)


def test_clock() -> None:
    assert clock(359999.9) == "99:59:59" and clock(0) == "0:00:00" and clock(3661) == "1:01:01"


def test_far_cue_is_refused_naming_its_line() -> None:
    plan = [seg(0, "Hello.", 1, 2.5), seg(1, "Bye.", 359999.0, 359999.9)]
    with pytest.raises(InputError) as e:
        check_plan(plan, 359999.9, limits=LIMITS, hard_max=1.4, source="t.srt", timed=True)
    assert str(e.value).startswith("t.srt:5: cue ends at 99:59:59, past the longest track a job may make, "
                                   "24:00:00 (VOICECAST_INPUTS__MAX_JOB_DURATION_S)")
    # 09:59:59 is within the default limit.
    ok = [seg(0, "Hello.", 1, 2.5), seg(1, "Bye.", 35999.0, 35999.9)]
    check_plan(ok, 35999.9, limits=LIMITS, hard_max=1.4, source="t.srt", timed=True)


def test_track_duration_and_segment_count() -> None:
    with pytest.raises(InputError, match="--duration|longer than"):
        check_plan([seg(0, "Hi.", 1, 2)], 90000.0, limits=LIMITS, hard_max=1.4, source="t.srt", timed=True)
    many = [seg(i, "Hi.", i, i + 0.5) for i in range(11)]
    with pytest.raises(InputError, match="11 segments, more than the 10 .*VOICECAST_INPUTS__MAX_SEGMENTS"):
        check_plan(many, 11.0, limits=InputSettings(max_segments=10), hard_max=1.4, source="t.srt",
                   timed=True)


def test_script_pauses_count_toward_the_track() -> None:
    plan = [seg(0, "Hi.", 0, 0, pause=50000.0, line=1), seg(1, "Again.", 0, 0, pause=50000.0, line=2)]
    with pytest.raises(InputError) as e:
        check_plan(plan, 0.0, limits=LIMITS, hard_max=1.4, source="s.txt", timed=False)
    assert str(e.value).startswith("s.txt:2: the pauses up to here add up to 27:46:40")


def test_impossible_cue_is_refused_but_a_tight_one_is_not() -> None:
    huge = seg(0, "word " * 4000, 1.0, 3.5, line=3)
    with pytest.raises(InputError) as e:
        check_plan([huge], 3.5, limits=LIMITS, hard_max=1.4, source="t.srt", timed=True)
    assert str(e.value).startswith("t.srt:3: cue of 20000 characters cannot fit its 2.5 s")
    # A dense but ordinary cue, a flash cue, and one that may borrow a long gap are fine.
    fine = [seg(0, "x" * 84, 0.0, 2.0), seg(1, "Stop it right now, all of you!", 3.0, 3.3),
            seg(2, "y" * 600, 10.0, 12.0, max_end=30.0)]
    check_plan(fine, 30.0, limits=LIMITS, hard_max=1.4, source="t.srt", timed=True)
    # Books and scripts have no slots: never judged so.
    check_plan([seg(0, "word " * 4000, 0, 0)], 0.0, limits=LIMITS, hard_max=1.4, source="b.md", timed=False)


def test_a_preview_lists_every_cue_that_cannot_fit_instead_of_stopping() -> None:
    plan = [seg(0, "x" * 20000, 0.0, 2.5, line=3), seg(1, "Fine.", 3.0, 4.0),
            seg(2, "y" * 5000, 5.0, 6.0, line=11)]
    unfit: list[str] = []
    check_plan(plan, 6.0, limits=LIMITS, hard_max=1.4, source="t.srt", timed=True, unfit=unfit)
    assert [u.split(":")[0] for u in unfit] == ["line 3", "line 11"]
    assert "cue of 20000 characters cannot fit its 2.5 s" in unfit[0]
    with pytest.raises(InputError):  # without the list (a render) the first one is an error
        check_plan(plan, 6.0, limits=LIMITS, hard_max=1.4, source="t.srt", timed=True)
