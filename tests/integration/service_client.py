"""A small client of voicecast's HTTP API for the tests (``requests``), and
inputs they submit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests


class Client:
    """One tenant's view of a ``voicecast serve``."""

    def __init__(self, base: str, key: str | None) -> None:
        self.base = base
        self.key = key
        self.http = requests.Session()

    def headers(self, **extra: str) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**out, **extra}

    def submit(self, path: Path, options: dict[str, Any] | None = None, *, reference: Path | None = None,
               idempotency_key: str | None = None, name: str | None = None) -> requests.Response:
        files: dict[str, Any] = {"input": (name or path.name, path.read_bytes())}
        if reference is not None:
            files["reference"] = (reference.name, reference.read_bytes())
        headers = self.headers(**({"Idempotency-Key": idempotency_key} if idempotency_key else {}))
        return self.http.post(f"{self.base}/v1/jobs", files=files,
                              data={"options": json.dumps(options or {})}, headers=headers, timeout=120)

    def job_id(self, path: Path, options: dict[str, Any] | None = None, **kw: Any) -> str:
        r = self.submit(path, options, **kw)
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def get(self, url: str, **kw: Any) -> requests.Response:
        headers = self.headers(**kw.pop("headers", {}))
        return self.http.get(self.base + url, headers=headers, timeout=120, **kw)

    def post(self, url: str, **kw: Any) -> requests.Response:
        headers = self.headers(**kw.pop("headers", {}))
        return self.http.post(self.base + url, headers=headers, timeout=300, **kw)

    def job(self, job_id: str) -> dict[str, Any]:
        r = self.get(f"/v1/jobs/{job_id}")
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def wait(self, job_id: str, statuses: tuple[str, ...] = ("done", "failed", "cancelled"),
             timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            j = self.job(job_id)
            if j["status"] in statuses:
                return j
            assert time.monotonic() < deadline, f"job {job_id} still {j['status']}: {j}"
            time.sleep(0.3)

    def events(self, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The job's server-sent events, parsed, until the stream ends."""
        with self.http.get(f"{self.base}/v1/jobs/{job_id}/events", headers=self.headers(), stream=True,
                           timeout=600) as r:
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/event-stream")
            event, data = "message", ""
            for line in r.iter_lines(decode_unicode=True):
                if line is None:
                    continue
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif line == "":
                    if data:
                        yield event, json.loads(data)
                    event, data = "message", ""


def long_then_short(c: Client, folder: Path, label: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Done-means 2's scenario: a 200-segment job, then (2 s after it started
    rendering) a 6-segment job, followed until the short one ends. Returns the
    long job's id and both jobs as they stood then; prints the figure."""
    long_id = c.job_id(script(folder / "long.txt", 200, f"read {label}"), {"voice": "jf_alpha"})
    deadline = time.monotonic() + 120
    while c.job(long_id)["progress"]["done"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(2.0)
    short_id = c.job_id(script(folder / "short.txt", 6, "a short job"), {"voice": "jm_kumo"})
    short = c.wait(short_id)
    long = c.job(long_id)
    print(f"{label}: short job done when the long one had {long['progress']['done']}/200 segments")
    return long_id, short, long


def script(path: Path, lines: int, words: str = "read at an even and steady pace") -> Path:
    """A plain script (a line per segment) of ``lines`` distinct lines."""
    path.write_text("".join(f"Line number {n + 1} of this script, {words}.\n" for n in range(lines)))
    return path


def error_of(r: requests.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return dict(body["error"])
