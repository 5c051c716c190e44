"""``voicecast keys``, ``voicecast jobs`` and ``voicecast cancel`` at the
command line: a running embedded render is cancelled from another terminal
and stops without writing its output."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_keys_are_shown_once_listed_by_prefix_and_revoked(voicecast_env: dict[str, str]) -> None:
    made = cli(voicecast_env, "keys", "create", "acme", "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["tenant"] == "acme" and key["key"].startswith("vc_") and len(key["webhook_secret"]) == 64
    listed = json.loads(cli(voicecast_env, "keys", "list", "--json").stdout)
    assert [(k["tenant"], k["prefix"], k["revoked_at"]) for k in listed] == [("acme", key["key"][:10], None)]
    # Only the hash is stored: the database never holds the key itself.
    db = Path(voicecast_env["VOICECAST_DATA_DIR"]) / "voicecast.db"
    assert key["key"].encode() not in db.read_bytes()
    assert cli(voicecast_env, "keys", "revoke", key["key"][:10]).returncode == 0
    assert json.loads(cli(voicecast_env, "keys", "list", "--json").stdout)[0]["revoked_at"]
    bad = cli(voicecast_env, "keys", "create", "Not A Tenant")
    assert bad.returncode == 2 and "tenant" in bad.stderr


def test_cancel_stops_a_running_render_from_another_terminal(voicecast_env: dict[str, str],
                                                               tmp_path: Path) -> None:
    env = {**voicecast_env, "VOICECAST_ENGINE__NAME": "null", "VOICECAST_ENGINE__NULL_RTF": "0.2"}
    script = tmp_path / "long.txt"
    script.write_text("".join(f"Line {n} of a script long enough to be cancelled halfway.\n"
                              for n in range(1, 81)))
    out = tmp_path / "long.wav"
    render = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "render", str(script), "--voice",
                               "jf_alpha", "--out", str(out), "--json", "--workers", "1", "--priority", "3"],
                              env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            jobs = json.loads(cli(env, "jobs", "--json").stdout or "[]")
            if jobs and jobs[0]["done"] >= 3:
                break
            assert time.monotonic() < deadline and render.poll() is None, render.stderr
            time.sleep(0.3)
        job = jobs[0]
        assert (job["status"], job["kind"], job["priority"], job["total"]) == ("rendering", "script", 3, 80)
        cancel = cli(env, "cancel", job["id"][:12])
        assert cancel.returncode == 0 and "cancelled" in cancel.stderr, cancel.stderr
        stdout, stderr = render.communicate(timeout=60)
    finally:
        if render.poll() is None:
            render.kill()
    assert render.returncode == 1, stderr
    summary = json.loads(stdout)
    assert summary["status"] == "cancelled"
    assert not out.exists()
    listed = json.loads(cli(env, "jobs", "--status", "cancelled", "--json").stdout)
    assert [j["id"] for j in listed] == [job["id"]] and listed[0]["done"] < 80
    again = cli(env, "cancel", job["id"])
    assert again.returncode == 2 and "cancelled already" in again.stderr
    resumed = cli(env, "resume", job["id"])
    assert resumed.returncode == 2 and "cancelled" in resumed.stderr
