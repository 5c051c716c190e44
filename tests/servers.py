"""Real servers for integration tests, started as plain processes on loopback.

Each helper starts one real server (no Docker, no fakes inside the test process)
on a free 127.0.0.1 port, waits until it answers, and tears it down again. Each is
a context manager and has ``env()``: the ``VOICECAST_*`` variables that point
voicecast at it, to merge into a subprocess environment.

- :class:`RedisServer`     ``redis-server``; broker and result backend.
- :class:`PostgresServer`  ``initdb`` + ``pg_ctl`` from ``/usr/lib/postgresql/*/bin``;
                           run as the unprivileged ``postgres`` user when we are root
                           (PostgreSQL refuses to run as root).
- :class:`S3Server`        moto's standalone server (``python -m moto.server``), a real
                           HTTP S3 endpoint, with a bucket created.
- :class:`CeleryWorker`    ``python -m orchestrator.cli worker ...`` in its own process
                           group, so a test can SIGKILL the worker *and* its pool.

A missing binary raises :class:`ServerUnavailable` (a test error, never a skip):
CI must fail loudly when a server it needs is not installed (``scripts/setup.sh``
installs them).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

#: Seconds to wait for a server to answer after it was started.
START_TIMEOUT_S = float(os.environ.get("VOICECAST_TEST_START_TIMEOUT_S", "60"))

#: Unprivileged OS user that runs PostgreSQL when the tests run as root.
POSTGRES_OS_USER = os.environ.get("VOICECAST_TEST_PG_OS_USER", "postgres")


class ServerUnavailable(RuntimeError):
    """A server binary is missing or the server did not come up."""


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _which(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServerUnavailable(f"`{name}` not found on PATH; {hint}")
    return path


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "<no log>"


def _wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    interval: float = 0.05,
) -> None:
    """Poll ``check`` until it is true; fail fast if ``proc`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerUnavailable(
                f"{what} exited with code {proc.returncode} before it was ready; log:\n"
                + (_tail(log) if log else "")
            )
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - the server is not up yet
            last_exc = exc
        time.sleep(interval)
    raise ServerUnavailable(
        f"{what} not ready after {timeout:.0f}s (last error: {last_exc!r}); log:\n"
        + (_tail(log) if log else "")
    )


def _stop_process(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)


class _Server:
    """Context-manager plumbing shared by the servers."""

    #: Seconds the last ``start()`` took, for reports.
    startup_s: float = 0.0

    def start(self) -> Self:
        raise NotImplementedError

    proc: subprocess.Popen[bytes] | None = None
    dir: Path | None = None

    def stop(self) -> None:
        """Stop the server process and remove its temporary folder."""
        _stop_process(self.proc, signal.SIGTERM)
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        t0 = time.monotonic()
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- Redis


class RedisServer(_Server):
    """``redis-server`` on 127.0.0.1, no persistence unless ``appendonly``
    (the project's configuration: an append-only file, as compose runs it).

    ``env()``: ``VOICECAST_QUEUE__BROKER_URL`` (db 0) and
    ``VOICECAST_QUEUE__RESULT_BACKEND`` (db 1). ``restart(down_s)`` stops the
    server and starts it again on the same port and folder after ``down_s``:
    with ``appendonly`` its data (queues, unacked messages) come back, without
    it everything is lost.
    """

    def __init__(self, port: int | None = None, *, appendonly: bool = False) -> None:
        self.appendonly = appendonly
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.dir: Path | None = None
        self.log_path: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    @property
    def broker_url(self) -> str:
        return self.url(0)

    @property
    def result_backend(self) -> str:
        return self.url(1)

    def env(self) -> dict[str, str]:
        return {
            "VOICECAST_QUEUE__BROKER_URL": self.broker_url,
            "VOICECAST_QUEUE__RESULT_BACKEND": self.result_backend,
        }

    def client(self, db: int = 0) -> Any:
        import redis

        return redis.Redis.from_url(self.url(db))

    def flushall(self) -> None:
        """Empty every database (queues, results, pidbox) between tests."""
        c = self.client()
        try:
            c.flushall()
        finally:
            c.close()

    def restart(self, down_s: float = 0.0) -> float:
        """Stop the server (SIGTERM: an append-only file is flushed, nothing
        else is saved), stay down ``down_s``, start it again on the same port
        with the same folder; returns the seconds it was unreachable."""
        t0 = time.monotonic()
        _stop_process(self.proc, signal.SIGTERM)
        self.proc = None
        time.sleep(down_s)
        self.start()
        return time.monotonic() - t0

    def start(self) -> Self:
        exe = _which("redis-server", "install Debian's redis-server (scripts/setup.sh does)")
        if self.dir is None:  # a restart keeps its folder (and its append-only file)
            self.dir = Path(tempfile.mkdtemp(prefix="voicecast-redis-"))
        self.log_path = self.dir / "redis.log"
        self.proc = subprocess.Popen(
            [
                exe,
                "--port", str(self.port),
                "--bind", self.host,
                "--save", "",
                "--appendonly", "yes" if self.appendonly else "no",
                "--dir", str(self.dir),
                "--logfile", str(self.log_path),
                "--daemonize", "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

        def ping() -> bool:
            c = self.client()
            try:
                return bool(c.ping())
            finally:
                c.close()

        _wait_until(ping, what="redis-server", timeout=START_TIMEOUT_S, proc=self.proc,
                    log=self.log_path)
        return self



# --------------------------------------------------------------------------- PostgreSQL


def postgres_bin_dir() -> Path:
    """Directory with ``initdb``/``pg_ctl``: the newest ``/usr/lib/postgresql/*/bin``,
    else wherever ``initdb`` is on PATH."""

    def version(p: str) -> float:
        try:
            return float(Path(p).parent.name)
        except ValueError:
            return 0.0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise ServerUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found under "
        "/usr/lib/postgresql/*/bin or on PATH; install Debian's `postgresql` "
        "(scripts/setup.sh does)"
    )


class PostgresServer(_Server):
    """A throw-away PostgreSQL cluster on 127.0.0.1 with database ``voicecast``.

    ``initdb`` into a temp dir with trust auth and superuser ``voicecast``; the
    unix socket lives in the temp dir too, so nothing touches /var/run/postgresql.
    As root, every PostgreSQL command runs as the OS user ``postgres`` (created by
    Debian's package) via ``subprocess``'s ``user=``/``group=``; as any other user,
    as that user.

    ``env()``: ``VOICECAST_DATABASE_URL`` =
    ``postgresql+psycopg://voicecast@127.0.0.1:PORT/voicecast``.
    """

    def __init__(self, port: int | None = None, db_user: str = "voicecast",
                 database: str = "voicecast") -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.db_user = db_user
        self.database = database
        self.dir: Path | None = None
        self.log_path: Path | None = None
        self._bin: Path | None = None
        self._run_as: tuple[int, int] | None = None
        self._started = False

    # -- URLs
    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL (psycopg 3 driver)."""
        return (f"postgresql+psycopg://{self.db_user}@{self.host}:{self.port}/"
                f"{database or self.database}")

    @property
    def dsn(self) -> str:
        """libpq conninfo for psycopg.connect()."""
        return f"host={self.host} port={self.port} user={self.db_user} dbname={self.database}"

    def env(self) -> dict[str, str]:
        return {"VOICECAST_DATABASE_URL": self.url()}

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh, empty database (isolation per test); returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            f"host={self.host} port={self.port} user={self.db_user} dbname=postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    # -- process control
    def _run(self, args: Sequence[str], timeout: float = 120) -> None:
        kwargs: dict[str, Any] = {}
        if self._run_as is not None:
            kwargs["user"], kwargs["group"] = self._run_as
            kwargs["extra_groups"] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        res = subprocess.run(
            list(args), cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, timeout=timeout, check=False, **kwargs,
        )
        if res.returncode != 0:
            out = (res.stdout + res.stderr).decode(errors="replace")
            log = _tail(self.log_path) if self.log_path else ""
            raise ServerUnavailable(
                f"{' '.join(args)} failed with code {res.returncode}:\n{out}\nserver log:\n{log}"
            )

    def start(self) -> Self:
        self._bin = postgres_bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="voicecast-pg-"))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(POSTGRES_OS_USER)
            except KeyError as exc:
                raise ServerUnavailable(
                    f"running as root and there is no OS user {POSTGRES_OS_USER!r} to run "
                    "PostgreSQL as (postgres refuses root); install Debian's `postgresql` "
                    "or set VOICECAST_TEST_PG_OS_USER"
                ) from exc
            self._run_as = (pw.pw_uid, pw.pw_gid)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self._run([
            str(self._bin / "initdb"), "-D", str(data), "-U", self.db_user,
            "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
        ])
        # Speed over durability: this cluster lives for one test session.
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# voicecast tests\n"
                f"port = {self.port}\n"
                f"listen_addresses = '{self.host}'\n"
                f"unix_socket_directories = '{self.dir}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\n"
            )
        self._run([
            str(self._bin / "pg_ctl"), "-D", str(data), "-l", str(self.log_path),
            "-w", "-t", str(int(START_TIMEOUT_S)), "start",
        ], timeout=START_TIMEOUT_S + 10)
        self._started = True

        import psycopg

        def ready() -> bool:
            with psycopg.connect(
                f"host={self.host} port={self.port} user={self.db_user} dbname=postgres",
                connect_timeout=2,
            ):
                return True

        _wait_until(ready, what="postgres", timeout=START_TIMEOUT_S, log=self.log_path)
        self.create_database(self.database)
        return self

    def stop(self) -> None:
        if self._started and self._bin is not None and self.dir is not None:
            with contextlib.suppress(ServerUnavailable, subprocess.TimeoutExpired):
                self._run([str(self._bin / "pg_ctl"), "-D", str(self.dir / "data"),
                           "-m", "immediate", "-w", "stop"], timeout=30)
        self._started = False
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


# --------------------------------------------------------------------------- S3 (moto)


class S3Server(_Server):
    """moto's standalone S3-compatible HTTP server with one bucket.

    ``env()``: ``VOICECAST_STORAGE__BUCKET``, ``VOICECAST_STORAGE__ENDPOINT_URL``,
    ``VOICECAST_STORAGE__ACCESS_KEY_ID``, ``VOICECAST_STORAGE__SECRET_ACCESS_KEY``,
    ``VOICECAST_STORAGE__REGION``.
    """

    def __init__(self, bucket: str = "voicecast", port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.bucket = bucket
        self.access_key_id = "testing"
        self.secret_access_key = "testing"
        self.region = "us-east-1"
        self.dir: Path | None = None
        self.log_path: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "VOICECAST_STORAGE__BUCKET": self.bucket,
            "VOICECAST_STORAGE__ENDPOINT_URL": self.endpoint_url,
            "VOICECAST_STORAGE__ACCESS_KEY_ID": self.access_key_id,
            "VOICECAST_STORAGE__SECRET_ACCESS_KEY": self.secret_access_key,
            "VOICECAST_STORAGE__REGION": self.region,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def clear(self) -> None:
        """Delete every object in the bucket (isolation between tests)."""
        s3 = self.client()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})

    def start(self) -> Self:
        try:
            import moto.server  # noqa: F401
        except ImportError as exc:
            raise ServerUnavailable(
                "moto[server] is not installed in this interpreter; "
                "`pip install -e .[dev]` (scripts/setup.sh does)"
            ) from exc
        self.dir = Path(tempfile.mkdtemp(prefix="voicecast-s3-"))
        self.log_path = self.dir / "moto.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, cwd=self.dir,
            )

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=2):
                    return True
            except urllib.error.HTTPError:
                return True  # any HTTP answer means it is serving

        _wait_until(answers, what="moto S3 server", timeout=START_TIMEOUT_S, proc=self.proc,
                    log=self.log_path)
        self.create_bucket(self.bucket)
        return self



# --------------------------------------------------------------------------- TCP proxy


class TcpProxy:
    """A loopback TCP forwarder in front of a server, to cut it off on demand.

    ``down()`` closes the listening socket and every open connection, so the
    clients' connections are refused (as a server that went away); ``up()``
    listens again on the same port. ``url`` is ``http://127.0.0.1:PORT``.
    Runs in threads of the test process.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", port: int | None = None) -> None:
        import threading

        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def up(self) -> Self:
        import threading

        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind((self.host, self.port))
        lst.listen(128)
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()
        return self

    def down(self) -> None:
        with self._lock:
            lst, self._listener = self._listener, None
            conns, self._conns = self._conns, set()
        for sock in ([lst] if lst else []) + list(conns):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self, lst: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return  # closed by down()
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not lst:  # went down meanwhile
                    client.close()
                    server.close()
                    return
                self._conns.update((client, server))
                self.connections += 1
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)

    def __enter__(self) -> Self:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


# --------------------------------------------------------------------------- Celery worker


class CeleryWorker:
    """A real ``voicecast worker`` process (Celery) in its own process group.

    ``command`` overrides the default
    ``[python, -m, orchestrator.cli, worker, --queue Q, --concurrency N, --hostname H]``.
    ``env`` is the *whole* environment of the worker (e.g. the ``voicecast_env``
    fixture merged with ``redis_server.env()`` and ``s3_server.env()``); it must
    contain ``VOICECAST_QUEUE__BROKER_URL``, used to ping the worker.

    ``kill()`` sends a signal (default SIGKILL) to the whole process group, i.e.
    the main process *and* its pool children, as a crash or OOM-kill would;
    ``stop()`` asks the main process for a warm shutdown (TERM) and kills whatever
    is left afterwards.
    """

    def __init__(
        self,
        queue: str,
        env: Mapping[str, str],
        *,
        concurrency: int = 1,
        hostname: str | None = None,
        log_path: Path | str | None = None,
        command: Sequence[str] | None = None,
        cwd: Path | str | None = None,
    ) -> None:
        self.queue = queue
        self.env = dict(env)
        self.concurrency = concurrency
        # Celery node names are name@host; a full name makes ping destinations exact.
        self.hostname = hostname or f"vc-{queue}-{uuid.uuid4().hex[:8]}@127.0.0.1"
        self.log_path = Path(log_path) if log_path else Path(
            tempfile.mkstemp(prefix=f"voicecast-worker-{queue}-", suffix=".log")[1]
        )
        self.command = list(command) if command else [
            sys.executable, "-m", "orchestrator.cli", "worker",
            "--queue", queue, "--concurrency", str(concurrency), "--hostname", self.hostname,
        ]
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.pgid: int | None = None
        self.startup_s = 0.0
        self._t0 = 0.0

    @property
    def broker_url(self) -> str:
        url = self.env.get("VOICECAST_QUEUE__BROKER_URL")
        if not url:
            raise ValueError("CeleryWorker env has no VOICECAST_QUEUE__BROKER_URL")
        return url

    @property
    def pid(self) -> int:
        assert self.proc is not None, "worker not started"
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return _tail(self.log_path, 1_000_000)

    def start(self) -> Self:
        self._t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.pgid = self.proc.pid  # start_new_session: the leader's pid is the pgid
        return self

    def ping(self, timeout: float = 1.0) -> bool:
        """True when this worker answers a broadcast ``ping`` through the broker."""
        from celery import Celery

        app = Celery("voicecast-test-ping", broker=self.broker_url, set_as_current=False)
        try:
            replies = app.control.ping(destination=[self.hostname], timeout=timeout)
        finally:
            app.close()
        return any(self.hostname in r for r in replies or [])

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> Self:
        """Block until the worker consumes: its log says ``ready.`` (log level INFO)
        or it answers a ping (any log level). Fails at once if it exits."""

        def ready() -> bool:
            if f"{self.hostname} ready." in self.log_text():
                return True
            return self.ping(timeout=0.5)

        _wait_until(ready, what=f"celery worker {self.hostname}", timeout=timeout,
                    proc=self.proc, log=self.log_path, interval=0.2)
        self.startup_s = time.monotonic() - self._t0
        return self

    def kill(self, sig: int = signal.SIGKILL, wait: float = 10) -> None:
        """Signal the whole process group (worker and pool); with SIGKILL, reap it."""
        if self.pgid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, sig)
        if sig == signal.SIGKILL and self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait)

    def group_alive(self) -> bool:
        """True while any process of the worker's group exists."""
        if self.pgid is None:
            return False
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown (TERM to the main process), then SIGKILL the group's rest."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill(signal.SIGKILL)
        self.proc = None

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- the HTTP service


class ApiServer:
    """A real ``voicecast serve`` (uvicorn) on a free loopback port, in its own
    process group. ``env`` is its whole environment (embedded mode without
    ``VOICECAST_QUEUE__BROKER_URL``, distributed with it). ``key(tenant)``
    makes an API key with the CLI, as an operator would."""

    def __init__(self, env: Mapping[str, str], *, port: int | None = None, workers: int = 2,
                 log_path: Path | str | None = None) -> None:
        self.env = dict(env)
        self.env.setdefault("VOICECAST_API__WEBHOOK_ALLOW_PRIVATE", "true")
        self.port = port or free_port()
        self.workers = workers
        self.log_path = Path(log_path) if log_path else Path(
            tempfile.mkstemp(prefix="voicecast-api-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return _tail(self.log_path, 1_000_000)

    def credentials(self, tenant: str) -> tuple[str, str]:
        """A new API key of ``tenant`` and the tenant's webhook secret
        (``voicecast keys create TENANT --json``, as an operator would)."""
        import json

        out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "keys", "create", tenant, "--json"],
                             env=self.env, capture_output=True, timeout=120, check=True)
        made = json.loads(out.stdout)
        return str(made["key"]), str(made["webhook_secret"])

    def key(self, tenant: str) -> str:
        return self.credentials(tenant)[0]

    def start(self) -> Self:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    return bool(r.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        _wait_until(healthy, what="voicecast serve", timeout=START_TIMEOUT_S * 2, proc=self.proc,
                    log=self.log_path, interval=0.2)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
