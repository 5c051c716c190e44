"""Outage budgets (voicecast/retry.py) and the stall watch: retries span a
time budget, whatever the luck of the jitter; storage calls ride out an
outage in place (briefly inside a task); a stalled job is noticed only when
nothing changes for the whole timeout."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from voicecast import retry
from voicecast.errors import TransientError


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


@pytest.mark.parametrize(("budget", "first", "cap"), [(180, 2, 30), (180, 1, 60), (60, 0.5, 10), (1, 2, 30)])
def test_a_schedule_spans_its_budget_with_capped_doubling_waits(budget, first, cap):
    waits = retry.delays(budget, first, cap)
    assert sum(waits) >= budget
    assert sum(waits[:-1]) < budget  # as few tries as that takes
    assert max(waits) <= cap
    assert all(b == min(cap, 2 * a) for a, b in zip(waits, waits[1:], strict=False))
    assert retry.retries_within(budget, first, cap) == len(waits)
    assert retry.delays(0) == []


def test_jitter_only_lengthens_a_wait():
    for n in range(12):
        for _ in range(50):
            w = retry.backoff(n, 2.0, 30.0)
            base = min(30.0, 2.0 * 2**n)
            assert base <= w <= base * (1 + retry.JITTER)


def kombu_waits(policy: dict[str, Any]) -> float:
    """The waits kombu's retry_over_time makes for this policy (its fxrange schedule)."""
    total, wait = 0.0, float(policy["interval_start"])
    for _ in range(policy["max_retries"]):
        total += min(wait, policy["interval_max"])
        wait += policy["interval_step"]
    return total


@pytest.mark.parametrize("budget", [0, 5, 60, 180, 600])
def test_the_publish_policy_keeps_trying_for_the_queue_budget(budget):
    policy = retry.kombu_policy(budget, cap_s=30)
    assert kombu_waits(policy) >= budget
    assert policy["interval_max"] == 30


def test_the_celery_app_sends_with_the_budgeted_policy():
    from voicecast.celery_app import PUBLISH_RETRY_POLICY, RETRY_ON, app
    from voicecast.settings import get_settings

    q = get_settings().queue
    assert app.conf.task_publish_retry is True
    assert app.conf.task_publish_retry_policy == PUBLISH_RETRY_POLICY
    assert kombu_waits(PUBLISH_RETRY_POLICY) >= q.retry_budget_s >= 120
    # "OperationalError: Error 111 connecting..." (a send whose own retries ran out) is retried.
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError

    assert issubclass(OperationalError, RETRY_ON) and issubclass(RedisConnectionError, RETRY_ON)


def test_a_call_rides_out_an_outage_within_its_budget():
    t = FakeTime()
    calls = []

    def flaky() -> str:
        calls.append(t.now)
        if t.now < 60:
            raise TransientError("S3 unreachable")
        return "ok"

    got = retry.call_with_retry(flaky, lambda e: isinstance(e, TransientError), budget_s=180, cap_s=10,
                                sleep=t.sleep, clock=t.clock)
    assert got == "ok" and 60 <= t.now <= 60 + 10 * (1 + retry.JITTER)
    assert max(t.sleeps) <= 10 * (1 + retry.JITTER)


def test_a_call_gives_up_at_its_budget_and_never_retries_other_errors():
    t = FakeTime()

    def down() -> None:
        raise TransientError("S3 unreachable")

    with pytest.raises(TransientError):
        retry.call_with_retry(down, lambda e: isinstance(e, TransientError), budget_s=30, cap_s=8,
                              sleep=t.sleep, clock=t.clock)
    assert t.now == pytest.approx(30)  # the last wait is cut to the budget

    t2 = FakeTime()

    def bug() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        retry.call_with_retry(bug, lambda e: isinstance(e, TransientError), budget_s=30,
                              sleep=t2.sleep, clock=t2.clock)
    assert t2.sleeps == []


def test_inside_a_task_a_call_retries_only_briefly():
    t = FakeTime()

    def down() -> None:
        raise TransientError("S3 unreachable")

    with retry.call_budget(retry.TASK_CALL_BUDGET_S), pytest.raises(TransientError):
        retry.call_with_retry(down, lambda e: isinstance(e, TransientError), budget_s=180,
                              sleep=t.sleep, clock=t.clock)
    assert t.now == pytest.approx(retry.TASK_CALL_BUDGET_S)


def test_s3_errors_are_classed_transient_or_not(monkeypatch):
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

    from voicecast.settings import StorageSettings
    from voicecast.storage import S3Store

    store = S3Store(StorageSettings(bucket="b", endpoint_url="http://127.0.0.1:9", retry_budget_s=0))

    def raising(exc: BaseException) -> Any:
        def fn(**_: Any) -> None:
            raise exc
        return fn

    for exc in (EndpointConnectionError(endpoint_url="http://x"), ReadTimeoutError(endpoint_url="http://x"),
                ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
                            "PutObject")):
        with pytest.raises(TransientError):
            store._call(raising(exc), Key="k")
    with pytest.raises(FileNotFoundError):
        store._call(raising(ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")), Key="k")
    with pytest.raises(NoCredentialsError):  # a configuration error: no retry helps
        store._call(raising(NoCredentialsError()), Key="k")


def test_an_s3_call_is_retried_in_place_over_the_storage_budget(monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    from voicecast.settings import StorageSettings
    from voicecast.storage import S3Store

    t = FakeTime()
    monkeypatch.setattr(retry.time, "sleep", t.sleep)
    monkeypatch.setattr(retry.time, "monotonic", t.clock)
    store = S3Store(StorageSettings(bucket="b", endpoint_url="http://127.0.0.1:9", retry_budget_s=120),
                    backoff_max_s=10)

    def head(**_: Any) -> dict[str, int]:
        if t.now < 60:  # a 60 s outage
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
        return {"ContentLength": 3}

    assert store._call(head, Key="k") == {"ContentLength": 3}
    assert 60 <= t.now < 75


def test_task_retries_span_the_budget_of_the_errors_kind(monkeypatch):
    from voicecast import celery_app

    monkeypatch.setattr(celery_app._s.storage, "retry_budget_s", 180.0)
    monkeypatch.setattr(celery_app._s.queue, "retry_budget_s", 60.0)
    assert celery_app.retry_budget_for(TransientError("S3")) == 180.0
    assert celery_app.retry_budget_for(ConnectionError("redis")) == 60.0
    cap = celery_app._s.queue.retry_backoff_max_s
    n = retry.retries_within(180.0, celery_app.RETRY_FIRST_S, cap)
    assert sum(retry.delays(180.0, celery_app.RETRY_FIRST_S, cap)) >= 180.0 and n >= 6


def test_the_stall_watch_fires_only_after_a_whole_timeout_without_change():
    from orchestrator.dispatch import StallWatch

    t = FakeTime()
    w = StallWatch(15.0, clock=t.clock)
    assert not w.due(("rendering", 5))
    t.now = 14.9
    assert not w.due(("rendering", 5))
    t.now = 20.0
    assert not w.due(("rendering", 4))  # progress restarts the clock
    t.now = 34.9
    assert not w.due(("rendering", 4))
    t.now = 35.0
    assert w.due(("rendering", 4))
    w.restart()
    assert not w.due(("rendering", 4))
    t.now = 50.0
    assert w.due(("rendering", 4))
    assert not StallWatch(0, clock=t.clock).due(None)  # 0: never


class FakeRedis:
    def __init__(self, lists: dict[str, list[bytes]]) -> None:
        self.lists = lists

    def llen(self, key: str) -> int:
        return len(self.lists.get(key, []))

    def lrange(self, key: str, a: int, b: int) -> list[bytes]:
        return self.lists.get(key, [])[a: b + 1]


def kombu_message(args: list[Any], argsrepr: str = "") -> bytes:
    body = base64.b64encode(json.dumps([args, {}, {}]).encode()).decode()
    return json.dumps({"body": body, "headers": {"argsrepr": argsrepr},
                       "properties": {"body_encoding": "base64"}}).encode()


def test_a_queued_message_of_the_job_is_found_in_its_body_or_headers():
    from orchestrator.dispatch import queued_for_job

    job, other = "a" * 32, "b" * 32
    r = FakeRedis({"synth": [kombu_message([{"job_id": other, "idx": 0}])] * 3,
                   "assemble": [kombu_message([job])]})
    assert queued_for_job(r, ["synth", "assemble"], job, chunk=2)
    assert not queued_for_job(r, ["synth"], job, chunk=2)
    r2 = FakeRedis({"synth\x06\x163": [kombu_message([], argsrepr=f"({{'job_id': '{job}'}},)")]})
    assert queued_for_job(r2, ["synth"], job)


def test_a_task_retries_as_many_times_as_its_budget_allows(monkeypatch):
    """Run eagerly (no broker): a task failing on a storage error is retried
    ``retries_within(budget)`` times, then fails with that error."""
    from voicecast import celery_app

    monkeypatch.setattr(celery_app._s.storage, "retry_budget_s", 10.0)  # waits 2 + 4 + 8: 3 retries
    monkeypatch.setitem(celery_app.app.conf, "task_always_eager", True)
    runs: list[int] = []
    failures = {"n": 0}

    @celery_app.voicecast_task("voicecast.test_outage_probe", queue="synth")
    def probe(self: Any) -> str:
        runs.append(self.request.retries)
        if len(runs) <= failures["n"]:
            raise TransientError("S3 unreachable")
        return "done"

    failures["n"] = 3
    assert probe.apply_async().get() == "done"
    assert runs == [0, 1, 2, 3]
    runs.clear()
    failures["n"] = 4
    with pytest.raises(TransientError):
        probe.apply_async().get()
    assert runs == [0, 1, 2, 3]
