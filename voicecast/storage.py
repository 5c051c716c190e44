"""Object storage behind one small interface: a local folder or any S3 endpoint.

Keys are content-addressed where the content allows it (segment audio is named
by its content hash), so "the key exists" means "this work is done". Writes are
atomic in both backends: a reader never sees half an object.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from voicecast.errors import TransientError
from voicecast.settings import Settings, StorageSettings

log = logging.getLogger(__name__)


def segment_audio_key(content_hash: str) -> str:
    return f"segments/{content_hash[:2]}/{content_hash}.wav"


def segment_result_key(content_hash: str) -> str:
    """Written after the audio: its presence marks the segment as rendered."""
    return f"segments/{content_hash[:2]}/{content_hash}.json"


def upload_key(sha256: str) -> str:
    """A file the control role uploaded for a worker to read (a reference clip
    before its checks), named by the SHA-256 of its bytes."""
    return f"uploads/{sha256}"


def reference_key(sha256: str) -> str:
    return f"refs/{sha256}.wav"


def emotion_clip_key(clip_id: str) -> str:
    """A ``[like:CLIP]`` clip (mono WAV at the engine rate), by content: ``emotion-clips/<id>.wav``."""
    return f"emotion-clips/{clip_id}.wav"


def voice_profile_key(voice_id: str, version: int) -> str:
    return f"voices/{voice_id}/v{version}.npz"


def voice_meta_key(voice_id: str, version: int) -> str:
    """Enrollment metadata written beside the profile."""
    return f"voices/{voice_id}/v{version}.json"


def voice_progress_key(voice_id: str, version: int) -> str:
    """Enrollment progress (``{done, total, note, t}``), polled by the CLI."""
    return f"voices/{voice_id}/v{version}.progress.json"


def voice_retired_key(voice_id: str) -> str:
    """Left by ``voice rm``: the last version, so a re-added name never reuses one."""
    return f"voices/{voice_id}/retired.json"


def job_key(job_id: str, name: str) -> str:
    return f"jobs/{job_id}/{name}"


class ObjectStore(Protocol):
    def exists(self, key: str) -> bool: ...
    def put_bytes(self, key: str, data: bytes, content_type: str = ...) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def put_file(self, key: str, path: Path, content_type: str = ...) -> None: ...
    def get_file(self, key: str, path: Path) -> None: ...
    def delete(self, key: str) -> None: ...
    def url(self, key: str) -> str: ...
    def size(self, key: str) -> int: ...


class LocalStore:
    """A folder; objects are files under it, written via rename for atomicity."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root.resolve() not in p.parents:
            raise ValueError(f"object key escapes the store: {key!r}")
        return p

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _write_atomic(self, key: str, writer) -> None:  # type: ignore[no-untyped-def]
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                writer(f)
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


class S3Store:
    """boto3 against AWS S3, MinIO or any S3-compatible endpoint.

    Connection problems and throttling surface as :class:`TransientError`, which
    tasks retry with backoff; a missing object is ``FileNotFoundError``.
    """

    def __init__(self, cfg: StorageSettings) -> None:
        import boto3
        from botocore.config import Config

        assert cfg.bucket
        self.bucket = cfg.bucket
        self.prefix = cfg.prefix.strip("/") + "/" if cfg.prefix.strip("/") else ""
        self.expiry = cfg.presign_expiry_s
        self.client = boto3.client(
            "s3",
            endpoint_url=cfg.endpoint_url,
            region_name=cfg.region,
            aws_access_key_id=cfg.access_key_id,
            aws_secret_access_key=(cfg.secret_access_key.get_secret_value()
                                   if cfg.secret_access_key else None),
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                s3={"addressing_style": "path"} if cfg.endpoint_url else {},
            ),
        )

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        from botocore.exceptions import BotoCoreError, ClientError

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
        except BotoCoreError as e:  # connection refused, timeouts, DNS...
            raise TransientError(f"S3 unreachable: {e}") from e

    def exists(self, key: str) -> bool:
        try:
            self._call(self.client.head_object, Bucket=self.bucket, Key=self._k(key))
            return True
        except FileNotFoundError:
            return False

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._call(
            self.client.put_object, Bucket=self.bucket, Key=self._k(key), Body=data,
            ContentType=content_type,
        )

    def get_bytes(self, key: str) -> bytes:
        obj = self._call(self.client.get_object, Bucket=self.bucket, Key=self._k(key))
        data: bytes = obj["Body"].read()
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
        _stores[ident] = S3Store(cfg) if cfg.bucket else LocalStore(settings.local_store_dir)
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
