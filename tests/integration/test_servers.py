"""Smoke tests: the real servers of tests/servers.py start and answer."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest
from servers import PostgresServer, RedisServer, S3Server

pytestmark = pytest.mark.integration


def test_redis_answers_ping(redis_server: RedisServer) -> None:
    client = redis_server.client()
    try:
        assert client.ping() is True
        client.set("voicecast:smoke", b"1")
        assert client.get("voicecast:smoke") == b"1"
    finally:
        client.delete("voicecast:smoke")
        client.close()
    env = redis_server.env()
    assert env["VOICECAST_QUEUE__BROKER_URL"] == f"redis://127.0.0.1:{redis_server.port}/0"
    assert env["VOICECAST_QUEUE__RESULT_BACKEND"].startswith("redis://127.0.0.1:")


def test_postgres_select_one(postgres_server: PostgresServer) -> None:
    from sqlalchemy import create_engine, text

    url = postgres_server.env()["VOICECAST_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://") and url.endswith("/voicecast")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar_one() == 1
            version = conn.execute(text("show server_version")).scalar_one()
            assert int(version.split(".")[0]) >= 13
            assert conn.execute(text("select current_database()")).scalar_one() == "voicecast"
    finally:
        engine.dispose()


def test_postgres_fresh_database(postgres_server: PostgresServer) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_server.create_database())
    try:
        with engine.begin() as conn:
            conn.execute(text("create table t (x int)"))
            conn.execute(text("insert into t values (42)"))
        with engine.connect() as conn:
            assert conn.execute(text("select x from t")).scalar_one() == 42
    finally:
        engine.dispose()


def test_s3_put_get_head_list(s3_server: S3Server) -> None:
    env = s3_server.env()
    import boto3

    # Built only from env(): what voicecast itself will see.
    s3 = boto3.client(
        "s3",
        endpoint_url=env["VOICECAST_STORAGE__ENDPOINT_URL"],
        aws_access_key_id=env["VOICECAST_STORAGE__ACCESS_KEY_ID"],
        aws_secret_access_key=env["VOICECAST_STORAGE__SECRET_ACCESS_KEY"],
        region_name=env["VOICECAST_STORAGE__REGION"],
    )
    bucket = env["VOICECAST_STORAGE__BUCKET"]
    body = b"RIFF....WAVEfmt " + bytes(range(256))
    s3.put_object(Bucket=bucket, Key="smoke/a.wav", Body=body, ContentType="audio/wav")
    got = s3.get_object(Bucket=bucket, Key="smoke/a.wav")
    assert got["Body"].read() == body
    head = s3.head_object(Bucket=bucket, Key="smoke/a.wav")
    assert head["ContentLength"] == len(body)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="smoke/")["Contents"]]
    assert keys == ["smoke/a.wav"]
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="smoke/missing.wav")
    s3_server.clear()
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


_SMOKE_APP = textwrap.dedent(
    """
    import os
    from celery import Celery

    app = Celery("vc_smoke", broker=os.environ["VOICECAST_QUEUE__BROKER_URL"],
                 backend=os.environ["VOICECAST_QUEUE__RESULT_BACKEND"])
    app.conf.task_default_queue = "smoke"

    @app.task(name="smoke.add")
    def add(a, b):
        return a + b
    """
)


def test_celery_worker_helper_runs_and_kills_group(
    tmp_path: Path, redis_server: RedisServer, voicecast_env: dict[str, str], celery_workers
) -> None:
    """The CeleryWorker helper against a real worker (a tiny app, not voicecast's,
    so this checks the helper itself): ready detection, a task round trip, and
    SIGKILL of the whole process group."""
    from celery import Celery

    (tmp_path / "vc_smoke_app.py").write_text(_SMOKE_APP)
    env = {**voicecast_env, **redis_server.env(), "PYTHONPATH": str(tmp_path)}
    hostname = f"smoke-{os.getpid()}@127.0.0.1"
    worker = celery_workers(
        "smoke", env, concurrency=2, hostname=hostname,
        command=[sys.executable, "-m", "celery", "-A", "vc_smoke_app", "worker",
                 "-Q", "smoke", "-c", "2", "-n", hostname, "-P", "prefork",
                 "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
    )
    assert worker.alive and worker.ping()

    client = Celery("client", broker=redis_server.broker_url,
                    backend=redis_server.result_backend, set_as_current=False)
    try:
        result = client.send_task("smoke.add", args=(2, 3), queue="smoke")
        assert result.get(timeout=30) == 5
    finally:
        client.close()

    worker.kill(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while worker.group_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not worker.alive
    assert not worker.group_alive(), "pool children survived the group SIGKILL"
