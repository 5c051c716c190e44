"""Settings validation: every enumerated or ranged variable refuses a bad value
with one line naming its ``VOICECAST_*`` variable, and the CLI exits 2 with it.

The cases are derived from the settings model itself (each bound of each
ranged field, each ``Literal``, each pattern), so a field added later with a
range is covered without editing this file.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import annotated_types as at
import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from voicecast.settings import (
    FitSettings,
    Settings,
    SettingsError,
    describe_validation_error,
    load_settings,
)

REPO = Path(__file__).resolve().parents[2]


def _bad_values(field: typing.Any) -> list[str]:
    """Values just outside each bound of a field, or not among its choices."""
    bad: list[str] = []
    for m in field.metadata:
        if isinstance(m, at.Gt):
            bad.append(str(m.gt))
        elif isinstance(m, at.Ge):
            bad.append(str(m.ge - 1))
        elif isinstance(m, at.Lt):
            bad.append(str(m.lt))
        elif isinstance(m, at.Le):
            bad.append(str(m.le + 1))
        elif getattr(m, "pattern", None):
            bad.append("fast")
    if typing.get_origin(field.annotation) is typing.Literal:
        bad.append("not-a-choice")
    return bad


def _cases() -> list[tuple[str, str]]:
    cases = []
    groups: list[tuple[str, type[BaseModel]]] = [("", Settings)]
    for name, f in Settings.model_fields.items():
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
            groups.append((name, f.annotation))
    for group, model in groups:
        for name, f in model.model_fields.items():
            var = "VOICECAST_" + (f"{group}__{name}" if group else name).upper()
            cases += [(var, value) for value in _bad_values(f)]
    return cases


CASES = _cases()


def test_the_cases_cover_the_enumerated_and_ranged_variables() -> None:
    names = {var for var, _ in CASES}
    for var in ("VOICECAST_ENROLL__METHOD", "VOICECAST_FIT__HARD_MAX", "VOICECAST_LOUDNESS__LRA",
                "VOICECAST_LIMITS__TOOL_TIMEOUT_S", "VOICECAST_WORKERS", "VOICECAST_BOOK__MP3_BITRATE",
                "VOICECAST_QUEUE__VISIBILITY_TIMEOUT_S", "VOICECAST_STORAGE__PRESIGN_EXPIRY_S"):
        assert var in names
    assert len(CASES) > 60


@pytest.mark.parametrize(("var", "value"), CASES)
def test_a_bad_value_exits_2_naming_the_variable(
    var: str, value: str, clean_env: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from orchestrator.cli import main

    monkeypatch.setenv(var, value)
    assert main(["voice", "list"]) == 2
    out = capsys.readouterr()
    line = " ".join(out.err.split())  # rich may wrap the line at the terminal width
    assert f"{var}:" in line, out.err


@pytest.mark.parametrize(("env", "names"), [
    ({"VOICECAST_FIT__HARD_MIN": "0.9"}, ["VOICECAST_FIT__HARD_MIN", "VOICECAST_FIT__COMFORTABLE_MIN"]),
    ({"VOICECAST_FIT__COMFORTABLE_MAX": "1.5"},
     ["VOICECAST_FIT__COMFORTABLE_MAX", "VOICECAST_FIT__HARD_MAX"]),
    ({"VOICECAST_QUEUE__BROKER_URL": "redis://localhost:1/0",
      "VOICECAST_QUEUE__VISIBILITY_TIMEOUT_S": "60"},
     ["VOICECAST_QUEUE__VISIBILITY_TIMEOUT_S", "VOICECAST_LIMITS__ASSEMBLE_TIME_S"]),
    ({"VOICECAST_QUEUE__BROKER_URL": "redis://localhost:1/0",
      "VOICECAST_LIMITS__SYNTH_TIME_MAX_S": "1000"},
     ["VOICECAST_QUEUE__VISIBILITY_TIMEOUT_S", "VOICECAST_LIMITS__SYNTH_TIME_MAX_S"]),
])
def test_cross_checks_name_every_variable_involved(
    env: dict[str, str], names: list[str], clean_env: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError) as e:
        load_settings()
    for name in names:
        assert name in str(e.value)
    assert "\n" not in str(e.value)


def test_the_visibility_check_needs_a_broker(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Embedded mode has no visibility timeout to respect.
    monkeypatch.setenv("VOICECAST_QUEUE__VISIBILITY_TIMEOUT_S", "60")
    assert load_settings().queue.visibility_timeout_s == 60


def test_translation_names_each_bad_variable_on_one_line() -> None:
    with pytest.raises(ValidationError) as e:
        Settings.model_validate({"fit": {"hard_max": 0.5}, "enroll": {"method": "best"}, "workers": -1})
    line = describe_validation_error(e.value)
    assert "\n" not in line
    assert "VOICECAST_FIT__HARD_MAX: Input should be greater than or equal to 1 (got 0.5)" in line
    assert "VOICECAST_ENROLL__METHOD: Input should be 'search' or 'nearest' (got 'best')" in line
    assert "VOICECAST_WORKERS:" in line


def test_the_secret_key_is_never_echoed(clean_env: None) -> None:
    s = Settings.model_validate({"storage": {"secret_access_key": "hunter2"}})
    assert isinstance(s.storage.secret_access_key, SecretStr)
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    assert s.storage.secret_access_key.get_secret_value() == "hunter2"
    with pytest.raises(ValidationError) as e:
        Settings.model_validate({"storage": {"secret_access_key": ["hunter2"]}})
    assert "hunter2" not in describe_validation_error(e.value)


def test_fit_defaults_are_unchanged() -> None:
    # They feed the segment content hash: a change re-renders every cached segment.
    assert FitSettings().model_dump() == {
        "comfortable_min": 0.8, "comfortable_max": 1.25, "hard_min": 0.7, "hard_max": 1.4,
        "engine_rate_min": 0.87, "engine_rate_max": 1.15, "max_engine_calls": 2,
        "engine_tolerance": 0.1, "trim_db": -40.0,
    }


def test_limits_scale_with_the_segment_and_stop_at_the_cap() -> None:
    limits = Settings().limits
    short, long = limits.synth_hard_s(2.0), limits.synth_hard_s(30.0)
    assert limits.synth_time_s < short < long <= limits.synth_time_max_s
    assert limits.synth_hard_s(0.0, "x" * 100_000) == limits.synth_time_max_s
    assert limits.celery_limits(100.0) == {"time_limit": 100.0,
                                           "soft_time_limit": 100.0 - limits.soft_margin_s}
    assert limits.model_copy(update={"soft_margin_s": 0}).celery_limits(100.0) == {"time_limit": 100.0}


def test_the_real_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    """The installed entry point, in a process of its own (no traceback)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    env.update(VOICECAST_DATA_DIR=str(tmp_path), VOICECAST_ENROLL__METHOD="best", COLUMNS="200")
    res = subprocess.run([sys.executable, "-m", "orchestrator.cli", "voice", "list"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: VOICECAST_ENROLL__METHOD: Input should be 'search' or 'nearest' (got 'best')"]


def test_local_workers_get_the_secrets_the_plain_dump_masks() -> None:
    """Embedded mode hands its settings to worker processes as JSON: the
    S3 secret and a remote engine's key must arrive whole, not as ``**********``."""
    from pydantic import SecretStr

    from voicecast.settings import Settings

    s = Settings(storage={"secret_access_key": "s3-secret"},
                 engine={"remote_api_key": "engine-key"}, data_dir="/tmp/x")
    assert "s3-secret" not in s.model_dump_json()
    child = Settings.model_validate_json(s.child_json())
    assert isinstance(child.storage.secret_access_key, SecretStr)
    assert child.storage.secret_access_key.get_secret_value() == "s3-secret"
    assert child.engine.remote_api_key is not None
    assert child.engine.remote_api_key.get_secret_value() == "engine-key"
    assert child.model_dump(mode="json") == s.model_dump(mode="json")
