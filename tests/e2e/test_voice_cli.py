"""`voicecast voice add/list/show/rm` end to end in embedded mode (real enrollment,
the fast "nearest" method), and rendering with a named voice."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from audiocheck import SENTENCES, duration, make_srt
from test_cli import REFERENCE, cli

from voicecast.media import probe

ALLISON = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
CONSENT = "Allison Smith licensed these prompts under CC-BY-SA-3.0; voicecast test use"


@pytest.fixture
def env(voicecast_env: dict[str, str]) -> dict[str, str]:
    return {**voicecast_env, "VOICECAST_WORKERS": "1", "VOICECAST_ENROLL__METHOD": "nearest"}


def objects(env: dict[str, str]) -> Path:
    return Path(env["VOICECAST_DATA_DIR"]) / "objects"


def voice_rows(env: dict[str, str]) -> list[tuple[str, str, int]]:
    db = Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as c:
        return c.execute("select id, name, version from voices").fetchall()


def test_add_list_show_rm(env):
    clips = [ALLISON / "vm-intro.g722", ALLISON / "vm-login.g722", ALLISON / "vm-password.g722"]
    add = cli(env, "voice", "add", "Narrator", *map(str, clips), "--consent", CONSENT, "--json")
    assert add.returncode == 0, add.stderr
    info = json.loads(add.stdout)
    assert (info["name"], info["version"], info["consent"]) == ("Narrator", 1, CONSENT)
    assert info["id"].startswith("v-narrator-") and len(info["id"]) <= 64
    assert info["profile_key"] == f"voices/{info['id']}/v1.npz"
    assert info["method"].startswith(("nearest:", "mix:")) and 0 < info["similarity"] <= 1
    assert info["consent_at"] and info["enrollment"]["method"] == info["method"]
    ref = info["reference"]
    assert [c["file"] for c in ref["clips"]] == [c.name for c in clips]
    assert all(len(c["sha256"]) == 64 and c["speech_s"] > 0 and c["peak_db"] < 0 for c in ref["clips"])
    assert 7.0 < info["speech_s"] == ref["speech_s"] < 10.0
    vdir = objects(env) / "voices" / info["id"]
    assert sorted(p.name for p in vdir.iterdir()) == ["v1.json", "v1.npz"]  # progress record gone
    assert (objects(env) / "refs" / f"{info['source_sha256']}.wav").is_file()

    listed = cli(env, "voice", "list")
    assert listed.returncode == 0 and "Narrator" in listed.stdout and "nearest" in listed.stdout
    shown = json.loads(cli(env, "voice", "show", "Narrator", "--json").stdout)
    [enrolled] = shown.pop("history")
    assert shown == info
    assert (enrolled["event"], enrolled["version"], enrolled["consent"]) == ("enrolled", 1, CONSENT)
    assert enrolled["reference_sha256"] == info["source_sha256"]
    text = cli(env, "voice", "show", "Narrator")
    assert CONSENT in text.stdout and "vm-login.g722" in text.stdout and "consent trail" in text.stdout

    rm = cli(env, "voice", "rm", "Narrator", "--force")
    assert rm.returncode == 0, rm.stderr
    assert voice_rows(env) == [] and not (vdir / "v1.npz").exists()
    res = cli(env, "voice", "rm", "Narrator", "--force")
    assert res.returncode == 2 and "unknown voice 'Narrator'" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    gone = json.loads(cli(env, "voice", "show", "Narrator", "--json").stdout)
    assert gone["removed"] and [h["event"] for h in gone["history"]] == ["enrolled", "removed"]
    never = cli(env, "voice", "show", "Nobody")
    assert never.returncode == 2 and "unknown voice 'Nobody'" in never.stderr
    assert json.loads(cli(env, "voice", "list", "--json").stdout) == []


def test_bad_requests_are_clear_errors_and_store_nothing(env, tmp_path):
    missing = cli(env, "voice", "add", "Narrator", str(REFERENCE))
    assert missing.returncode == 2 and "--consent" in missing.stderr
    blank = cli(env, "voice", "add", "Narrator", str(REFERENCE), "--consent", "  ")
    assert blank.returncode == 2 and "consent text is required" in blank.stderr
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not audio at all\n" * 50)
    bad = cli(env, "voice", "add", "Narrator", str(REFERENCE), str(not_audio), "--consent", CONSENT)
    assert bad.returncode == 2 and f"{not_audio}: is not an audio file" in bad.stderr, bad.stderr
    two = cli(env, "voice", "add", "Narrator", str(ALLISON / "vm-intro.g722"),
              "/usr/share/asterisk/sounds/it_IT_m_Carlo/vm-intro.g722",
              "/usr/share/asterisk/sounds/it_IT_m_Carlo/vm-login.g722", "--consent", CONSENT)
    assert two.returncode == 2 and "more than one voice" in two.stderr, two.stderr
    path_name = cli(env, "voice", "add", "me.wav", str(REFERENCE), "--consent", CONSENT)
    assert path_name.returncode == 2 and "cannot name a voice" in path_name.stderr
    for res in (missing, blank, bad, two, path_name):
        assert "Traceback" not in res.stderr
    assert voice_rows(env) == []
    assert not (objects(env) / "voices").exists()


@pytest.mark.slow
def test_render_with_named_voice_and_reenroll_rerenders(env, tmp_path):
    srt = tmp_path / "two.srt"
    cues = make_srt(srt, SENTENCES[:2])
    add = cli(env, "voice", "add", "Narrator", str(REFERENCE), "--consent", CONSENT, "--json")
    assert add.returncode == 0, add.stderr

    def render(name: str) -> dict:
        res = cli(env, "render", str(srt), "--voice", "Narrator", "--out", str(tmp_path / name), "--json")
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    first = render("a.wav")
    assert (first["status"], first["rendered"], first["reused"]) == ("done", 2, 0)
    assert abs(duration(tmp_path / "a.wav") - cues[-1].end) <= 0.05
    assert render("b.wav")["reused"] == 2  # same voice version: nothing to render

    again = cli(env, "voice", "add", "Narrator", str(ALLISON / "vm-intro.g722"),
                str(ALLISON / "vm-login.g722"), "--consent", CONSENT, "--json", "--replace")
    assert again.returncode == 0, again.stderr
    v2 = json.loads(again.stdout)
    assert v2["version"] == 2 and v2["profile_key"].endswith("/v2.npz")
    assert v2["id"] == json.loads(add.stdout)["id"]
    third = render("c.wav")
    assert (third["rendered"], third["reused"]) == (2, 0)  # new version: new segment hashes
    # The output says it is synthetic and names the voice profile it was made with.
    comment = probe(tmp_path / "c.wav")["format"]["tags"]["comment"]
    assert "Synthetic speech" in comment and "Narrator v2" in comment

    # A removed name added again continues the numbering (never reuses old segments).
    assert cli(env, "voice", "rm", "Narrator", "--force").returncode == 0
    readd = cli(env, "voice", "add", "Narrator", str(REFERENCE), "--consent", CONSENT, "--json")
    assert readd.returncode == 0, readd.stderr
    assert json.loads(readd.stdout)["version"] == 3


def test_the_consent_trail_survives_reenrollment_and_removal(env):
    """Done means 5: re-enrolling keeps the first version's consent record, and
    removal keeps the trail; both need saying so (--replace, --force)."""
    first = "Alex Doe agreed on 2026-01-05 to a clone for the spring catalogue only"
    second = "Alex Doe renewed on 2026-06-01 for the autumn catalogue [signed]"
    add = cli(env, "voice", "add", "Alex", str(REFERENCE), "--consent", first, "--json")
    assert add.returncode == 0, add.stderr
    v1 = json.loads(add.stdout)

    # Someone else's name is not taken over by accident.
    clash = cli(env, "voice", "add", "Alex", str(REFERENCE), "--consent", "mine now")
    assert clash.returncode == 2 and "--replace" in clash.stderr and "Traceback" not in clash.stderr
    assert len(clash.stderr.strip().splitlines()) == 1
    assert voice_rows(env) == [(v1["id"], "Alex", 1)]

    again = cli(env, "voice", "add", "Alex", str(ALLISON / "vm-intro.g722"), str(ALLISON / "vm-login.g722"),
                "--consent", second, "--replace", "--json")
    assert again.returncode == 0, again.stderr
    v2 = json.loads(again.stdout)
    assert (v2["version"], v2["consent"]) == (2, second)
    trail = json.loads(cli(env, "voice", "show", "Alex", "--json").stdout)["history"]
    assert [(h["event"], h["version"], h["consent"]) for h in trail] == [
        ("enrolled", 1, first), ("enrolled", 2, second)]
    assert [h["reference_sha256"] for h in trail] == [v1["source_sha256"], v2["source_sha256"]]
    assert all(h["actor"] and h["at"] for h in trail)

    refused = cli(env, "voice", "rm", "Alex")
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert voice_rows(env) == [(v1["id"], "Alex", 2)]
    assert cli(env, "voice", "rm", "Alex", "--force").returncode == 0
    assert voice_rows(env) == []

    shown = cli(env, "voice", "show", "Alex")
    assert shown.returncode == 0, shown.stderr
    assert first in shown.stdout and second in shown.stdout and "removed" in shown.stdout
    gone = json.loads(cli(env, "voice", "show", "Alex", "--json").stdout)
    assert gone["removed"] is True
    assert [(h["event"], h["version"]) for h in gone["history"]] == [
        ("enrolled", 1), ("enrolled", 2), ("removed", 2)]
    assert gone["history"][0]["consent"] == first
