"""Object storage behind one small interface: a local folder or any S3 endpoint.

Keys are content-addressed where the content allows it (segment audio is named
by its content hash), so "the key exists" means "this work is done". Writes are
atomic in both backends: a reader never sees half an object.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from voicecast.errors import TransientError
from voicecast.localfs import default_file_mode
from voicecast.settings import Settings, StorageSettings

log = logging.getLogger(__name__)


#: The first part of every object key (anything else is refused by the stores).
KEY_PREFIXES = frozenset({
    "segments", "uploads", "refs", "emotion-clips", "voices", "jobs", "attempts", "covers",
    "chapters", "engines", "deliverables", "tenants", "media", "subtitles",
})
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: A ``[like:]`` clip's id: the first 16 hex digits of its WAV's SHA-256.
_CLIP_ID = re.compile(r"[0-9a-f]{16}")
#: Voice and job ids, file names under ``jobs/``: no separators, no ``..``.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_KEY_CHARS = re.compile(r"[A-Za-z0-9_.=+-]+")


class UnsafeKey(ValueError):
    """An object key, or a part of one, that does not have the shape its kind
    allows (a forged message, a bug): nothing is read or written under it."""


def _check(value: object, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value) or ".." in value:
        raise UnsafeKey(f"not a valid {what}: {str(value)[:80]!r}")
    return value


def check_hash(value: object, what: str = "content hash") -> str:
    """``value`` if it is a SHA-256 hex digest (64 lowercase hex digits)."""
    return _check(value, _HEX64, what)


def check_id(value: object, what: str = "id") -> str:
    """``value`` if it is a safe id (voice, job): letters, digits, ``_.-``, at
    most 64 characters, no ``..``."""
    return _check(value, _SAFE_ID, what)


def check_clip_id(value: object) -> str:
    """``value`` if it is a ``[like:]`` clip id (16 lowercase hex digits)."""
    return _check(value, _CLIP_ID, "emotion clip id")


def _check_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UnsafeKey(f"not a valid voice version: {str(version)[:20]!r}")
    return version


def check_key(key: object) -> str:
    """``key`` if it is a relative object key under one of :data:`KEY_PREFIXES`,
    with no empty, ``.`` or ``..`` part, no backslash and no control character.
    Both stores check every key they are given, so a key built from a forged
    value cannot reach outside the store's own objects."""
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise UnsafeKey(f"not a valid object key: {str(key)[:80]!r}")
    parts = key.split("/")
    if parts[0] not in KEY_PREFIXES or any(
        p in ("", ".", "..") or not _KEY_CHARS.fullmatch(p) for p in parts[1:]
    ) or len(parts) < 2:
        raise UnsafeKey(f"object key outside the store's prefixes: {key[:120]!r}")
    return key


def segment_audio_key(content_hash: str) -> str:
    check_hash(content_hash)
    return f"segments/{content_hash[:2]}/{content_hash}.wav"


def segment_result_key(content_hash: str) -> str:
    """Written after the audio: its presence marks the segment as rendered."""
    check_hash(content_hash)
    return f"segments/{content_hash[:2]}/{content_hash}.json"


def upload_key(sha256: str) -> str:
    """A file the control role uploaded for a worker to read (a reference clip
    before its checks), named by the SHA-256 of its bytes."""
    return f"uploads/{check_hash(sha256, 'upload SHA-256')}"


def reference_key(sha256: str) -> str:
    return f"refs/{check_hash(sha256, 'reference SHA-256')}.wav"


def emotion_clip_key(clip_id: str) -> str:
    """A ``[like:CLIP]`` clip (mono WAV at the engine rate), by content: ``emotion-clips/<id>.wav``."""
    return f"emotion-clips/{check_clip_id(clip_id)}.wav"


def voice_profile_key(voice_id: str, version: int) -> str:
    return f"voices/{check_id(voice_id, 'voice id')}/v{_check_version(version)}.npz"


def voice_meta_key(voice_id: str, version: int) -> str:
    """Enrollment metadata written beside the profile."""
    return f"voices/{check_id(voice_id, 'voice id')}/v{_check_version(version)}.json"


def voice_progress_key(voice_id: str, version: int) -> str:
    """Enrollment progress (``{done, total, note, t}``), polled by the CLI."""
    return f"voices/{check_id(voice_id, 'voice id')}/v{_check_version(version)}.progress.json"


def voice_retired_key(voice_id: str) -> str:
    """Left by ``voice rm``: the last version, so a re-added name never reuses one."""
    return f"voices/{check_id(voice_id, 'voice id')}/retired.json"


def tenant_upload_key(tenant: str, job_id: str, name: str) -> str:
    """A file uploaded with an API job (input, reference clip, lexicon), under its tenant."""
    return (f"tenants/{check_id(tenant, 'tenant')}/uploads/{check_id(job_id, 'job id')}/"
            f"{check_id(name, 'upload name')}")


def job_key(job_id: str, name: str) -> str:
    return f"jobs/{check_id(job_id, 'job id')}/{check_id(name, 'job file name')}"


def attempts_key(job_id: str, idx: int) -> str:
    """Starts of one segment's rendering that never finished (``workers.synth.crash_guard``)."""
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise UnsafeKey(f"not a valid segment index: {str(idx)[:20]!r}")
    return f"attempts/{check_id(job_id, 'job id')}/{idx}"


def expect_key(key: object, kind: str) -> str:
    """``key`` if it is exactly a key of ``kind`` (``upload``, ``reference``,
    ``voice_profile``) as the builders above make them: how a worker checks a
    key a message hands it instead of the values it is built from."""
    pattern = _KEY_KINDS[kind]
    if not isinstance(key, str) or not pattern.fullmatch(key) or ".." in key:
        raise UnsafeKey(f"not a valid {kind.replace('_', ' ')} key: {str(key)[:120]!r}")
    return key


_KEY_KINDS = {
    "upload": re.compile(r"uploads/[0-9a-f]{64}"),
    "reference": re.compile(r"refs/[0-9a-f]{64}\.wav"),
    "voice_profile": re.compile(r"voices/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/v[1-9][0-9]*\.npz"),
}


class ObjectStore(Protocol):
    def exists(self, key: str) -> bool: ...
    def put_bytes(self, key: str, data: bytes, content_type: str = ...) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def put_file(self, key: str, path: Path, content_type: str = ...) -> None: ...
    def get_file(self, key: str, path: Path) -> None: ...
    def delete(self, key: str) -> None: ...
    def url(self, key: str) -> str: ...
    def size(self, key: str) -> int: ...
    def existing(self, keys: Iterable[str]) -> set[str]: ...


class LocalStore:
    """A folder; objects are files under it, written via rename for atomicity."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        p = (self.root / check_key(key)).resolve()
        if self.root.resolve() not in p.parents:
            raise ValueError(f"object key escapes the store: {key!r}")
        return p

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def existing(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` exist (a ``stat`` each: no round trip to speak of)."""
        return {k for k in set(keys) if self._path(k).is_file()}

    def _write_atomic(self, key: str, writer) -> None:  # type: ignore[no-untyped-def]
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                writer(f)
            # mkstemp's 0600 would hide objects from the group a shared data folder is meant for.
            os.chmod(tmp, default_file_mode())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._write_atomic(key, lambda f: f.write(data))

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        def copy(f) -> None:  # type: ignore[no-untyped-def]
            with open(path, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)

        self._write_atomic(key, copy)

    def get_file(self, key: str, path: Path) -> None:
        shutil.copyfile(self._path(key), path)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return self._path(key).as_uri()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size


#: ``S3Store.existing``: from this many keys on, list instead of HEAD each.
LIST_MIN_KEYS = 50
#: ... for at most one listing request (1,000 keys) per this many keys asked.
KEYS_PER_LISTING = 20
#: HEAD requests in flight at once for the keys a listing did not reach.
HEAD_THREADS = 16
#: Keys per listing request (S3's own maximum).
LIST_PAGE = 1000


class S3Store:
    """boto3 against AWS S3, MinIO or any S3-compatible endpoint.

    Connection problems, timeouts and throttling are retried in place with
    capped exponential backoff for ``storage.retry_budget_s`` (inside a task,
    for :data:`voicecast.retry.TASK_CALL_BUDGET_S` only: the task is then
    retried over the rest of the budget), then surface as
    :class:`TransientError`; a missing object is ``FileNotFoundError``.
    """

    def __init__(self, cfg: StorageSettings, backoff_max_s: float = 30.0) -> None:
        import boto3
        from botocore.config import Config

        assert cfg.bucket
        self.bucket = cfg.bucket
        self.prefix = cfg.prefix.strip("/") + "/" if cfg.prefix.strip("/") else ""
        self.expiry = cfg.presign_expiry_s
        self.retry_budget_s = cfg.retry_budget_s
        self.backoff_max_s = backoff_max_s
        self.client = boto3.client(
            "s3",
            endpoint_url=cfg.endpoint_url,
            region_name=cfg.region,
            aws_access_key_id=cfg.access_key_id,
            aws_secret_access_key=(cfg.secret_access_key.get_secret_value()
                                   if cfg.secret_access_key else None),
            config=Config(
                # botocore's own few tries ride out a dropped connection; an
                # outage is ridden out by _call's budget.
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=cfg.connect_timeout_s,
                max_pool_connections=HEAD_THREADS,  # existing()'s HEADs in flight
                read_timeout=cfg.read_timeout_s,
                s3={"addressing_style": "path"} if cfg.endpoint_url else {},
            ),
        )

    def _k(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        """``fn(*args, **kwargs)``, retried over the storage outage budget."""
        from voicecast.retry import call_with_retry

        return call_with_retry(
            lambda: self._call_once(fn, *args, **kwargs), lambda e: isinstance(e, TransientError),
            budget_s=self.retry_budget_s, cap_s=self.backoff_max_s,
            what=f"S3 {getattr(fn, '__name__', 'request')}")

    @staticmethod
    def _call_once(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        try:
            return fn(*args, **kwargs)
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(kwargs.get("Key") or args) from e
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if status >= 500 or code in ("SlowDown", "RequestTimeout", "Throttling"):
                raise TransientError(f"S3 {code}: {e}") from e
            raise
        except (BotoConnectionError, HTTPClientError) as e:  # refused, reset, timeouts, DNS...
            raise TransientError(f"S3 unreachable: {e}") from e
        except S3UploadFailedError as e:  # upload_file wraps the request's own error
            if any(w in str(e) for w in ("(500)", "(502)", "(503)", "(504)", "SlowDown", "InternalError",
                                         "RequestTimeout")):
                raise TransientError(f"S3 upload failed: {e}") from e
            raise

    def exists(self, key: str) -> bool:
        try:
            self._call(self.client.head_object, Bucket=self.bucket, Key=self._k(key))
            return True
        except FileNotFoundError:
            return False

    def existing(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` exist, in few requests for many keys.

        S3 has no batch HEAD. For :data:`LIST_MIN_KEYS` keys or more, the
        keys' common prefix is listed (1,000 keys a request, in key order) for
        at most one request per :data:`KEYS_PER_LISTING` keys asked: enough to
        cover a bucket that holds little besides them (a job's segments among
        a few other jobs'). A key past what that listing reached (a bucket
        holding far more) is asked for with HEAD, :data:`HEAD_THREADS` at a time.
        """
        wanted = sorted({check_key(k) for k in keys})
        found: set[str] = set()
        rest = wanted
        if len(wanted) >= LIST_MIN_KEYS:
            listed, reached = self._list_range(wanted, max(1, len(wanted) // KEYS_PER_LISTING))
            found = {k for k in wanted if k in listed}
            rest = [k for k in wanted if reached is not None and k > reached]
        if rest:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(HEAD_THREADS, len(rest))) as pool:
                found.update(k for k, hit in zip(rest, pool.map(self.exists, rest), strict=True) if hit)
        return found

    def _list_range(self, wanted: list[str], max_pages: int) -> tuple[set[str], str | None]:
        """Keys under the common prefix of ``wanted`` (sorted), from the first of
        them on, for up to ``max_pages`` requests. Returns them (without the
        store's prefix) and the last key reached, or ``None`` when the listing
        covered every wanted key."""
        common = os.path.commonprefix(wanted)
        cut = len(self.prefix)
        listed: set[str] = set()
        # Every key was checked (check_key), so their common prefix is safe too.
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "MaxKeys": LIST_PAGE,
                                  "Prefix": self.prefix + common,
                                  # exclusive: start just before the first wanted key
                                  "StartAfter": (self.prefix + wanted[0])[:-1]}
        last = ""
        for _ in range(max_pages):
            page = self._call(self.client.list_objects_v2, **kwargs)
            for obj in page.get("Contents", []):
                listed.add(obj["Key"][cut:])
                last = obj["Key"][cut:]
            if not page.get("IsTruncated") or (last and last >= wanted[-1]):
                return listed, None
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
        return listed, last

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._call(
            self.client.put_object, Bucket=self.bucket, Key=self._k(key), Body=data,
            ContentType=content_type,
        )

    def get_bytes(self, key: str) -> bytes:
        def read(**kw: Any) -> bytes:  # the body's read is retried too
            body: bytes = self.client.get_object(**kw)["Body"].read()
            return body

        data: bytes = self._call(read, Bucket=self.bucket, Key=self._k(key))
        return data

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        self._call(
            self.client.upload_file, str(path), self.bucket, self._k(key),
            ExtraArgs={"ContentType": content_type},
        )

    def get_file(self, key: str, path: Path) -> None:
        tmp = Path(str(path) + ".part")
        self._call(self.client.download_file, self.bucket, self._k(key), str(tmp))
        os.replace(tmp, path)

    def delete(self, key: str) -> None:
        self._call(self.client.delete_object, Bucket=self.bucket, Key=self._k(key))

    def url(self, key: str) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._k(key)},
            ExpiresIn=self.expiry,
        )
        return url

    def size(self, key: str) -> int:
        head = self._call(self.client.head_object, Bucket=self.bucket, Key=self._k(key))
        return int(head["ContentLength"])


_stores: dict[tuple[object, ...], ObjectStore] = {}


def get_store(settings: Settings) -> ObjectStore:
    """The store the settings describe (one instance per process and configuration)."""
    cfg = settings.storage
    ident = (cfg.bucket, cfg.endpoint_url, cfg.prefix, str(settings.local_store_dir))
    if ident not in _stores:
        _stores[ident] = (S3Store(cfg, settings.queue.retry_backoff_max_s) if cfg.bucket
                          else LocalStore(settings.local_store_dir))
    return _stores[ident]


def progress_writer(
    store: ObjectStore, key: str, min_interval_s: float = 1.0
) -> Callable[[int, int, str], None]:
    """A ``progress(done, total, note)`` callback that writes ``{done, total, note, t}``
    as JSON to ``key``: at most once per ``min_interval_s``, except the first and
    the last step (``done >= total``), which are always written. Storage hiccups
    are logged, never raised: progress is advisory."""
    last = [0.0]

    def progress(done: int, total: int, note: str = "") -> None:
        now = time.time()
        if last[0] and now - last[0] < min_interval_s and done < total:
            return
        last[0] = now
        body = {"done": int(done), "total": int(total), "note": str(note), "t": round(now, 3)}
        try:
            store.put_bytes(key, json.dumps(body).encode(), content_type="application/json")
        except Exception as e:  # advisory: never fail the enrollment for it
            log.warning("could not write progress to %s: %s", key, e)

    return progress


def read_progress(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """What :func:`progress_writer` last wrote at ``key``, or ``None``."""
    try:
        if not store.exists(key):
            return None
        data: dict[str, Any] = json.loads(store.get_bytes(key))
        return data
    except (OSError, ValueError, TransientError):
        return None
