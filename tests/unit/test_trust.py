"""Workers trust no message: the content hash a worker derives from a spec, and
the storage keys it may build or touch (pure: no engine, no servers).

The pinned hashes were computed with ``segment_hash`` before the hash moved to
the core queue contract: they are the storage keys of existing renders, so
they must never change (bump ``HASH_SCHEMA_VERSION`` on purpose instead).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.planning.segments import PlannedSegment, segment_hash
from orchestrator.render import segment_spec
from voicecast.errors import UntrustedMessage
from voicecast.queue import SegmentSpec, content_hash, hash_fit
from voicecast.settings import Settings
from voicecast.storage import (
    KEY_PREFIXES,
    LocalStore,
    S3Store,
    UnsafeKey,
    attempts_key,
    check_key,
    emotion_clip_key,
    expect_key,
    job_key,
    reference_key,
    segment_audio_key,
    segment_result_key,
    upload_key,
    voice_meta_key,
    voice_profile_key,
    voice_progress_key,
    voice_retired_key,
)

#: Fit settings as they were when the hashes were pinned (literal: a changed
#: default must not hide a changed hash function).
FIT = {"comfortable_min": 0.8, "comfortable_max": 1.25, "hard_min": 0.7, "hard_max": 1.4,
       "engine_rate_min": 0.87, "engine_rate_max": 1.15, "max_engine_calls": 2,
       "engine_tolerance": 0.1, "trim_db": -40.0}
BOOK_FIT = {**FIT, "level": {"rms_db": -20.0, "peak_db": -3.0}}

PINNED = [
    (PlannedSegment(0, "Hello there.", 1.0, 2.5, 3.0),
     dict(voice_id="v-anna-0123456789", voice_version=1, engine="kokoro", engine_version="1.0", fit=FIT),
     "8f08335a29e5ba681712a539f6cf5487b1fc3a48981f2a3118c32f9e25a716a7"),
    (PlannedSegment(3, "Café déjà vu — naïve?", 12.345, 14.0, 14.0, emotion="sad", intensity=0.6666),
     dict(voice_id="builtin-kokoro-af_heart", voice_version=2, engine="kokoro", engine_version="1.0",
          fit=FIT),
     "b55e48791a5fe91331cad10edbe4450602482751b86356567266c6f0e84752d5"),
    (PlannedSegment(0, "A line of a book.", 0.0, 0.0, 0.0, emotion="like:0123456789abcdef",
                    intensity=-0.0),
     dict(voice_id="ref-0123456789abcdef", voice_version=3, engine="kokoro", engine_version="1.0",
          fit=BOOK_FIT),
     "11f14cc28aa55e93829f16c76582af3590c4c42d209653c9fd353c873c7cc13d"),
    (PlannedSegment(0, "x", 0.0, 1.0, 1.0),
     dict(voice_id="v", voice_version=1, engine="e", engine_version="1", fit={}),
     "2846063278a67aa9ab029cacd72f8613b27425680689d718f5f14ecf6eec5115"),
]


@pytest.mark.parametrize(("seg", "kw", "expected"), PINNED)
def test_segment_hashes_of_existing_inputs_never_change(seg: PlannedSegment, kw: dict, expected: str) -> None:
    assert segment_hash(seg, **kw) == expected


# --------------------------------------------------------------------------- the hash a worker derives

ENGINE = SimpleNamespace(name="kokoro", version="1.0")
SETTINGS = Settings()


def _row(seg: PlannedSegment, h: str, job_id: str = "0123456789abcdef0123456789abcdef") -> Any:
    """A segment row as the store holds it (what ``undone_specs`` reads)."""
    return SimpleNamespace(job_id=job_id, idx=seg.idx, text=seg.text, start_s=seg.start, end_s=seg.end,
                           max_end_s=seg.max_end, content_hash=h, emotion=seg.emotion,
                           intensity=seg.intensity, language=seg.language or None)


def _planned(seg: PlannedSegment, *, level: Any = None, voice: tuple[str, int] = ("v-anna-0123456789", 1),
             fit: dict[str, Any] | None = None) -> SegmentSpec:
    """The spec the control role sends for ``seg``, hashed as ``plan_job`` hashes it."""
    fit = hash_fit(SETTINGS.fit.model_dump() if fit is None else fit,
                   level.rms_db if level else None, level.peak_db if level else None)
    h = segment_hash(seg, voice_id=voice[0], voice_version=voice[1], engine="kokoro",
                     engine_version="1.0", fit=fit)
    return segment_spec(_row(seg, h), voice, ("kokoro", "1.0"), level)


def test_the_core_hash_is_the_planners() -> None:
    seg, kw, expected = PINNED[1]
    assert content_hash(text=seg.text, voice_id=kw["voice_id"], voice_version=kw["voice_version"],
                        emotion=seg.emotion, intensity=seg.intensity, slot_ms=1655, borrow_ms=1655,
                        engine="kokoro", engine_version="1.0", fit=FIT) == expected
    book = SimpleNamespace(rms_db=-20.0, peak_db=-3.0)
    assert hash_fit(FIT, book.rms_db, book.peak_db) == BOOK_FIT and hash_fit(FIT) is FIT


def test_the_language_is_hashed_but_english_keeps_its_keys() -> None:
    """A segment's language is part of its content hash (a Spanish line is not
    its English twin), but English, the default, adds nothing: every English
    render keeps the key it had (:data:`PINNED`)."""
    seg, kw, expected = PINNED[1]
    common = dict(text=seg.text, voice_id=kw["voice_id"], voice_version=kw["voice_version"],
                  emotion=seg.emotion, intensity=seg.intensity, slot_ms=1655, borrow_ms=1655,
                  engine="kokoro", engine_version="1.0", fit=FIT)
    assert content_hash(**common, language="en") == content_hash(**common) == expected  # type: ignore[arg-type]
    spanish = content_hash(**common, language="es")  # type: ignore[arg-type]
    assert spanish != expected and spanish != content_hash(**common, language="fr")  # type: ignore[arg-type]
    spec = _planned(PlannedSegment(0, "Hola.", 0.0, 1.0, 1.0, language="es"))
    assert spec.language == "es" and spec.derive_hash(SETTINGS.fit.model_dump(), "kokoro", "1.0") == spec.content_hash


def test_a_worker_derives_the_hash_the_planner_stored() -> None:
    from workers.synth import verify_spec

    seg = PlannedSegment(3, "Café déjà vu — naïve?", 12.345, 14.0, 14.6, emotion="sad", intensity=0.6666)
    spec = _planned(seg)
    assert spec.derive_hash(SETTINGS.fit.model_dump(), "kokoro", "1.0") == spec.content_hash
    assert spec.voice_key == voice_profile_key("v-anna-0123456789", 1)
    assert (spec.slot_ms, spec.borrow_ms) == (1655, 2255)
    verify_spec(spec, ENGINE, SETTINGS)  # type: ignore[arg-type]
    # An audiobook line: the level profile is part of its hash, carried by the spec.
    level = SimpleNamespace(rms_db=-18.0, peak_db=-3.5)
    book = _planned(PlannedSegment(0, "A line of a book.", 0.0, 0.0, 0.0), level=level)
    verify_spec(book, ENGINE, SETTINGS)  # type: ignore[arg-type]
    # A spec from JSON (the queue) verifies the same.
    verify_spec(SegmentSpec.from_dict(json.loads(json.dumps(book.to_dict()))), ENGINE, SETTINGS)  # type: ignore[arg-type]


@given(start_ms=st.integers(0, 36_000_000), length=st.floats(0.0, 30.0, allow_nan=False),
       borrow=st.floats(0.0, 5.0, allow_nan=False), jitter=st.floats(-1e-9, 1e-9))
def test_every_planned_slot_verifies(start_ms: int, length: float, borrow: float, jitter: float) -> None:
    """Whatever times a plan holds, the spec built from the stored row verifies:
    the hashed milliseconds and the fit's rounded seconds never disagree."""
    from workers.synth import verify_spec

    start = start_ms / 1000 + jitter
    seg = PlannedSegment(0, "Hi.", start, start + length, start + length + borrow)
    verify_spec(_planned(seg), ENGINE, SETTINGS)  # type: ignore[arg-type]


def _forged(**changes: Any) -> SegmentSpec:
    d = _planned(PlannedSegment(0, "Hello there.", 1.0, 2.5, 3.0)).to_dict()
    return SegmentSpec.from_dict({**d, **changes})


@pytest.mark.parametrize(("changes", "why"), [
    ({"text": "Attacker words replace your line now."}, "content hash is not the hash"),
    ({"content_hash": "../../../x"}, "not a valid content hash"),
    ({"content_hash": "segments/../../../../x"}, "not a valid content hash"),
    ({"content_hash": "AB" * 32}, "not a valid content hash"),
    ({"voice_key": "refs/" + "0" * 64 + ".wav"}, "is not the profile of voice"),
    ({"voice_key": "voices/../../etc/passwd"}, "is not the profile of voice"),
    ({"voice_id": "../x"}, "not a valid voice id"),
    ({"voice_version": 2}, "is not the profile of voice"),
    ({"emotion": "like:../../etc/passwd"}, "not a valid emotion clip id"),
    ({"job_id": "../../x"}, "not a valid job id"),
    ({"job_id": ["x"]}, "job_id is not a str"),
    ({"idx": -1}, "idx is not a whole number"),
    ({"slot_s": 1.49}, "disagree"),
    ({"slot_s": float("nan")}, "not a finite number"),
    ({"level_rms_db": -18.0, "level_peak_db": -3.5}, "content hash is not the hash"),
    ({"engine_version": "0.9"}, "planned for engine 'kokoro' '0.9'"),
    ({"engine": "kokoro", "engine_version": ""}, "planned for engine 'kokoro' ''"),
])
def test_a_forged_or_stale_spec_is_refused(changes: dict[str, Any], why: str) -> None:
    from workers.synth import verify_spec

    with pytest.raises(UntrustedMessage, match=why) as e:
        verify_spec(_forged(**changes), ENGINE, SETTINGS)  # type: ignore[arg-type]
    assert "nothing was stored" in str(e.value)


def test_a_job_planned_before_specs_named_their_engine_still_verifies() -> None:
    """Resuming a job whose stored options have no engine: the spec names none,
    and the hash (computed with the worker's own engine) decides alone."""
    from workers.synth import verify_spec

    verify_spec(_forged(engine="", engine_version=""), ENGINE, SETTINGS)  # type: ignore[arg-type]
    with pytest.raises(UntrustedMessage, match="content hash is not the hash"):
        verify_spec(_forged(engine="", engine_version=""), SimpleNamespace(name="kokoro", version="1.1"),
                    SETTINGS)  # type: ignore[arg-type]


def test_other_fit_settings_or_engine_are_refused() -> None:
    from workers.synth import verify_spec

    spec = _forged()
    other_fit = Settings(fit={"trim_db": -35.0})
    with pytest.raises(UntrustedMessage, match="VOICECAST_FIT__"):
        verify_spec(spec, ENGINE, other_fit)  # type: ignore[arg-type]
    with pytest.raises(UntrustedMessage, match="this worker runs 'kokoro' '1.1'"):
        verify_spec(spec, SimpleNamespace(name="kokoro", version="1.1"), SETTINGS)  # type: ignore[arg-type]


def test_render_segment_stores_nothing_for_a_forged_spec(tmp_path, monkeypatch) -> None:
    import workers.synth as synth

    monkeypatch.setattr(synth, "get_engine", lambda _settings: ENGINE)
    store = LocalStore(tmp_path / "objects")
    for changes in ({"text": "Attacker words."}, {"content_hash": "segments/../../../../x"}):
        with pytest.raises(UntrustedMessage):
            synth.render_segment(_forged(**changes), store=store, settings=SETTINGS)
    assert [p for p in (tmp_path / "objects").rglob("*")] == []


# --------------------------------------------------------------------------- keys

H = "ab" * 32


def test_key_builders_accept_what_voicecast_makes() -> None:
    assert segment_audio_key(H) == f"segments/ab/{H}.wav" and segment_result_key(H).endswith(".json")
    assert upload_key(H) == f"uploads/{H}" and reference_key(H) == f"refs/{H}.wav"
    assert emotion_clip_key("0123456789abcdef") == "emotion-clips/0123456789abcdef.wav"
    for vid in ("v-anna-0123456789", "ref-0123456789abcdef", "builtin-kokoro-af_heart", "eval-p225-search"):
        assert voice_profile_key(vid, 3) == f"voices/{vid}/v3.npz"
        assert voice_meta_key(vid, 1) and voice_progress_key(vid, 1) and voice_retired_key(vid)
    assert job_key("0123456789abcdef0123456789abcdef", "fit-report.json").startswith("jobs/")
    assert attempts_key("job", 7) == "attempts/job/7"
    assert expect_key(voice_profile_key("v-a-0123456789", 12), "voice_profile")
    assert expect_key(upload_key(H), "upload") and expect_key(reference_key(H), "reference")


@pytest.mark.parametrize("build", [
    lambda: segment_audio_key("../../../x"),
    lambda: segment_audio_key("segments/../../../../x"),
    lambda: segment_result_key(H[:-1]),
    lambda: segment_result_key(H.upper()),
    lambda: upload_key("../" + H),
    lambda: reference_key(H + "/../x"),
    lambda: emotion_clip_key("../../etc/passwd"),
    lambda: emotion_clip_key("/proc/self/environ"),
    lambda: voice_profile_key("../jobs", 1),
    lambda: voice_profile_key("a/b", 1),
    lambda: voice_profile_key("v..x", 1),
    lambda: voice_profile_key("v", 0),
    lambda: voice_profile_key("v", "1"),  # type: ignore[arg-type]
    lambda: voice_profile_key("v", True),  # type: ignore[arg-type]
    lambda: voice_retired_key(""),
    lambda: job_key("..", "x"),
    lambda: job_key("j", "../../x"),
    lambda: attempts_key("j/../../x", 0),
    lambda: attempts_key("j", -1),
    lambda: expect_key("uploads/../refs/" + H, "upload"),
    lambda: expect_key("refs/" + H, "upload"),
    lambda: expect_key("voices/x/v1.npz/../../../y", "voice_profile"),
])
def test_key_builders_refuse_unsafe_parts(build: Any) -> None:
    with pytest.raises(UnsafeKey):
        build()


@pytest.mark.parametrize("key", [
    "../evil", "/etc/passwd", "segments/../../x", "segments/./x", "segments//x", "segments",
    "elsewhere/x", "segments/a\\..\\b", "jobs/j/\x00", "jobs/j/a b", "", "voices/x/..",
])
def test_stores_refuse_keys_outside_their_prefixes(tmp_path, key: str) -> None:
    with pytest.raises(UnsafeKey):
        check_key(key)
    store = LocalStore(tmp_path / "objects")
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x")
    with pytest.raises(ValueError):
        store.exists(key)
    s3 = S3Store(Settings(storage={"bucket": "b", "endpoint_url": "http://127.0.0.1:1",
                                   "access_key_id": "k", "secret_access_key": "s"}).storage)
    with pytest.raises(ValueError):
        s3.put_bytes(key, b"x")  # refused before any request
    assert not any((tmp_path / "objects").rglob("*"))


def test_every_prefix_in_use_is_known() -> None:
    assert {"segments", "uploads", "refs", "emotion-clips", "voices", "jobs", "attempts", "covers",
            "chapters", "engines", "deliverables", "tenants", "media", "subtitles"} == KEY_PREFIXES
    for key in ("covers/0123456789abcdef", "tenants/acme/uploads/j/input.srt", f"chapters/{H}.flac", f"deliverables/{H}.m4b",
                "engines/kokoro/1.0/bundled-embeddings.npz", "jobs/j/output.m4a",
                "voices/v-x-0123456789/v2.progress.json", "media/0123456789abcdef0123456789abcdef.mkv",
                "subtitles/0123456789abcdef0123456789abcdef.ass"):
        assert check_key(key) == key


# --------------------------------------------------------------------------- other messages


def test_reference_checks_read_only_uploads(tmp_path) -> None:
    from workers.facts import check_uploaded_reference

    store = LocalStore(tmp_path / "objects")
    for uploads in ([("refs/" + H + ".wav", "a.wav")], [("uploads/../voices/x/v1.npz", "a.wav")],
                    [(f"uploads/{H}", "..")], [("/etc/passwd", "a.wav")]):
        with pytest.raises(UntrustedMessage, match="reference check refused"):
            check_uploaded_reference(store, uploads)


def test_enrollment_and_prediction_refuse_foreign_keys(tmp_path) -> None:
    from workers.facts import builtin_voice, predict_lines
    from workers.voices import enroll_reference

    store = LocalStore(tmp_path / "objects")
    with pytest.raises(UntrustedMessage, match="enrollment refused"):
        enroll_reference(f"uploads/{H}", "v-x", 1, store=store, settings=SETTINGS)
    with pytest.raises(UntrustedMessage, match="enrollment refused"):
        enroll_reference(reference_key(H), "../../x", 1, store=store, settings=SETTINGS)
    with pytest.raises(UntrustedMessage, match="line prediction refused"):
        predict_lines(SETTINGS, store, "jobs/x/output.wav", None, [])
    with pytest.raises(UntrustedMessage, match="built-in voice refused"):
        builtin_voice(SETTINGS, store, "../x", "af_heart")
    assert not any((tmp_path / "objects").rglob("*"))
