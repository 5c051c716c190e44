"""docker-compose.yml is valid and describes the deployment the design asks for.

Two layers: the Compose implementation's own validation (`docker compose config`,
or Debian's `docker-compose` v1 where the docker client has no compose plugin;
scripts/setup.sh installs it), and structural checks with PyYAML that always run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "voicecast.env.example"

#: A test env file: every credential the compose file takes from the environment.
CREDENTIALS = {
    "REDIS_PASSWORD": "r3dis-pw-from-env",
    "POSTGRES_PASSWORD": "pg-pw-from-env",
    "MINIO_ROOT_USER": "minio-root-from-env",
    "MINIO_ROOT_PASSWORD": "minio-pw-from-env",
    "S3_ACCESS_KEY": "s3-key-from-env",
    "S3_SECRET_KEY": "s3-secret-from-env",
    "FLOWER_USER": "flower-user-from-env",
    "FLOWER_PASSWORD": "flower-pw-from-env",
}

REQUIRED_SERVICES = {
    "redis", "postgres", "minio", "createbucket", "migrate", "api",
    "synth-worker", "assemble-worker", "flower",
}
WORKERS = {"synth-worker": "synth", "assemble-worker": "assemble"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def _compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    """``config`` of the compose file with ``env_file`` as its only source of
    variables (the test's own environment and any ``.env`` are left out)."""
    cmd = _compose_command()
    if cmd is None:
        msg = ("neither `docker compose` nor `docker-compose` is installed "
               "(scripts/setup.sh installs Debian's docker-compose)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    # Validation is offline: it contacts no daemon and pulls nothing.
    env = {k: v for k, v in os.environ.items()
           if k not in CREDENTIALS and not k.startswith(("MINIO_", "POSTGRES_", "COMPOSE_", "REDIS_", "S3_",
                                                         "FLOWER_", "VOICECAST_"))}
    return subprocess.run([*cmd, "--env-file", str(env_file), "-f", str(COMPOSE), "config"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The compose file as Compose resolves it with :data:`CREDENTIALS` in an env file."""
    env_file = tmp_path_factory.mktemp("compose") / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in CREDENTIALS.items()))
    res = _compose_config(env_file)
    assert res.returncode == 0, f"compose config failed:\n{res.stdout}\n{res.stderr}"
    data = yaml.safe_load(res.stdout)
    assert isinstance(data, dict)
    return data


def test_compose_config_validates(configured: dict[str, Any]) -> None:
    assert REQUIRED_SERVICES <= set(configured["services"])


def test_credentials_are_taken_from_the_environment(configured: dict[str, Any]) -> None:
    """Redis, Flower, MinIO, PostgreSQL and the services' S3 keys all come from the env file."""
    c = CREDENTIALS
    services = configured["services"]
    redis = services["redis"]
    assert redis["command"][-2:] == ["--requirepass", c["REDIS_PASSWORD"]]
    assert "--appendonly" in redis["command"]
    assert redis["environment"]["REDISCLI_AUTH"] == c["REDIS_PASSWORD"]  # its healthcheck
    for name in ("migrate", "api", "synth-worker", "synth-worker-cpu", "assemble-worker", "flower"):
        env = services[name]["environment"]
        assert env["VOICECAST_QUEUE__BROKER_URL"] == f"redis://:{c['REDIS_PASSWORD']}@redis:6379/0", name
        assert env["VOICECAST_QUEUE__RESULT_BACKEND"] == f"redis://:{c['REDIS_PASSWORD']}@redis:6379/1"
        assert env["VOICECAST_STORAGE__ACCESS_KEY_ID"] == c["S3_ACCESS_KEY"], name
        assert env["VOICECAST_STORAGE__SECRET_ACCESS_KEY"] == c["S3_SECRET_KEY"], name
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == (
        f"{c['FLOWER_USER']}:{c['FLOWER_PASSWORD']}")
    for name in ("minio", "createbucket"):
        env = services[name]["environment"]
        assert (env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"]) == (
            c["MINIO_ROOT_USER"], c["MINIO_ROOT_PASSWORD"]), name
    # createbucket makes the services' own (non-root) user with those keys.
    bucket = services["createbucket"]
    assert bucket["environment"]["S3_ACCESS_KEY"] == c["S3_ACCESS_KEY"]
    assert "mc admin user add" in str(bucket["entrypoint"])
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == c["POSTGRES_PASSWORD"]
    for name in ("assemble-worker", "api"):
        assert services[name]["environment"]["VOICECAST_DATABASE_URL"] == (
            f"postgresql+psycopg://voicecast:{c['POSTGRES_PASSWORD']}@postgres:5432/voicecast"), name


def test_no_default_credential_is_baked_in(tmp_path: Path) -> None:
    """Each credential is required (``${VAR:?...}``): without an env file Compose
    refuses, naming the variable, and the file spells no fallback value."""
    text = COMPOSE.read_text()
    for var in CREDENTIALS:
        assert f"${{{var}:?" in text, f"{var} is not required by docker-compose.yml"
        assert f"${{{var}:-" not in text and f"${{{var}-" not in text, f"{var} has a default"
    empty = tmp_path / "empty.env"
    empty.write_text("")
    res = _compose_config(empty)
    assert res.returncode != 0
    assert any(var in res.stderr + res.stdout for var in CREDENTIALS), res.stderr
    # A half-filled file is refused too, naming what is missing.
    partial = tmp_path / "partial.env"
    partial.write_text("".join(f"{k}={v}\n" for k, v in CREDENTIALS.items() if k != "FLOWER_PASSWORD"))
    res = _compose_config(partial)
    assert res.returncode != 0 and "FLOWER_PASSWORD" in res.stderr + res.stdout, res.stderr


def test_the_env_example_names_every_credential_and_sets_none() -> None:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    assert set(values) == set(CREDENTIALS)
    assert not any(values.values()), "the example must not ship a usable secret"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored


def test_required_services(compose: dict[str, Any]) -> None:
    missing = REQUIRED_SERVICES - set(compose["services"])
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"
    assert "x-voicecast-env" in compose


def test_servers_have_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("redis", "postgres", "minio"):
        assert "test" in services[name].get("healthcheck", {}), f"{name} has no healthcheck"
    assert services["redis"]["image"].startswith("redis:7")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["minio"]["image"].startswith("minio/minio")


def test_synth_worker_reserves_a_gpu(compose: dict[str, Any]) -> None:
    synth = compose["services"]["synth-worker"]
    devices = synth["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) and d.get("count") == 1
        for d in devices
    ), devices
    assert synth["build"]["dockerfile"] == "deploy/Dockerfile.gpu"


def test_migrate_is_one_shot(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["voicecast", "db", "upgrade"]
    assert str(migrate.get("restart")) == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "VOICECAST_DATABASE_URL" in migrate["environment"]


def test_workers_wait_for_migrate_and_consume_their_queue(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, queue in WORKERS.items():
        svc = services[name]
        assert svc["command"][:4] == ["voicecast", "worker", "--queue", queue]
        deps = svc["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["createbucket"]["condition"] == "service_completed_successfully", name
        env = svc["environment"]
        assert env["VOICECAST_QUEUE__BROKER_URL"].startswith("redis://:${REDIS_PASSWORD:?")
        assert env["VOICECAST_STORAGE__ENDPOINT_URL"] == "http://minio:9000"
        assert env["VOICECAST_STORAGE__BUCKET"] == "voicecast"
        assert int(env["VOICECAST_QUEUE__VISIBILITY_TIMEOUT_S"]) > 0
    # The design: synthesis workers need no database credentials.
    assert "VOICECAST_DATABASE_URL" not in services["synth-worker"]["environment"]
    assert services["assemble-worker"]["environment"]["VOICECAST_DATABASE_URL"].startswith(
        "postgresql+psycopg://"
    )
    assert "local/voicecast" in str(services["createbucket"]["entrypoint"])


def test_api_serves_after_migrate_with_a_health_check(compose: dict[str, Any]) -> None:
    """`voicecast serve` on :8000, started once the schema is upgraded (it never
    migrates itself), with the control role's environment and a probe of /healthz."""
    api = compose["services"]["api"]
    assert api["command"] == ["voicecast", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert "8000:8000" in api["ports"]
    deps = api["depends_on"]
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["createbucket"]["condition"] == "service_completed_successfully"
    assert deps["redis"]["condition"] == deps["postgres"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    env = api["environment"]
    assert env["VOICECAST_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["VOICECAST_QUEUE__BROKER_URL"].startswith("redis://:${REDIS_PASSWORD:?")


def test_flower_watches_the_broker(compose: dict[str, Any]) -> None:
    flower = compose["services"]["flower"]
    assert flower["command"][:4] == ["celery", "-A", "voicecast.celery_app", "flower"]
    assert "VOICECAST_QUEUE__BROKER_URL" in flower["environment"]


def test_dockerfiles_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if build:
            assert (ROOT / build.get("context", ".") / build["dockerfile"]).is_file(), name


def test_environment_names_real_settings(compose: dict[str, Any]) -> None:
    """Every VOICECAST_* variable in the file is a field of voicecast.settings
    (a typo would be silently ignored by pydantic-settings)."""
    from pydantic import BaseModel

    from voicecast.settings import Settings

    for name, svc in compose["services"].items():
        for var in svc.get("environment") or {}:
            if not var.startswith("VOICECAST_"):
                continue
            model: type[BaseModel] = Settings
            parts = var.removeprefix("VOICECAST_").lower().split("__")
            for i, part in enumerate(parts):
                field = model.model_fields.get(part)
                assert field is not None, f"{name}: {var} is not a voicecast setting"
                if i < len(parts) - 1:
                    nested = field.annotation
                    assert isinstance(nested, type) and issubclass(nested, BaseModel), var
                    model = nested


def test_each_service_runs_the_image_of_its_role(compose: dict[str, Any]) -> None:
    """The control services build the torch-free target; synthesis runs a synth image; every
    image installs an extra that pyproject.toml defines (scripts/check_role_install.sh runs them)."""
    import re
    import tomllib

    services = compose["services"]
    for name in ("migrate", "api", "assemble-worker", "flower"):
        assert services[name]["build"].get("target") == "control", name
    assert services["synth-worker-cpu"]["build"]["target"] == "synth"
    assert services["synth-worker-cpu"]["command"][:4] == ["voicecast", "worker", "--queue", "synth"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    installs = {
        path: re.findall(r'pip install "/src\[([\w,]+)\]"', (ROOT / path).read_text())
        for path in ("deploy/Dockerfile", "deploy/Dockerfile.gpu")
    }
    # The control image also serves the HTTP API (`voicecast serve`: the api extra).
    assert installs == {"deploy/Dockerfile": ["control,api", "synth"], "deploy/Dockerfile.gpu": ["synth"]}
    assert {"control", "synth", "api"} <= set(extras)
    heavy = ("torch", "onnx", "resemblyzer", "silero", "pyworld", "faster-whisper", "kokoro")
    assert not any(d.startswith(heavy) for d in [*project["dependencies"], *extras["control"], *extras["api"]])
