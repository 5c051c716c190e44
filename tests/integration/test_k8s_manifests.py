"""The Kubernetes manifests (deploy/k8s, a kustomize base) are valid and fit the app.

Offline, with no cluster and no kustomize binary:

- :func:`render` builds the base the way ``kubectl apply -k`` would for the
  fields it uses (``resources`` only; any other kustomize field is refused, so a
  feature this renderer does not implement cannot be skipped silently);
- every core object is validated against the Kubernetes OpenAPI schemas bundled
  with ``kubernetes-validate``, strict (an unknown field is an error);
- KEDA's ScaledObject and TriggerAuthentication (CRDs, absent from those
  schemas) against ``schemas/keda-v1alpha1.json``, written from KEDA's
  documentation and strict at each level it defines;
- then what a schema cannot see: references between objects, the CLI commands
  the containers run, the queue the autoscaler watches, and the settings names.

A negative test feeds each validator broken objects, so the checks cannot pass
by validating nothing.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
KEDA_SCHEMA = Path(__file__).resolve().parent / "schemas" / "keda-v1alpha1.json"
KEDA_KINDS = ("ScaledObject", "TriggerAuthentication")

#: The oldest Kubernetes the base is meant for, and the newest whose schemas the package bundles.
KUBERNETES_VERSIONS = ("1.28", latest_version())

#: Fields of kustomization.yaml that :func:`render` implements.
KUSTOMIZE_FIELDS = {"apiVersion", "kind", "resources"}

#: Workload kinds and where their pod spec is.
POD_KINDS = ("Deployment", "Job")

#: deploy/Dockerfile's `control` target and deploy/Dockerfile.gpu, by the image names
#: docker-compose.yml gives them.
CONTROL_IMAGE = "voicecast:latest"
GPU_IMAGE = "voicecast-gpu:latest"

Obj = dict[str, Any]


# --------------------------------------------------------------------------- rendering


def render(directory: Path) -> list[Obj]:
    """The objects of the kustomization in ``directory``: each entry of
    ``resources`` is a YAML file (every non-empty document in it) or a folder
    holding a kustomization of its own, rendered in turn."""
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kust) - KUSTOMIZE_FIELDS
    if unknown:
        raise ValueError(f"{directory}/kustomization.yaml uses {sorted(unknown)}, which this test's "
                         f"renderer does not implement (it knows {sorted(KUSTOMIZE_FIELDS)})")
    objects: list[Obj] = []
    for entry in kust.get("resources") or []:
        path = directory / entry
        if path.is_dir():
            objects += render(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return objects


OBJECTS = render(K8S)


def index(objects: list[Obj]) -> dict[tuple[str, str], Obj]:
    out: dict[tuple[str, str], Obj] = {}
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        assert key not in out, f"{key} is defined twice"
        out[key] = obj
    return out


BY_KEY = index(OBJECTS)


def of_kind(kind: str) -> list[Obj]:
    return [o for o in OBJECTS if o["kind"] == kind]


def pod_spec(obj: Obj) -> Obj:
    spec: Obj = obj["spec"]["template"]["spec"]
    return spec


def workloads() -> list[Obj]:
    return [o for o in OBJECTS if o["kind"] in POD_KINDS]


def containers() -> Iterator[tuple[Obj, Obj]]:
    """(workload, container) for every container and init container."""
    for w in workloads():
        spec = pod_spec(w)
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            yield w, c


def container_id(pair: tuple[Obj, Obj]) -> str:
    return f"{pair[0]['metadata']['name']}/{pair[1]['name']}"


def config_data() -> dict[str, str]:
    data: dict[str, str] = BY_KEY[("ConfigMap", "voicecast-config")]["data"]
    return data


def secret_data(name: str) -> dict[str, str]:
    secret = BY_KEY[("Secret", name)]
    assert "data" not in secret, f"{name}: example values go in stringData, readable"
    data: dict[str, str] = secret["stringData"]
    return data


def deployment(component: str) -> Obj:
    found = [d for d in of_kind("Deployment")
             if d["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    assert len(found) == 1, component
    return found[0]


def container_env_sources(container: Obj) -> tuple[set[str], set[str]]:
    """The Secrets and ConfigMaps a container reads through ``envFrom``."""
    secrets = {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
    maps = {e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e}
    return secrets, maps


def keda_validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads(KEDA_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{kind}"})


def validate(obj: Obj, version: str) -> None:
    """Validate ``obj`` strictly: Kubernetes schemas for core kinds, ours for KEDA's."""
    if obj["kind"] in KEDA_KINDS:
        keda_validator(obj["kind"]).validate(obj)
        behavior = obj["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
        if behavior is not None:
            # KEDA hands this to the HPA it makes: check it as the HPA's own field.
            hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                   "metadata": {"name": "keda-hpa"},
                   "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                            "maxReplicas": 1, "behavior": behavior}}
            kubernetes_validate.validate(hpa, version, strict=True)
    else:
        kubernetes_validate.validate(obj, version, strict=True)


# --------------------------------------------------------------------------- schemas


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present, f"unlisted: {sorted(present - listed)}, missing: {sorted(listed - present)}"
    kinds = {o["kind"] for o in OBJECTS}
    assert {"ConfigMap", "Secret", "Deployment", "Service", "Job", *KEDA_KINDS} <= kinds


def test_the_renderer_refuses_kustomize_fields_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nimages:\n  - name: voicecast\n")
    with pytest.raises(ValueError, match="images"):
        render(tmp_path)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_validate_against_the_kubernetes_schemas(version: str) -> None:
    core = [o for o in OBJECTS if o["kind"] not in KEDA_KINDS]
    assert core
    for obj in core:
        try:
            validate(obj, version)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} at {where}: {e.message}")


def test_keda_objects_validate_against_their_schema() -> None:
    keda = [o for o in OBJECTS if o["kind"] in KEDA_KINDS]
    assert {o["kind"] for o in keda} == set(KEDA_KINDS)
    for obj in keda:
        try:
            validate(obj, KUBERNETES_VERSIONS[0])
        except jsonschema.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} at {where}: {e.message}")


def _set(path: str, value: Any) -> Any:
    """A change to a copy of an object: set the value at a dotted path (digits index lists)."""
    def change(obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        *parents, last = path.split(".")
        node: Any = obj
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(last) if last.isdigit() else last] = value
        return obj
    return change


def _rename(path: str, new: str) -> Any:
    """A change to a copy of an object: rename the key at a dotted path (a misspelling)."""
    def change(obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        *parents, last = path.split(".")
        node: Any = obj
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[new] = node.pop(last)
        return obj
    return change


BROKEN = {
    "replicas as text": (("Deployment", "voicecast-api"), _set("spec.replicas", "two")),
    "misspelt pod field": (("Deployment", "voicecast-api"),
                           _rename("spec.template.spec.terminationGracePeriodSeconds",
                                   "terminationGracePeriodSecond")),
    "misspelt container field": (("Deployment", "voicecast-synth-worker"),
                                 _rename("spec.template.spec.containers.0.args", "arg")),
    "Service port misspelt": (("Service", "voicecast-api"), _rename("spec.ports.0.port", "portNumber")),
    "job without a template": (("Job", "voicecast-migrate"), _rename("spec.template", "templates")),
    "ScaledObject misspelt field": (("ScaledObject", "voicecast-synth-worker"),
                                    _rename("spec.minReplicaCount", "minReplicas")),
    "redis trigger misspelt key": (("ScaledObject", "voicecast-synth-worker"),
                                   _rename("spec.triggers.0.metadata.listName", "listname")),
    "redis listLength as a number": (("ScaledObject", "voicecast-synth-worker"),
                                     _set("spec.triggers.0.metadata.listLength", 4)),
    "HPA behavior misspelt": (("ScaledObject", "voicecast-synth-worker"),
                              _rename("spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown."
                                      "stabilizationWindowSeconds", "stabilisationWindowSeconds")),
    "TriggerAuthentication without a key": (("TriggerAuthentication", "voicecast-redis"),
                                            _rename("spec.secretTargetRef.0.key", "secretKey")),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_validators_catch_a_broken_manifest(case: str) -> None:
    key, change = BROKEN[case]
    good = BY_KEY[key]
    validate(good, KUBERNETES_VERSIONS[0])  # the original passes: the change is what fails
    with pytest.raises(jsonschema.ValidationError):  # kubernetes_validate's error is a subclass
        validate(change(good), KUBERNETES_VERSIONS[0])


# --------------------------------------------------------------------------- structure


def test_the_base_is_namespace_agnostic() -> None:
    named = [f"{o['kind']}/{o['metadata']['name']}" for o in OBJECTS if "namespace" in o["metadata"]]
    assert not named, f"objects naming a namespace: {named}"


def test_labels_selectors_and_services() -> None:
    for obj in OBJECTS:
        labels = obj["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/component"):
            assert labels.get(key), f"{obj['kind']}/{obj['metadata']['name']} lacks label {key}"
    pods = {}
    for w in workloads():
        template_labels = w["spec"]["template"]["metadata"]["labels"]
        selector = w["spec"].get("selector", {}).get("matchLabels")
        if w["kind"] == "Deployment":
            assert selector and selector.items() <= template_labels.items(), w["metadata"]["name"]
        pods[w["metadata"]["name"]] = (template_labels, pod_spec(w))
    for svc in of_kind("Service"):
        sel = svc["spec"]["selector"]
        matched = [n for n, (labels, _) in pods.items() if sel.items() <= labels.items()]
        assert len(matched) == 1, f"Service {svc['metadata']['name']} selects {matched}"
        ports = {p["name"] for c in pods[matched[0]][1]["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, (svc["metadata"]["name"], port)
    for pdb in of_kind("PodDisruptionBudget"):
        sel = pdb["spec"]["selector"]["matchLabels"]
        assert any(sel.items() <= labels.items() for labels, _ in pods.values()), pdb["metadata"]["name"]


def test_every_reference_names_an_object_of_the_base() -> None:
    for w, c in containers():
        where = container_id((w, c))
        for src in c.get("envFrom", []):
            ref = src.get("secretRef") or src.get("configMapRef")
            kind = "Secret" if "secretRef" in src else "ConfigMap"
            assert (kind, ref["name"]) in BY_KEY, f"{where}: envFrom {kind} {ref['name']} is not in the base"
        for var in c.get("env", []):
            source = var.get("valueFrom", {})
            for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if field in source:
                    ref = source[field]
                    assert (kind, ref["name"]) in BY_KEY, f"{where}: {var['name']} names {kind} {ref['name']}"
                    target = BY_KEY[(kind, ref["name"])]
                    keys = target.get("stringData", {}) | target.get("data", {})
                    assert ref["key"] in keys, f"{where}: {kind} {ref['name']} has no key {ref['key']}"
        ports = {p["name"] for p in c.get("ports", [])}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            action = c.get(probe, {}).get("httpGet") or c.get(probe, {}).get("tcpSocket")
            if action and isinstance(action["port"], str):
                assert action["port"] in ports, f"{where}: {probe} names port {action['port']}"
        mounts = {m["name"] for m in c.get("volumeMounts", [])}
        assert mounts <= {v["name"] for v in pod_spec(w).get("volumes", [])}, where
    for auth in of_kind("TriggerAuthentication"):
        for ref in auth["spec"].get("secretTargetRef", []):
            assert ref["key"] in secret_data(ref["name"]), (auth["metadata"]["name"], ref)
    for so in of_kind("ScaledObject"):
        target = so["spec"]["scaleTargetRef"]
        kind = target.get("kind", "Deployment")
        assert target.get("apiVersion", "apps/v1") == "apps/v1"
        assert (kind, target["name"]) in BY_KEY, f"ScaledObject {so['metadata']['name']} targets nothing"
        for trigger in so["spec"]["triggers"]:
            ref = trigger.get("authenticationRef")
            if ref:
                auth_kind = ref.get("kind", "TriggerAuthentication")
                assert (auth_kind, ref["name"]) in BY_KEY, ref


def _is_setting(var: str) -> bool:
    """Whether a ``VOICECAST_*`` variable names a field of voicecast.settings."""
    from pydantic import BaseModel

    from voicecast.settings import Settings

    model: type[BaseModel] = Settings
    parts = var.removeprefix("VOICECAST_").lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i < len(parts) - 1:
            nested = field.annotation
            if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
                return False
            model = nested
    return True


def test_environment_names_real_settings() -> None:
    """pydantic-settings ignores a misspelt variable: every VOICECAST_* name must be a field."""
    names = set(config_data())
    for secret in of_kind("Secret"):
        names |= set(secret.get("stringData", {}))
    for _, c in containers():
        names |= {v["name"] for v in c.get("env", [])}
    unknown = sorted(n for n in names if n.startswith("VOICECAST_") and not _is_setting(n))
    assert not unknown, f"not voicecast settings: {unknown}"


def test_settings_values_are_accepted_by_voicecast() -> None:
    """The ConfigMap and the example Secrets together load as voicecast settings
    (distributed mode: the visibility timeout against the task limits, and so on)."""
    from voicecast.settings import Settings

    env = {k: v for k, v in config_data().items() if k.startswith("VOICECAST_")}
    for name in ("voicecast-env", "voicecast-database"):
        env |= secret_data(name)
    with pytest.MonkeyPatch.context() as mp:
        for k in [k for k in os.environ if k.startswith("VOICECAST_")]:
            mp.delenv(k)
        for k, v in env.items():
            mp.setenv(k, v)
        settings = Settings()
    assert settings.distributed
    assert str(settings.data_dir) == config_data()["VOICECAST_DATA_DIR"]


# --------------------------------------------------------------------------- roles


def test_secrets_are_placeholders() -> None:
    for secret in of_kind("Secret"):
        for key, value in secret_data(secret["metadata"]["name"]).items():
            assert "CHANGE-ME" in value or ".example." in value, (
                f"Secret {secret['metadata']['name']}/{key} looks like a real value")


def test_security_context_and_resources() -> None:
    data_dir = config_data()["VOICECAST_DATA_DIR"]
    assert config_data()["HOME"] == data_dir
    for w, c in containers():
        where = container_id((w, c))
        spec = pod_spec(w)
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec.get("automountServiceAccountToken") is False, where
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, where
        assert sc["capabilities"]["drop"] == ["ALL"], where
        res = c["resources"]
        assert {"cpu", "memory"} <= set(res["requests"]) and "memory" in res["limits"], where
        # The root filesystem is read-only: the app's temporary files and data
        # folder need writable volumes.
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounted = {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"]}
        for path in ("/tmp", data_dir):
            assert path in mounted and "emptyDir" in mounted[path], f"{where}: no emptyDir at {path}"
        assert "command" not in c, f"{where}: `command` replaces the image's tini entrypoint; use args"


def _roles() -> list[tuple[Obj, Obj]]:
    return [(w, c) for w, c in containers() if c["args"][0] == "voicecast"]


@pytest.mark.parametrize("pair", _roles(), ids=container_id)
def test_containers_run_real_cli_commands(pair: tuple[Obj, Obj]) -> None:
    """Each voicecast container's arguments parse with the CLI's own parser.
    (`serve` is added with the API; this fails for the API container until it exists.)"""
    from orchestrator.cli import build_parser

    args = pair[1]["args"][1:]
    try:
        parsed = build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"`voicecast {' '.join(args)}` is not a voicecast command")
    assert parsed.command in {"serve", "worker", "db"}


def test_containers_run_the_image_of_their_role() -> None:
    """Images are the ones docker-compose.yml builds: the control target of
    deploy/Dockerfile for everything but synthesis, deploy/Dockerfile.gpu for it."""
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    builds = {svc["image"]: svc["build"] for svc in compose.values() if "build" in svc and "image" in svc}
    assert builds[CONTROL_IMAGE]["dockerfile"] == "deploy/Dockerfile"
    assert builds[CONTROL_IMAGE]["target"] == "control"
    assert re.search(r"^FROM .* AS control$", (ROOT / "deploy/Dockerfile").read_text(), re.M)
    assert builds[GPU_IMAGE]["dockerfile"] == "deploy/Dockerfile.gpu"
    for w, c in containers():
        role = w["metadata"]["labels"]["app.kubernetes.io/component"]
        expected = GPU_IMAGE if role == "synth-worker" else CONTROL_IMAGE
        assert c["image"] == expected, container_id((w, c))
    flower = deployment("flower")["spec"]["template"]["spec"]["containers"][0]
    assert flower["args"] == compose["flower"]["command"]


def test_api_serves_http_with_health_probes() -> None:
    api = deployment("api")
    c = pod_spec(api)["containers"][0]
    assert c["args"][:2] == ["voicecast", "serve"]
    port = int(c["args"][c["args"].index("--port") + 1])
    assert c["args"][c["args"].index("--host") + 1] == "0.0.0.0"
    assert [p["containerPort"] for p in c["ports"] if p["name"] == "http"] == [port]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    secrets, maps = container_env_sources(c)
    assert {"voicecast-env", "voicecast-database"} <= secrets and "voicecast-config" in maps
    assert api["spec"]["replicas"] >= 2  # stateless: more than one behind the Service


def test_synth_workers_take_a_gpu_and_no_database() -> None:
    from voicecast.settings import LimitsSettings

    synth = deployment("synth-worker")
    spec = pod_spec(synth)
    c = spec["containers"][0]
    assert c["args"][:4] == ["voicecast", "worker", "--queue", "synth"]
    assert int(c["resources"]["limits"]["nvidia.com/gpu"]) == 1
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    secrets, _ = container_env_sources(c)
    assert "voicecast-database" not in secrets, "synthesis workers get no database credentials"
    # A scale-down lets the segment in hand finish (warm shutdown; acks_late otherwise).
    assert spec["terminationGracePeriodSeconds"] >= LimitsSettings().synth_time_max_s
    # KEDA owns the replica count: `kubectl apply` must not reset it.
    assert "replicas" not in synth["spec"]


def test_assemble_workers_and_flower() -> None:
    from voicecast.settings import LimitsSettings

    spec = pod_spec(deployment("assemble-worker"))
    c = spec["containers"][0]
    assert c["args"][:4] == ["voicecast", "worker", "--queue", "assemble"]
    assert "voicecast-database" in container_env_sources(c)[0]
    assert spec["terminationGracePeriodSeconds"] >= LimitsSettings().assemble_time_s
    flower = pod_spec(deployment("flower"))["containers"][0]
    assert flower["args"][:4] == ["celery", "-A", "voicecast.celery_app", "flower"]
    env = {v["name"] for v in flower["env"]}
    assert {"VOICECAST_QUEUE__BROKER_URL", "FLOWER_BASIC_AUTH"} <= env
    assert not container_env_sources(flower)[0], "Flower reads the broker only, not every secret"


def test_migrations_run_as_a_one_shot_job() -> None:
    jobs = of_kind("Job")
    assert [j["metadata"]["name"] for j in jobs] == ["voicecast-migrate"]
    spec = pod_spec(jobs[0])
    assert spec["restartPolicy"] in ("OnFailure", "Never")
    c = spec["containers"][0]
    assert c["args"] == ["voicecast", "db", "upgrade"]
    assert "voicecast-database" in container_env_sources(c)[0]
    # Never at server start: no other container (nor an init container) upgrades.
    for w, other in containers():
        if w is not jobs[0]:
            assert other["args"][:2] != ["voicecast", "db"], container_id((w, other))


def test_keda_scales_synth_workers_on_the_synth_queue() -> None:
    from voicecast.settings import QueueSettings

    (so,) = of_kind("ScaledObject")
    spec = so["spec"]
    assert spec["scaleTargetRef"]["name"] == deployment("synth-worker")["metadata"]["name"]
    (trigger,) = spec["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "redis"
    assert meta["listName"] == QueueSettings().synth_queue
    assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert "cooldownPeriod" in spec
    # The API keeps at most MAX_IN_FLIGHT segments queued: a target per replica
    # that large times the replica cap must fit, or the cap is never reached.
    config = config_data()
    max_in_flight = int(config.get("VOICECAST_QUEUE__MAX_IN_FLIGHT") or QueueSettings().max_in_flight)
    assert int(meta["listLength"]) * spec["maxReplicaCount"] <= max_in_flight
    assert int(config["VOICECAST_QUEUE__JOB_WINDOW"]) <= max_in_flight

    # KEDA connects to the broker voicecast uses: the same host, port, password and database.
    auth = BY_KEY[("TriggerAuthentication", trigger["authenticationRef"]["name"])]
    params = {r["parameter"]: secret_data(r["name"])[r["key"]] for r in auth["spec"]["secretTargetRef"]}
    assert {"address", "password"} <= set(params)
    broker = urlsplit(secret_data("voicecast-env")["VOICECAST_QUEUE__BROKER_URL"])
    assert broker.scheme == "redis"
    assert params["address"] == f"{broker.hostname}:{broker.port}"
    assert params["password"] == broker.password
    assert meta.get("databaseIndex", "0") == (broker.path.strip("/") or "0")
