"""Shared fixtures: real servers for integration tests, started lazily.

Session-scoped servers start only when a test asks for them, once per session:

- ``redis_server``    :class:`servers.RedisServer`    ``.env()``: VOICECAST_QUEUE__BROKER_URL,
                                                       VOICECAST_QUEUE__RESULT_BACKEND
- ``postgres_server`` :class:`servers.PostgresServer` ``.env()``: VOICECAST_DATABASE_URL
- ``s3_server``       :class:`servers.S3Server`       ``.env()``: VOICECAST_STORAGE__BUCKET,
                      VOICECAST_STORAGE__ENDPOINT_URL, VOICECAST_STORAGE__ACCESS_KEY_ID,
                      VOICECAST_STORAGE__SECRET_ACCESS_KEY, VOICECAST_STORAGE__REGION

Per test:

- ``voicecast_env``   a complete environment for a subprocess: ``os.environ`` without any
                      inherited ``VOICECAST_*`` plus a fresh ``VOICECAST_DATA_DIR``
                      under ``tmp_path``. Merge server envs into it:
                      ``{**voicecast_env, **redis_server.env(), **s3_server.env()}``.
- ``celery_workers``  a factory ``start(queue, env, concurrency=1, hostname=None,
                      command=None) -> CeleryWorker`` (started and ready); every worker
                      it started is stopped at teardown.

A server that cannot start is a test *error*, never a skip.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Make tests/servers.py importable as `servers` however pytest was invoked
# (`pytest`, `python -m pytest`, with or without tests/__init__.py).
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from servers import CeleryWorker, PostgresServer, RedisServer, S3Server  # noqa: E402

# Hypothesis (the property tests, tests/unit/test_properties_*.py). The default profile
# is deterministic, so CI and every machine run the same examples: a fixed seed
# (derandomize), a bounded number of examples, no example database, no deadline
# (tests assert behaviour, never timings). HYPOTHESIS_PROFILE=explore searches with
# fresh random examples, many more of them, to hunt for new bugs locally.
hypothesis_settings.register_profile(
    "ci", derandomize=True, max_examples=150, database=None, deadline=None, print_blob=True
)
hypothesis_settings.register_profile("explore", max_examples=3000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml; repeated so the markers exist whatever ini is used.
    config.addinivalue_line(
        "markers", "integration: needs real servers started by the test session"
    )
    config.addinivalue_line("markers", "slow: renders real speech")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything under tests/integration is an integration test, marked or not.
    for item in items:
        if f"{os.sep}integration{os.sep}" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def voicecast_env(tmp_path: Path) -> dict[str, str]:
    """A clean subprocess environment with its own empty VOICECAST_DATA_DIR."""
    data_dir = tmp_path / "voicecast-data"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    env["VOICECAST_DATA_DIR"] = str(data_dir)
    # The style search takes minutes per voice; tests about jobs enroll with the
    # nearest bundled voice (tests/integration/test_enroll_search.py covers the search).
    env["VOICECAST_ENROLL__METHOD"] = "nearest"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


WorkerFactory = Callable[..., CeleryWorker]


@pytest.fixture
def celery_workers(tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start real Celery worker processes; all are stopped at teardown."""
    started: list[CeleryWorker] = []

    def start(
        queue: str,
        env: Mapping[str, str],
        *,
        concurrency: int = 1,
        hostname: str | None = None,
        command: Sequence[str] | None = None,
        wait: bool = True,
    ) -> CeleryWorker:
        worker = CeleryWorker(
            queue, env, concurrency=concurrency, hostname=hostname, command=command,
            log_path=tmp_path / f"worker-{queue}-{len(started)}.log",
        )
        started.append(worker)
        worker.start()
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
