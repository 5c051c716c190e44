"""Forged tasks sent straight to the synth queue change nothing in storage.

Real redis-server, a real Celery synth worker, the moto S3 server on loopback.
Anyone who can reach the broker can send a ``voicecast.synth_segment``
message; the worker recomputes the content hash from the spec it is given and
checks every key before it reads or writes anything (``workers.synth.verify_spec``).
The attack this guards against: words of the attacker's choosing stored under
the predictable hash of a victim's line, which the victim's later render would
then reuse, and keys that climb out of their prefix.

Each forged message is refused: the worker's log says so, the segment fails
(``voicecast.segment_failed`` sent to the ``assemble`` queue, read here off
redis since no assemble worker runs), and the bucket's listing (keys, sizes,
ETags) is the same before and after. The victim's own message, sent after the
forgeries, then renders its own words (not a storage hit).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from voicecast.queue import content_hash
from voicecast.settings import FitSettings
from voicecast.storage import voice_profile_key

pytestmark = pytest.mark.slow

VICTIM = "The lighthouse keeper counted the ships."
ATTACKER = "Attacker words replace your line now."


def listing(s3: Any, bucket: str) -> dict[str, tuple[int, str]]:
    """Every object in the bucket: key -> (size, ETag)."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = (o["Size"], o["ETag"])
    return out


def notifications(redis: Any, queue: str = "assemble") -> list[tuple[str, list[Any]]]:
    """The tasks waiting on ``queue`` (kombu's redis transport: one JSON list item
    per message, its body base64 JSON ``[args, kwargs, embed]``): (name, args)."""
    out = []
    for raw in reversed(redis.lrange(queue, 0, -1)):  # LPUSHed: oldest last
        msg = json.loads(raw)
        body = json.loads(base64.b64decode(msg["body"]))
        out.append((msg["headers"]["task"], body[0]))
    return out


def wait_for(check: Callable[[], Any], what: str, timeout: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_forged_synth_tasks_change_nothing_in_storage(
    voicecast_env, redis_server, s3_server, celery_workers,
):
    redis_server.flushall()
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    env = {**voicecast_env, **redis_server.env(), **s3_server.env(), "VOICECAST_STORAGE__BUCKET": bucket}
    worker = celery_workers("synth", env, concurrency=1)
    app = Celery("forger", broker=redis_server.broker_url, backend=redis_server.result_backend,
                 set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    broker = redis_server.client()
    s3 = s3_server.client()
    try:
        # The worker's engine, and a voice profile a real job could use (as the
        # control role asks for them).
        facts = app.send_task("voicecast.engine_facts", queue="synth").get(timeout=120)
        voice = "af_heart" if "af_heart" in facts["voices"] else facts["voices"][0]
        voice_id = f"builtin-{facts['name']}-{voice}"
        stored = app.send_task("voicecast.builtin_voice", args=[voice_id, voice], queue="synth").get(
            timeout=120)
        assert stored["profile_key"] == voice_profile_key(voice_id, 1)

        def spec(text: str, **changes: Any) -> dict[str, Any]:
            """A segment message as the control role builds it (hash included)."""
            fit = FitSettings().model_dump()
            h = content_hash(text=text, voice_id=voice_id, voice_version=1, emotion="neutral",
                             intensity=0.0, slot_ms=2600, borrow_ms=3000, engine=facts["name"],
                             engine_version=facts["version"], fit=fit)
            return {"job_id": "0123456789abcdef0123456789abcdef", "idx": 0, "text": text,
                    "voice_key": voice_profile_key(voice_id, 1), "slot_s": 2.6, "max_s": 3.0,
                    "content_hash": h, "emotion": "neutral", "intensity": 0.0,
                    "level_rms_db": None, "level_peak_db": None, "voice_id": voice_id,
                    "voice_version": 1, "slot_ms": 2600, "borrow_ms": 3000, "engine": facts["name"],
                    "engine_version": facts["version"], **changes}

        victim = spec(VICTIM, idx=7)
        forged = [
            # The attacker's words under the victim's (predictable) hash.
            spec(ATTACKER, content_hash=victim["content_hash"], idx=1),
            # Keys climbing out of their prefixes.
            spec(ATTACKER, content_hash="../../../x", idx=2),
            spec(ATTACKER, content_hash="segments/../../../../x", idx=3),
            spec(VICTIM, voice_key="jobs/0123456789abcdef0123456789abcdef/output.npz", idx=4),
            spec(VICTIM, voice_key="voices/../../../etc/passwd", idx=5),
            spec(VICTIM, job_id="../../../x", idx=6),
            spec(VICTIM, emotion="like:../../etc/passwd", idx=8),
        ]
        before = listing(s3, bucket)
        assert voice_profile_key(voice_id, 1) in before
        for msg in forged:
            app.send_task("voicecast.synth_segment", args=[msg], queue="synth")

        def failures() -> list[list[Any]]:
            found = [args for task, args in notifications(broker) if task == "voicecast.segment_failed"]
            return found if len(found) >= len(forged) else []

        failed = wait_for(failures, f"{len(forged)} segment_failed notifications")
        assert sorted(args[1] for args in failed) == sorted(m["idx"] for m in forged)
        for args in failed:
            assert "segment message refused" in args[2] and "nothing was stored" in args[2], args
        assert not [t for t, _ in notifications(broker) if t == "voicecast.record_segment"]
        assert listing(s3, bucket) == before, "a forged task changed storage"
        log = worker.log_text()
        assert log.count("refused segment message") >= len(forged), log[-4000:]
        assert ATTACKER not in json.dumps(list(listing(s3, bucket)))

        # The victim's own line, sent after the forgeries: rendered, not a hit.
        app.send_task("voicecast.synth_segment", args=[victim], queue="synth")

        def recorded() -> list[dict[str, Any]]:
            return [args[0] for task, args in notifications(broker) if task == "voicecast.record_segment"]

        result = wait_for(recorded, "the victim's segment to be recorded", timeout=300)[0]
        assert (result["content_hash"], result["idx"], result["hit"]) == (victim["content_hash"], 7, False)
        after = listing(s3, bucket)
        h = victim["content_hash"]
        assert set(after) - set(before) == {f"segments/{h[:2]}/{h}.wav", f"segments/{h[:2]}/{h}.json"}
        assert {k: v for k, v in after.items() if k in before} == before
    finally:
        broker.close()
        app.close()
