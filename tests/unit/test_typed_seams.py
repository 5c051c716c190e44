"""The typed seams: the segment result crossing the queue, and a job's options."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from orchestrator.options import RenderOptions
from voicecast.errors import InputError
from voicecast.queue import SegmentResult, stored_result
from voicecast.storage import LocalStore, segment_audio_key, segment_result_key

H = "ab" * 32

#: A record as workers have stored it next to the audio since before the
#: typed result: content-hash properties only, no job, index or hit flag.
OLD_RECORD: dict[str, Any] = {
    "content_hash": H, "audio_key": f"segments/ab/{H}.wav", "sample_rate": 24000, "samples": 24000,
    "engine": "kokoro", "engine_version": "kokoro-1", "natural_s": 1.1, "slot_s": 1.0, "target_s": 1.0,
    "rate": 1.1, "engine_rate": 1.1, "stretch": 1.0, "borrowed_s": 0.0, "overflow": False,
    "overflow_s": 0.0, "engine_calls": 1, "final_s": 1.0, "error_s": 0.0004,
    "takes": [[1.1, 1.0]], "prosody": {"rate": 1.0}, "synth_s": 0.5,
}


def test_a_stored_record_reads_back_and_answers_a_segment() -> None:
    r = SegmentResult.from_dict(OLD_RECORD).for_segment("job1", 7, hit=True)
    assert (r.job_id, r.idx, r.hit, r.takes, r.error_s) == ("job1", 7, True, ((1.1, 1.0),), 0.0004)
    # Fields added after a record was written take their defaults.
    assert (r.onset_s, r.predicted, r.predict_calls) == (0.0, False, 0)


def test_the_queue_message_round_trips_through_json_and_pickle() -> None:
    r = SegmentResult.from_dict(OLD_RECORD).for_segment("job1", 3, hit=False)
    assert SegmentResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r  # Celery (JSON)
    assert pickle.loads(pickle.dumps(r)) == r  # the embedded pool's future


def test_unknown_keys_are_ignored_and_a_missing_one_is_an_error() -> None:
    assert SegmentResult.from_dict({**OLD_RECORD, "from_a_newer_worker": 1}).content_hash == H
    with pytest.raises(TypeError):
        SegmentResult.from_dict({k: v for k, v in OLD_RECORD.items() if k != "final_s"})


def test_stored_result_is_a_hit_only_with_audio_and_a_readable_record(tmp_path) -> None:
    store = LocalStore(tmp_path)
    assert stored_result(store, H) is None
    store.put_bytes(segment_result_key(H), json.dumps(OLD_RECORD).encode())
    assert stored_result(store, H) is None  # the record without its audio
    store.put_bytes(segment_audio_key(H), b"RIFF")
    found = stored_result(store, H)
    assert found is not None and found.audio_key == OLD_RECORD["audio_key"]
    store.put_bytes(segment_result_key(H), json.dumps({"content_hash": H}).encode())
    assert stored_result(store, H) is None  # unreadable: rendered again, not a hit
    store.put_bytes(segment_result_key(H), b"{not json")
    assert stored_result(store, H) is None


def test_options_from_the_cli_store_and_load_back() -> None:
    o = RenderOptions.from_cli(mode="dub", voices=["jm_kumo", "Anna=anna"], duration=12.5,
                               emotion="sad:0.5", emotion_map=["Anna=happy"], unmapped="narrator")
    stored = o.stored()
    assert json.loads(json.dumps(stored)) == stored
    assert RenderOptions.from_stored(stored) == o


def test_rows_written_before_the_model_still_load() -> None:
    row = {"duration": None, "mode": "dub", "voices": ["jm_kumo"], "emotion": None, "emotion_map": [],
           "ignore_unknown_tags": False, "lexicon": "/x/lex.txt", "unmapped": "error", "cover": None,
           "title": None, "author": None, "lexicon_sha256": "f00", "lead_s": 1.5}
    o = RenderOptions.from_stored(row)
    assert (o.lead_s, o.lexicon_sha256, o.lexicon) == (1.5, "f00", "/x/lex.txt")
    assert RenderOptions.from_stored({}).lead_s == 0.0  # a row with no options at all


@pytest.mark.parametrize(("values", "flag"), [
    ({"voices": ["v"], "duration": -3.0}, "--duration"),
    ({"voices": ["v"], "duration": float("inf")}, "--duration"),
    ({"voices": ["v"], "unmapped": "ignore"}, "--unmapped"),
    ({"voices": ["v"], "mode": "podcast"}, "--mode"),
    ({"voices": []}, "--voice"),
])
def test_an_invalid_option_is_an_input_error_naming_the_flag(values: dict[str, Any], flag: str) -> None:
    with pytest.raises(InputError) as e:
        RenderOptions.from_cli(**values)
    assert e.value.field == flag and str(e.value).startswith(f"{flag}: ")
    assert e.value.exit_code == 2


def test_a_book_outline_written_before_the_model_loads_and_grows_its_assembly() -> None:
    from orchestrator.output.outline import AssembledChapter, BookOutline

    row = {"title": "T", "author": None, "language": "en", "narrator": "af_heart",
           "cover_key": "covers/abc", "cover_type": "image/png",
           "chapters": [{"title": "One", "first": 0, "count": 3, "lead_s": 0.0, "source": "b.md", "line": 1}],
           "level": {"rms_db": -20.0, "peak_db": -3.5}}
    outline = BookOutline.from_stored(row)
    assert outline is not None and outline.level is not None
    assert (outline.chapters[0].count, outline.level.rms_db, outline.assembled) == (3, -20.0, [])
    done = outline.model_copy(update={"assembled": [AssembledChapter(
        title="One", start_s=0.0, duration_s=3.2, marker_s=0.0, reused=False, segments=3)]})
    again = BookOutline.from_stored(json.loads(json.dumps(done.stored())))
    assert again == done and again is not None and again.assembled[0].duration_s == 3.2
    assert BookOutline.from_stored(None) is None  # not an audiobook


@pytest.mark.parametrize(("data", "mime", "ok"), [
    (b"\xff\xd8\xff", "image/jpeg", True), (b"\x89PNG\r\n\x1a\n", None, True),
    (b"GIF89a", "image/gif", False), (b"GIF89a", None, False), (b"\xff\xd8\xff", None, True),
])
def test_only_covers_an_m4b_can_carry_are_taken(data: bytes, mime: str | None, ok: bool) -> None:
    from orchestrator.render import _m4b_cover_ok

    assert _m4b_cover_ok(data, mime) is ok
