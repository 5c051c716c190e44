"""``voicecast serve`` in embedded mode (one process, a local pool shared by
every job): fair scheduling between a long job and a short one, cancel, and
every refused request's status and body. A real uvicorn on loopback, the
``null`` engine standing in for an engine of a known real-time factor."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from servers import ApiServer
from service_client import Client, error_of, long_then_short

REPO = Path(__file__).resolve().parents[2]
SRT = REPO / "examples" / "trailer.srt"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    import os

    data = tmp_path_factory.mktemp("service-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    env.update({"VOICECAST_DATA_DIR": str(data), "VOICECAST_ENGINE__NAME": "null",
                # A line of ~2.5 s costs ~0.25 s: an engine 10 times faster than real time.
                "VOICECAST_ENGINE__NULL_RTF": "0.1",
                "VOICECAST_API__MAX_UPLOAD_BYTES": str(2 << 20), "VOICECAST_API__RATE_PER_S": "20",
                "VOICECAST_API__RATE_BURST": "40", "VOICECAST_API__KEY_CACHE_S": "0",
                "VOICECAST_ENROLL__METHOD": "nearest", "PYTHONUNBUFFERED": "1"})
    with ApiServer(env, workers=2, log_path=data / "api.log") as server:
        yield server


def test_short_job_is_not_starved_by_a_long_one(api: ApiServer, tmp_path: Path) -> None:
    """Done-means 2 (embedded): 200 segments first, 6 segments 2 s later; the
    short job is done before the long one reaches 25 %. Then cancel stops the
    long one: nothing more is recorded and no output is presented."""
    c = Client(api.url, api.key("fair"))
    long_id, short, long = long_then_short(c, tmp_path, "embedded")
    assert short["status"] == "done", short
    assert long["progress"]["total"] == 200
    assert long["progress"]["done"] < 50, (long["progress"], short["progress"])
    assert long["status"] == "rendering"

    r = c.post(f"/v1/jobs/{long_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    at_cancel = r.json()["progress"]["done"]
    time.sleep(3.0)
    after = c.job(long_id)
    assert after["status"] == "cancelled" and after["progress"]["done"] == at_cancel
    assert after["outputs"] == []
    out = c.get(f"/v1/jobs/{long_id}/output")
    assert out.status_code == 409 and error_of(out)["code"] == "conflict"
    again = c.post(f"/v1/jobs/{long_id}/cancel")
    assert again.status_code == 409, again.text
    # The short job's output plays.
    audio = c.get(f"/v1/jobs/{short['id']}/output")
    assert audio.status_code == 200 and audio.headers["content-type"].startswith("audio/")
    assert audio.content[:4] == b"RIFF" and len(audio.content) > 1000


def test_refused_requests_name_the_problem(api: ApiServer, tmp_path: Path) -> None:
    """Done-means 4: each bad request gets its status and a body naming what is wrong."""
    c = Client(api.url, api.key("strict"))
    ok = {"voice": "jf_alpha"}
    # 422: malformed options, naming the field.
    for options, field in (({"voice": "jf_alpha", "format": "ogg"}, "options.format"),
                           ({"voice": "jf_alpha", "priority": "high"}, "options.priority"),
                           ({"voice": "jf_alpha", "speling": 1}, "options.speling"),
                           ({"voice": "nobody"}, "options.voice"),
                           ({"voice": "jf_alpha", "emotion": "furious:9"}, "options.emotion"),
                           ({"voice": "jf_alpha", "format": "m4b"}, "options.format"),
                           ({"voice": "jf_alpha", "callback_url": "ftp://x"}, "options.callback_url"),
                           ({"voice": "jf_alpha", "speaker_langs": {"FOX": "zz"}}, "options.speaker_langs.FOX"),
                           ({"voice": "jf_alpha", "lang": ["xx"]}, "options.lang"),
                           # Languages the engine does not speak: refused now, not when planned.
                           ({"voice": "jf_alpha", "lang": ["tlh"]}, "options.lang"),
                           ({"voice": "jf_alpha", "lang": ["pt-PT"]}, "options.lang"),
                           ({"voice": "jf_alpha", "speaker_langs": {"FOX": "de"}}, "options.speaker_langs.FOX")):
        r = c.submit(SRT, options)
        assert r.status_code == 422, (options, r.text)
        assert error_of(r)["field"] == field, (options, r.text)
    bad_json = c.http.post(f"{api.url}/v1/jobs", files={"input": ("a.srt", SRT.read_bytes())},
                           data={"options": "{voice:"}, headers=c.headers(), timeout=60)
    assert bad_json.status_code == 422 and error_of(bad_json)["field"] == "options"
    missing = c.http.post(f"{api.url}/v1/jobs", data={"options": "{}"}, headers=c.headers(), timeout=60)
    assert missing.status_code == 422 and error_of(missing)["field"] == "input"
    # Accepted, then refused while parsed: the job fails naming the client's file and line.
    broken = tmp_path / "broken film.srt"
    broken.write_text("just some words, no timing\n\n1\n00:00:01,000 --> 00:00:02,000\nHello.\n")
    failed = c.wait(c.job_id(broken, ok))
    assert failed["status"] == "failed" and "broken film.srt" in failed["error"], failed
    assert failed["error"].startswith("broken film.srt:1: ") and "voicecast-job" not in failed["error"]
    # 415: a file type the renderer does not read.
    pdf = tmp_path / "book.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    r = c.submit(pdf, ok)
    assert r.status_code == 415 and error_of(r)["field"] == "input", r.text
    # 413: an upload over the limit (2 MiB here), refused by its length before it is read.
    big = tmp_path / "big.srt"
    big.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\nHello.\n\n" * 80_000)
    r = c.submit(big, ok)
    assert r.status_code == 413 and error_of(r)["code"] == "too_large", r.text
    # 401: no key, a malformed header, an unknown key, a revoked key.
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer vc_nope"}):
        r = c.http.get(f"{api.url}/v1/jobs", headers=headers, timeout=30)
        assert r.status_code == 401 and error_of(r)["field"] == "Authorization", r.text
    doomed = api.key("strict")
    assert Client(api.url, doomed).get("/v1/jobs").status_code == 200
    rv = subprocess.run([sys.executable, "-m", "orchestrator.cli", "keys", "revoke", doomed], env=api.env,
                        capture_output=True, text=True, timeout=60)
    assert rv.returncode == 0, rv.stderr
    r = Client(api.url, doomed).get("/v1/jobs")
    assert r.status_code == 401 and "revoked" in error_of(r)["message"]
    # 404: another tenant's job, and a job that does not exist.
    job = c.job_id(SRT, ok)
    other = Client(api.url, api.key("intruder"))
    for url in (f"/v1/jobs/{job}", f"/v1/jobs/{job}/output", f"/v1/jobs/{job}/report",
                "/v1/jobs/" + "0" * 32):
        r = other.get(url)
        assert r.status_code == 404 and error_of(r)["code"] == "not_found", (url, r.text)
    assert other.post(f"/v1/jobs/{job}/cancel").status_code == 404
    assert c.wait(job)["status"] == "done"
    # 429: past the key's rate (burst 40, then 20 a second), with Retry-After.
    hammer = Client(api.url, api.key("busy"))
    answers = [hammer.get("/v1/jobs") for _ in range(100)]
    codes = [a.status_code for a in answers]
    assert 429 in codes and codes[0] == 200, codes
    # A refused one (not one more request: on a loaded machine the bucket may refill meanwhile).
    r = next(a for a in answers if a.status_code == 429)
    assert int(r.headers["Retry-After"]) >= 1
    assert error_of(r)["code"] == "rate_limited"
    # Another key is not slowed by it.
    assert c.get("/v1/jobs").status_code == 200


def test_one_line_of_speech_openai_style(api: ApiServer, tmp_path: Path) -> None:
    """``POST /v1/audio/speech``: OpenAI's fields (plus ``emotion``); ``speed``
    shortens the line by that factor; every format decodes."""
    import io
    import wave

    c = Client(api.url, api.key("speaker"))
    line = {"model": "tts-1", "input": "The lantern keeper climbed the hill at dusk.", "voice": "jf_alpha"}
    lengths = {}
    for speed in (1.0, 2.0):
        r = c.post("/v1/audio/speech", json={**line, "response_format": "wav", "speed": speed})
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav", r.text
        with wave.open(io.BytesIO(r.content)) as w:
            lengths[speed] = w.getnframes() / w.getframerate()
    assert 0.45 < lengths[2.0] / lengths[1.0] < 0.55, lengths
    pcm = c.post("/v1/audio/speech", json={**line, "response_format": "pcm"})
    rate = int(pcm.headers["X-Sample-Rate"])
    assert abs(len(pcm.content) / 2 / rate - lengths[1.0]) < 0.01
    mp3 = c.post("/v1/audio/speech", json={**line, "emotion": "happy:0.6"})  # OpenAI's default: mp3
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg" and len(mp3.content) > 500
    for bad, field in (({**line, "voice": "nobody"}, "voice"), ({**line, "speed": 9}, "speed"),
                       ({**line, "input": ""}, "input"), ({**line, "emotion": "furious"}, "emotion"),
                       ({**line, "response_format": "ogg"}, "response_format")):
        r = c.post("/v1/audio/speech", json=bad)
        assert r.status_code == 422 and error_of(r)["field"] == field, (bad, r.text)


def test_a_video_dubbed_over_http(api: ApiServer, tmp_path: Path) -> None:
    """A video uploaded with its dub's subtitles as a ``subs`` part comes back
    dubbed (issue 16): the picture copied, the dub ducked over the original, the
    report in frames; a bad timeline fails the job naming the client's file."""
    from audiocheck import SENTENCES, make_srt
    from mediagen import audio_tracks, make_video, video_packet_md5s

    c = Client(api.url, api.key("video"))
    make_srt(tmp_path / "dub.srt", SENTENCES[:3], first=1.0, gap=1.0)
    src = make_video(tmp_path / "clip.mp4", seconds=14.0, size="160x90")

    def post(subs: Path, options: dict[str, object]) -> requests.Response:
        import json

        files = [("input", (src.name, src.read_bytes())), ("subs", (subs.name, subs.read_bytes()))]
        return c.http.post(f"{api.url}/v1/jobs", files=files, data={"options": json.dumps(options)},
                           headers=c.headers(), timeout=120)

    r = post(tmp_path / "dub.srt", {"voice": "jf_alpha", "subs": ["dub.srt"], "mix": "duck", "format": "mkv"})
    assert r.status_code == 202, r.text
    job = c.wait(r.json()["id"])
    assert job["status"] == "done", job
    out = c.get(f"/v1/jobs/{job['id']}/output")
    assert out.status_code == 200
    (tmp_path / "dubbed.mkv").write_bytes(out.content)
    assert video_packet_md5s(tmp_path / "dubbed.mkv") == video_packet_md5s(src)
    assert [t["default"] for t in audio_tracks(tmp_path / "dubbed.mkv")] == [True, False]
    report = c.get(f"/v1/jobs/{job['id']}/report", headers={"Accept": "application/json"}).json()
    assert report["fps"] == "25" and all("error_frames" in row for row in report["segments"])

    # A timeline longer than the video: the job fails naming the client's file and line.
    make_srt(tmp_path / "long.srt", SENTENCES[:3], first=11.0, gap=1.0)
    r = post(tmp_path / "long.srt", {"voice": "jf_alpha", "subs": ["long.srt"]})
    assert r.status_code == 202, r.text
    failed = c.wait(r.json()["id"])
    assert failed["status"] == "failed" and failed["error"].startswith("long.srt:"), failed
    assert "past the end of clip.mp4" in failed["error"]
    # subs are for video and audio inputs; a name that is no part, no stream and not asr is refused.
    assert error_of(c.submit(SRT, {"voice": "jf_alpha", "subs": ["stream:eng"]}))["field"] == "options.subs"
    bad = post(tmp_path / "dub.srt", {"voice": "jf_alpha", "subs": ["other.srt"]})
    assert bad.status_code == 422 and error_of(bad)["field"] == "options.subs", bad.text


def test_a_characters_language_and_a_lexicon_section_over_http(api: ApiServer, tmp_path: Path) -> None:
    """``speaker_langs`` speaks a character's lines in their language, and the
    uploaded lexicon's ``[lang:fr]`` section applies to those lines only (the
    report names each line's language and gives its text as spoken)."""
    import json

    c = Client(api.url, api.key("polyglot"))
    spoken = c.get("/v1/languages").json()
    assert [x["tag"] for x in spoken["languages"]] == ["en-US", "en-GB", "es", "fr", "it", "pt-BR", "hi"]
    assert {"tag": "fr", "name": "French"} in spoken["languages"] and spoken["any_region"] == ["en"]
    assert Client(api.url, None).get("/v1/languages").status_code == 401
    play = tmp_path / "play.txt"
    play.write_text("ANNA: We land in Geneva.\nPIERRE: Genève, enfin.\n", encoding="utf-8")
    lexicon = tmp_path / "words.lexicon"
    lexicon.write_text("Geneva = jeneeva\n[lang:fr]\nGenève = /ʒənˈɛv/\n", encoding="utf-8")
    files = {"input": (play.name, play.read_bytes()), "lexicon": (lexicon.name, lexicon.read_bytes())}
    options = {"voice": "jf_alpha", "speaker_langs": {"Pierre": "FR"}, "format": "wav"}
    r = c.http.post(f"{api.url}/v1/jobs", files=files, data={"options": json.dumps(options)},
                    headers=c.headers(), timeout=120)
    assert r.status_code == 202, r.text
    job = c.wait(r.json()["id"])
    assert job["status"] == "done", job
    rows = c.get(f"/v1/jobs/{job['id']}/report").json()["segments"]
    assert [(row["lang"], row["text"]) for row in rows] == [("en", "We land in jeneeva."),
                                                            ("fr", "⟦ʒənˈɛv⟧, enfin.")]
