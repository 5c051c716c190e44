"""``ObjectStore.existing``: which of many keys exist, in few requests, against a
real S3 server (moto on loopback) and a local folder."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from voicecast import storage
from voicecast.settings import StorageSettings
from voicecast.storage import LocalStore, S3Store, segment_audio_key, segment_result_key


def _hashes(n: int, salt: str) -> list[str]:
    return [hashlib.sha256(f"{salt}{i}".encode()).hexdigest() for i in range(n)]


class CountingS3(S3Store):
    """An S3 store that counts its requests by kind."""

    def __init__(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*a, **kw)
        self.calls: dict[str, int] = {}

    def _call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = getattr(fn, "__name__", "?")
        self.calls[name] = self.calls.get(name, 0) + 1
        return super()._call(fn, *args, **kwargs)


@pytest.fixture()
def s3(s3_server):  # type: ignore[no-untyped-def]
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    cfg = StorageSettings(bucket=bucket, endpoint_url=s3_server.endpoint_url,
                          access_key_id=s3_server.access_key_id,
                          secret_access_key=s3_server.secret_access_key, region=s3_server.region)
    return CountingS3(cfg)


def test_s3_answers_many_keys_with_a_listing_not_a_head_each(s3: CountingS3) -> None:
    stored = _hashes(120, "a")
    for h in stored:
        s3.put_bytes(segment_audio_key(h), b"x")
    s3.put_bytes(segment_result_key(stored[0]), b"{}")  # another kind of key in the same prefix
    s3.put_bytes("jobs/j/output.wav", b"x")  # and one elsewhere
    asked = [segment_audio_key(h) for h in stored[:100] + _hashes(40, "b")]
    s3.calls.clear()
    assert s3.existing(asked) == {segment_audio_key(h) for h in stored[:100]}
    assert s3.calls.get("head_object", 0) == 0
    assert s3.calls.get("list_objects_v2") == 1


def test_s3_heads_what_its_listing_budget_did_not_reach(s3: CountingS3, monkeypatch) -> None:
    # Pages of 10 keys, and a budget of one page per 20 keys asked: 60 asked
    # buys 3 pages (30 keys) of a prefix holding 300, so most answers come by HEAD.
    monkeypatch.setattr(storage, "LIST_PAGE", 10)
    stored = _hashes(300, "c")
    for h in stored:
        s3.put_bytes(segment_audio_key(h), b"x")
    asked = sorted(segment_audio_key(h) for h in stored[:50] + _hashes(10, "d"))
    s3.calls.clear()
    assert s3.existing(asked) == {segment_audio_key(h) for h in stored[:50]}
    assert s3.calls["list_objects_v2"] == 3
    assert 0 < s3.calls["head_object"] < len(asked)


def test_s3_few_keys_are_asked_with_head(s3: CountingS3) -> None:
    h = _hashes(3, "e")
    s3.put_bytes(segment_audio_key(h[0]), b"x")
    s3.calls.clear()
    assert s3.existing([segment_audio_key(x) for x in h]) == {segment_audio_key(h[0])}
    assert s3.calls == {"head_object": 3}
    assert s3.existing([]) == set()


def test_local_store_existing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = LocalStore(tmp_path / "objects")
    h = _hashes(5, "f")
    for x in h[:2]:
        store.put_bytes(segment_audio_key(x), b"x")
    assert store.existing(segment_audio_key(x) for x in h) == {segment_audio_key(x) for x in h[:2]}
