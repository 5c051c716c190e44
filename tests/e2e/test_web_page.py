"""The web page at ``/`` in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) against a real ``voicecast serve`` on
loopback (embedded mode, the ``null`` engine): type a key, submit the example
subtitles, watch the job finish, hear the output load and see the fit timeline
drawn; add a voice and read its consent record.

A missing browser fails the test (``scripts/setup.sh`` installs both
packages): a skipped browser test would hide a page that no longer works.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import ApiServer

REPO = Path(__file__).resolve().parents[2]
SRT = REPO / "examples" / "trailer.srt"
CLIP = REPO / "examples" / "reference.wav"
#: The machine may have 2 cores shared with the server's pool and ffmpeg.
WAIT_S = 240


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("the web page's test needs Debian's chromium and chromium-driver "
                    f"(found chromium={chromium}, chromedriver={driver}); run scripts/setup.sh")
    # Both paths are given: Selenium Manager must never try to download a browser.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--mute-audio",
                "--window-size=1280,1600", "--disable-gpu"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    session.set_script_timeout(60)
    try:
        yield session
    finally:
        session.quit()


@pytest.fixture(params=["local", "s3"])
def api(request: pytest.FixtureRequest, voicecast_env: dict[str, str], tmp_path: Path) -> Iterator[ApiServer]:
    """The server, storing in its data folder (outputs come through the API)
    or in S3 (moto; outputs are played from signed URLs)."""
    env = {**voicecast_env, "VOICECAST_ENGINE__NAME": "null"}
    if request.param == "s3":
        env.update(request.getfixturevalue("s3_server").env())
    with ApiServer(env, workers=2, log_path=tmp_path / "api.log") as server:
        yield server


def get_json(server: ApiServer, key: str, path: str) -> Any:
    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {key}",
                                                             "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def console_errors(browser: Any) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def sign_in(browser: Any, server: ApiServer, key: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url + "/")
    field = browser.find_element(By.ID, "api-key")
    field.send_keys(key + Keys.ENTER)  # the keyboard alone submits the form
    WebDriverWait(browser, 60).until(ec.visibility_of_element_located((By.ID, "job-form")))
    # The voice list is filled from GET /v1/voices (the built-in voices at least).
    WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, '#job-voice option[value="jf_alpha"]'))


def test_page_submits_a_dub_plays_it_and_draws_its_timeline(browser: Any, api: ApiServer) -> None:
    """Done-means 3: submit the example subtitles from the page, see the job
    complete, the audio element load and the fit timeline drawn."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    key = api.key("acme")
    sign_in(browser, api, key)
    assert browser.execute_script("return sessionStorage.getItem('voicecast.key')") == key

    browser.find_element(By.ID, "job-input").send_keys(str(SRT))
    Select(browser.find_element(By.ID, "job-voice")).select_by_value("jf_alpha")
    Select(browser.find_element(By.ID, "job-format")).select_by_value("mp3")
    browser.find_element(By.ID, "job-submit").click()

    wait = WebDriverWait(browser, WAIT_S, poll_frequency=0.25)
    job_id = wait.until(first_job_id)
    # The row's cells are redrawn as events arrive (and the rows when the list
    # reloads): read them in one script, never through a held element.
    assert row_view(browser, job_id)["name"] == SRT.name

    def status() -> str:
        return str(row_view(browser, job_id)["status"])

    # Live progress: the row's status follows the event stream to the end.
    seen: set[str] = set()

    def finished(_: Any) -> bool:
        seen.add(status())
        return status() in ("done", "failed", "cancelled")

    wait.until(finished)
    # The progress came through the event stream, read with fetch() (EventSource cannot send the key).
    streamed = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => e.name.endsWith(`/v1/jobs/${arguments[0]}/events`)).map(e => e.initiatorType);", job_id)
    assert streamed and set(streamed) == {"fetch"}, streamed
    job = get_json(api, key, f"/v1/jobs/{job_id}")
    assert status() == "done", (seen, job, api.log_text()[-3000:])
    total = job["progress"]["total"]
    assert total > 0
    view = row_view(browser, job_id)
    assert view["count"] == f"{total} / {total}", view
    assert view["progress"] == str(total), view
    assert not view["cancel"], view  # nothing to cancel once done
    assert "null" not in view["text"] and "undefined" not in view["text"], view

    # The detail shows the job just submitted: its output loads in the player.
    detail = browser.find_element(By.ID, "job-detail")
    assert detail.get_attribute("data-job-id") == job_id
    wait.until(lambda d: d.execute_script(
        "const a = document.getElementById('player');"
        "return a.readyState >= 1 && a.duration > 0 && Number.isFinite(a.duration);"))
    duration = browser.execute_script("return document.getElementById('player').duration")
    assert duration == pytest.approx(job_duration(api, key, job_id), abs=1.0)
    assert browser.execute_script("return document.getElementById('player').error") is None
    # Local storage: the bytes fetched with the key, as a blob: URL; S3: the
    # signed URL the API gives for `Accept: application/json`.
    src = browser.execute_script("return document.getElementById('player').currentSrc")
    link = browser.find_element(By.ID, "download")
    s3 = api.env.get("VOICECAST_STORAGE__ENDPOINT_URL")
    assert src.startswith(f"{s3}/" if s3 else "blob:"), src
    assert link.get_attribute("href") == src
    assert link.get_attribute("download") == "trailer.mp3"

    # The fit timeline: one mark per report row, each with its placed speech drawn.
    rows = get_json(api, key, f"/v1/jobs/{job_id}/report")["segments"]
    assert len(rows) == total
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline g.line")) == len(rows))
    drawn = browser.execute_script(
        "return [...document.querySelectorAll('#timeline g.line')].map(g => {"
        "  const p = g.querySelector('rect.placed'), s = g.querySelector('rect.slot');"
        "  return {placed: p ? p.getBBox().width : 0, slot: s ? s.getBBox().width : 0,"
        "          title: g.querySelector('title').textContent,"
        "          overflow: g.classList.contains('overflow'), borrowed: g.classList.contains('borrowed')};"
        "});")
    assert all(m["placed"] > 0 and m["slot"] > 0 for m in drawn), drawn
    for mark, r in zip(drawn, rows, strict=True):
        assert r["text"] in mark["title"]
        assert mark["overflow"] == bool(r["overflow"])
        assert mark["borrowed"] == ((r["borrowed_s"] or 0) > 0)
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline .axis text")  # a time axis

    assert console_errors(browser) == []


def first_job_id(browser: Any) -> str | None:
    """The id of the first row in the jobs table, once there is one."""
    found = browser.execute_script(
        "const r = document.querySelector('#job-rows tr[data-job-id]'); return r ? r.dataset.jobId : null;")
    return str(found) if found else None


def row_view(browser: Any, job_id: str) -> dict[str, Any]:
    """What the job's row shows, read at one instant in the page's own thread
    (empty strings while the row is not there)."""
    view = browser.execute_script(
        "const r = document.querySelector(`#job-rows tr[data-job-id='${arguments[0]}']`);"
        "if (!r) return {name: '', status: '', count: '', progress: '', cancel: false, text: ''};"
        "const text = (s) => r.querySelector(s)?.textContent ?? '';"
        "return {name: text('.job-input .name'), status: r.dataset.status || '',"
        "        count: text('.job-progress .count'),"
        "        progress: r.querySelector('.job-progress progress')?.getAttribute('value') ?? '',"
        "        cancel: !!r.querySelector('button.cancel'), text: r.innerText};", job_id)
    return dict(view)


def job_duration(server: ApiServer, key: str, job_id: str) -> float:
    report = get_json(server, key, f"/v1/jobs/{job_id}/report")
    return float(report["duration_s"])


@pytest.mark.parametrize("api", ["local"], indirect=True)
def test_page_adds_a_voice_and_shows_its_consent_record(browser: Any, api: ApiServer) -> None:
    """The voices section: add a voice with its consent from the page, see it
    listed and offered for jobs, and read its consent history. The consent is
    user text with markup in it: it must show as text, never run."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    key = api.key("acme")
    # A wrong key is refused, saying so, and shows nothing of the tenant's.
    browser.get(api.url + "/")
    browser.find_element(By.ID, "api-key").send_keys("vc_wrong\n")
    WebDriverWait(browser, 60).until(lambda d: "refused" in d.find_element(By.ID, "key-status").text)
    assert not browser.find_element(By.ID, "app").is_displayed()
    browser.find_element(By.ID, "api-key").clear()
    browser.get_log("browser")  # the refused request's console line is expected
    sign_in(browser, api, key)
    consent = 'Jane Doe agreed in writing on 2026-01-02 <img src=x onerror="window.pwned=1">'
    browser.find_element(By.ID, "voice-name").send_keys("jane")
    browser.find_element(By.ID, "voice-consent").send_keys(consent)
    browser.find_element(By.ID, "voice-clips").send_keys(str(CLIP))
    browser.find_element(By.ID, "voice-submit").click()

    wait = WebDriverWait(browser, WAIT_S, poll_frequency=0.25)
    item = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#voice-list li[data-voice="jane"]'))[0]
    assert consent in item.text
    offered = '#job-voice optgroup[label="Your voices"] option[value="jane"]'
    assert browser.find_elements(By.CSS_SELECTOR, offered)

    item.find_element(By.TAG_NAME, "summary").click()
    event = wait.until(lambda d: item.find_elements(By.CSS_SELECTOR, ".history-list li"))[0]
    assert "enrolled" in event.text and consent in event.text
    assert not browser.find_elements(By.CSS_SELECTOR, "#voices-section img")
    assert browser.execute_script("return window.pwned") is None
    assert console_errors(browser) == []


@pytest.mark.parametrize("api", ["local"], indirect=True)
def test_page_dubs_a_video_and_draws_its_frame_grid(browser: Any, api: ApiServer, tmp_path: Path) -> None:
    """Issue 16: a video and its subtitles submitted from the page come back as a
    dubbed video, and the fit timeline carries the video's frame grid."""
    from audiocheck import SENTENCES, make_srt
    from mediagen import make_video
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    make_srt(tmp_path / "clip.srt", SENTENCES[:3], first=1.0, gap=1.0)
    video = make_video(tmp_path / "clip.mp4", seconds=12.0, size="160x90")
    key = api.key("studio")
    sign_in(browser, api, key)
    browser.find_element(By.ID, "job-input").send_keys(str(video))
    browser.find_element(By.ID, "job-subs").send_keys(str(tmp_path / "clip.srt"))
    Select(browser.find_element(By.ID, "job-voice")).select_by_value("jf_alpha")
    Select(browser.find_element(By.ID, "job-mix")).select_by_value("duck")
    # The engine's languages are offered by name; the dub is spoken and tagged in the one chosen.
    offered = [o.text for o in Select(browser.find_element(By.ID, "job-lang")).options]
    assert offered[0] == "From the input, else English" and "Spanish (es)" in offered, offered
    Select(browser.find_element(By.ID, "job-lang")).select_by_value("es")
    browser.find_element(By.ID, "job-submit").click()

    wait = WebDriverWait(browser, WAIT_S, poll_frequency=0.25)
    job_id = wait.until(first_job_id)
    wait.until(lambda d: row_view(d, job_id)["status"] in ("done", "failed", "cancelled"))
    job = get_json(api, key, f"/v1/jobs/{job_id}")
    assert job["status"] == "done", (job, api.log_text()[-3000:])
    assert job["kind"] == "media"
    report = get_json(api, key, f"/v1/jobs/{job_id}/report")
    assert [t["lang"] for t in report["tracks"]] == ["es"]
    assert {r["lang"] for r in report["segments"]} == {"es"}
    # The link is set once the output is fetched, after the row says done.
    wait.until(lambda d: d.find_element(By.ID, "download").get_attribute("download") == "clip.mp4")

    # The frame grid: a line a frame (25 fps over the 12 s video), and the errors in frames.
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline g.frames"))
    # Read in one script: the timeline may be drawn again meanwhile.
    frames, note = browser.execute_script(
        "return [document.querySelectorAll('#timeline g.frames line.frame').length,"
        " document.querySelector('#timeline .frame-note')?.textContent ?? ''];")
    assert abs(frames - (12 * 25 + 1)) <= 1, frames
    assert note == "frame grid: 25 fps, 40.0 ms a frame"
    titles = browser.execute_script(
        "return [...document.querySelectorAll('#timeline g.line title')].map(t => t.textContent);")
    assert len(titles) == 3 and all("frames" in t for t in titles), titles
    assert console_errors(browser) == []
