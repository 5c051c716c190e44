import pytest

from voicecast.storage import (
    LocalStore,
    progress_writer,
    read_progress,
    segment_audio_key,
    segment_result_key,
    voice_progress_key,
)


def test_local_store_roundtrip_and_atomicity(tmp_path):
    store = LocalStore(tmp_path / "objects")
    key = segment_audio_key("ab" + "0" * 62)
    assert not store.exists(key)
    store.put_bytes(key, b"RIFF")
    assert store.exists(key) and store.get_bytes(key) == b"RIFF" and store.size(key) == 4
    # no temporary files left behind
    assert [p.name for p in (tmp_path / "objects" / "segments" / "ab").iterdir()] == [key.split("/")[-1]]
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 10)
    store.put_file("jobs/j/out.wav", src)
    dst = tmp_path / "copy.bin"
    store.get_file("jobs/j/out.wav", dst)
    assert dst.read_bytes() == b"x" * 10
    assert store.url("jobs/j/out.wav").startswith("file://")
    store.delete("jobs/j/out.wav")
    assert not store.exists("jobs/j/out.wav")


def test_keys_are_content_addressed():
    h = "cd" + "1" * 62
    assert segment_audio_key(h) == f"segments/cd/{h}.wav"
    assert segment_result_key(h).endswith(".json")


def test_keys_cannot_escape(tmp_path):
    with pytest.raises(ValueError):
        LocalStore(tmp_path).put_bytes("../evil", b"")


def test_progress_writer_throttles_and_keeps_the_last_step(tmp_path):
    store = LocalStore(tmp_path)
    key = voice_progress_key("v-x-0123456789", 2)
    assert key == "voices/v-x-0123456789/v2.progress.json" and read_progress(store, key) is None
    progress = progress_writer(store, key, min_interval_s=60.0)
    progress(0, 10, "starting")
    assert read_progress(store, key)["note"] == "starting"
    progress(3, 10, "searching")  # within the interval: not written
    assert read_progress(store, key)["done"] == 0
    progress(10, 10, "done")  # the last step always is
    rec = read_progress(store, key)
    assert (rec["done"], rec["total"], rec["note"]) == (10, 10, "done") and rec["t"] > 0
