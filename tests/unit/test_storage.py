import pytest

from voicecast.storage import LocalStore, segment_audio_key, segment_result_key


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
