"""Static checks of deploy/: Kubernetes manifests against the API schemas, the compose file and the
Dockerfiles against the programs' real command lines. No cluster and no Docker engine needed."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from kustomize import Resource, build, pod_specs
from nestor_controller.cli import build_parser as controller_parser
from nestor_dashboard.cli import build_parser as dashboard_parser
from nestor_executor.cli import build_parser as executor_parser

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
KUSTOMIZATIONS = {"base": DEPLOY / "kubernetes/base", "gpu": DEPLOY / "kubernetes/overlays/gpu",
                  "secure": DEPLOY / "kubernetes/overlays/secure"}
#: The oldest Kubernetes the manifests promise to work on (gRPC probes are GA from 1.27).
KUBERNETES_VERSION = "1.29.0"


def flag(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


def ports_by_name(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}


# --- Kubernetes ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(KUSTOMIZATIONS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Resource]]:
    return request.param, build(KUSTOMIZATIONS[request.param])


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def workloads(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if r["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


def test_every_manifest_validates_against_the_kubernetes_schemas(rendered: tuple[str, list[Resource]]) -> None:
    name, resources = rendered
    kinds = {r["kind"] for r in resources}
    assert {"Namespace", "ConfigMap", "PersistentVolumeClaim", "StatefulSet", "Deployment", "Service"} <= kinds
    for r in resources:
        try:
            kubernetes_validate.validate(r, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            pytest.fail(f"{name}: {r['kind']}/{r['metadata']['name']}: {where}: {e.message}")


def test_kubectl_kustomize_renders_the_same(rendered: tuple[str, list[Resource]]) -> None:
    """The checker's own kustomize agrees with the real one, where kubectl is installed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the manifests are still checked through tests/kustomize.py")
    name, resources = rendered
    out = subprocess.run([kubectl, "kustomize", str(KUSTOMIZATIONS[name])], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    theirs = [d for d in yaml.safe_load_all(out) if d]

    def key(r: Resource) -> tuple[str, str]:
        return r["kind"], r["metadata"]["name"]

    assert sorted(theirs, key=key) == sorted(resources, key=key)


def test_services_select_the_pods_and_ports_they_name(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    for w in workloads(resources):
        labels = w["spec"]["template"]["metadata"]["labels"]
        assert w["spec"]["selector"]["matchLabels"].items() <= labels.items(), w["metadata"]["name"]
    for svc in (r for r in resources if r["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        selected = [w for w in workloads(resources)
                    if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert len(selected) == 1, f"Service {svc['metadata']['name']} selects {len(selected)} workloads"
        (container,) = selected[0]["spec"]["template"]["spec"]["containers"]
        named = ports_by_name(container)
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in named, f"{svc['metadata']['name']}: no container port {port['targetPort']}"
            assert port["port"] == named[port["targetPort"]]
    controller = find(resources, "StatefulSet", "nestor-controller")
    assert controller["spec"]["replicas"] == 1  # one controller holds every study
    assert find(resources, "Service", controller["spec"]["serviceName"])


def test_the_controller_finds_executors_through_the_headless_service(rendered: tuple[str, list[Resource]],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, resources = rendered
    config = find(resources, "ConfigMap", "nestor-config")["data"]
    for key, value in config.items():
        monkeypatch.setenv(key, value)
    headless = find(resources, "Service", "nestor-executor")
    assert headless["spec"]["clusterIP"] == "None"
    (port,) = headless["spec"]["ports"]
    controller = find(resources, "StatefulSet", "nestor-controller")["spec"]["template"]["spec"]["containers"][0]
    settings = controller_parser().parse_args(controller["args"])
    assert settings.executors == f"dns:///{headless['metadata']['name']}:{port['port']}"
    assert settings.host == "0.0.0.0" and settings.artifact_dir == "/artifacts"
    assert settings.store.startswith("sqlite:////var/lib/nestor/")
    mounts = {m["mountPath"] for m in controller["volumeMounts"]}
    assert "/var/lib/nestor" in mounts and settings.artifact_dir in mounts


def test_probes_ports_and_volumes_match_the_command_lines(rendered: tuple[str, list[Resource]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    name, resources = rendered
    for key, value in find(resources, "ConfigMap", "nestor-config")["data"].items():
        monkeypatch.setenv(key, value)
    claims = {r["metadata"]["name"] for r in resources if r["kind"] == "PersistentVolumeClaim"}
    config_maps = {r["metadata"]["name"] for r in resources if r["kind"] == "ConfigMap"}
    for w in workloads(resources):
        for pod in pod_specs(w):
            (container,) = pod["containers"]
            if container["name"] == "dashboard":
                continue  # no gRPC ports and no checkpoints: test_the_dashboard_reaches_the_controller...
            args = container["args"]
            parsed = (controller_parser() if container["name"] == "controller" else executor_parser()).parse_args(args)
            named = ports_by_name(container)
            assert named["grpc"] == parsed.port
            assert named["health"] == parsed.health_port
            assert named["metrics"] == parsed.metrics_port
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["grpc"]["port"] == parsed.health_port, f"{w['metadata']['name']} {probe}"
            annotations = w["spec"]["template"]["metadata"]["annotations"]
            assert int(annotations["prometheus.io/port"]) == parsed.metrics_port
            assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            volumes.update({t["metadata"]["name"]: t for t in w["spec"].get("volumeClaimTemplates", [])})
            for mount in container["volumeMounts"]:
                assert mount["name"] in volumes, f"{w['metadata']['name']}: no volume {mount['name']}"
            for v in volumes.values():
                if "persistentVolumeClaim" in v:
                    assert v["persistentVolumeClaim"]["claimName"] in claims
            assert {e["configMapRef"]["name"] for e in container["envFrom"]} <= config_maps
            # Checkpoints shared: every pod mounts the same claim at the artifact directory.
            shared = [m for m in container["volumeMounts"] if m["mountPath"] == "/artifacts"]
            assert [volumes[m["name"]]["persistentVolumeClaim"]["claimName"] for m in shared] == ["nestor-checkpoints"]
            assert pod["terminationGracePeriodSeconds"] >= 30
            if container["name"] == "executor":
                gpus = int(container["resources"].get("limits", {}).get("nvidia.com/gpu", 0))
                if name == "gpu":
                    assert gpus == 1 and parsed.device == "cuda" and container["image"].endswith("-cuda")
                else:
                    assert gpus == 0 and parsed.device == "cpu" and container["image"].endswith("-cpu")


def test_the_secure_overlay_reads_every_certificate_and_token_from_a_secret() -> None:
    resources = build(KUSTOMIZATIONS["secure"])
    file_flags = {"controller": ("--tls-cert", "--tls-key", "--executor-ca", "--auth-tokens"),
                  "executor": ("--tls-cert", "--tls-key", "--tls-client-ca")}
    for w in workloads(resources):
        for pod in pod_specs(w):
            (container,) = pod["containers"]
            if container["name"] == "dashboard":
                continue  # test_the_dashboard_reaches_the_controller_over_its_service
            secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"] if m["name"] in secrets}
            for name in file_flags[container["name"]]:
                path = flag(container["args"], name)
                assert any(path.startswith(m + "/") for m in mounts), f"{container['name']} {name} {path}"
            # Probes still reach the plaintext health port: kubelet speaks no TLS.
            assert container["readinessProbe"]["grpc"]["port"] == int(flag(container["args"], "--health-port"))


def test_the_dashboard_reaches_the_controller_over_its_service(rendered: tuple[str, list[Resource]]) -> None:
    name, resources = rendered
    (container,) = find(resources, "Deployment", "nestor-dashboard")["spec"]["template"]["spec"]["containers"]
    pod = find(resources, "Deployment", "nestor-dashboard")["spec"]["template"]["spec"]
    parsed = dashboard_parser().parse_args(container["args"])
    controller = find(resources, "Service", "nestor-controller")
    grpc_port = next(p["port"] for p in controller["spec"]["ports"] if p["name"] == "grpc")
    assert parsed.controller == f"{controller['metadata']['name']}:{grpc_port}"
    assert parsed.host == "0.0.0.0" and not parsed.allow_write  # read-only unless someone opts in
    assert ports_by_name(container)["http"] == parsed.port
    assert find(resources, "Service", "nestor-dashboard")["spec"]["ports"][0]["targetPort"] == "http"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    assert {m["name"] for m in container["volumeMounts"]} <= set(volumes)
    if name == "secure":
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
        for flag_name, secret, key in (("--tls-ca", "nestor-controller-tls", "ca.crt"),
                                       ("--token-file", "nestor-tokens", "tokens")):
            path = Path(flag(container["args"], flag_name))
            volume = mounts[str(path.parent)]["secret"]
            # Only the file it needs: the controller's private key stays out of the dashboard's pod.
            assert volume["secretName"] == secret and volume["items"] == [{"key": key, "path": path.name}]
    else:
        assert parsed.tls_ca is None and parsed.token_file is None


# --- Dockerfiles ----------------------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        command, _, rest = (pending + line).partition(" ")
        out.append((command.upper(), rest.strip()))
        pending = ""
    assert not pending, f"{path}: ends inside a continued line"
    return out


def console_script(distribution: str) -> str:
    scripts = tomllib.loads((REPO / distribution / "pyproject.toml").read_text())["project"]["scripts"]
    (name,) = scripts
    return str(name)


DOCKERFILES = {"controller": ("controller.Dockerfile", "controller"),
               "executor": ("executor.Dockerfile", "executor"),
               "dashboard": ("dashboard.Dockerfile", "dashboard")}


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_entry_point_ports_and_sources(image: str) -> None:
    filename, distribution = DOCKERFILES[image]
    steps = instructions(DEPLOY / filename)
    by_kind: dict[str, list[str]] = {}
    for kind, rest in steps:
        by_kind.setdefault(kind, []).append(rest)
    assert by_kind["ENTRYPOINT"] == [json.dumps([console_script(distribution)])]
    (cmd,) = (json.loads(c) for c in by_kind["CMD"])
    parser = {"controller": controller_parser, "executor": executor_parser, "dashboard": dashboard_parser}[image]
    parsed = parser().parse_args(cmd)
    exposed = {int(p) for line in by_kind["EXPOSE"] for p in line.split()}
    ports = {parsed.port} if image == "dashboard" else {parsed.port, parsed.health_port, parsed.metrics_port}
    assert exposed == ports
    assert parsed.host == "0.0.0.0"
    for copy_args in by_kind["COPY"]:
        *sources, _ = copy_args.split()
        for source in sources:
            assert (REPO / source).exists(), f"{filename}: COPY {source}: not in the repository"
    (user,) = by_kind["USER"]
    assert user not in ("root", "0")
    installs = " ".join(r for r in by_kind["RUN"] if "pip install" in r)
    if image == "controller":
        # The slim image: the SDK and the controller only, never torch or the executor.
        assert "./controller" in installs and "./client_sdk" in installs
        assert "./executor" not in installs and "torch" not in installs
    elif image == "dashboard":
        # The SDK and the dashboard: it reaches the controller over gRPC, never through its code or store.
        assert "./dashboard" in installs and "./client_sdk" in installs
        assert "./controller" not in installs and "./executor" not in installs
    else:
        assert "./executor" in installs


def test_executor_image_has_a_cuda_and_a_cpu_variant() -> None:
    steps = instructions(DEPLOY / "executor.Dockerfile")
    stages = {rest.split(" AS ")[1]: rest.split()[0] for kind, rest in steps if kind == "FROM" and " AS " in rest}
    assert stages["base-cuda"].startswith("nvidia/cuda:") and "runtime" in stages["base-cuda"]
    assert stages["base-cpu"].startswith("python:3.11")
    assert ("ARG", "VARIANT=cuda") in steps and ("FROM", "base-${VARIANT}") in steps


# --- compose ----------------------------------------------------------------------------------------------


def test_compose_starts_postgres_a_controller_and_two_executors() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "controller", "executor-1", "executor-2"}
    for name, svc in services.items():
        if "build" in svc:
            context = (DEPLOY / svc["build"]["context"]).resolve()
            assert context == REPO, name
            assert (context / svc["build"]["dockerfile"]).is_file(), name
        for volume in svc.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], f"{name}: volume {volume}"

    pg = services["postgres"]["environment"]
    controller = controller_parser().parse_args(services["controller"]["command"])
    store = urlsplit(controller.store)
    assert store.scheme == "postgresql" and store.hostname == "postgres" and store.port == 5432
    assert (store.username, store.password, store.path.lstrip("/")) == (
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])
    assert services["controller"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    published = {int(p.split(":")[1]) for p in services["controller"]["ports"]}
    assert published == {controller.port, controller.metrics_port}

    for name in ("executor-1", "executor-2"):
        args = executor_parser().parse_args(services[name]["command"])
        assert args.controller == f"controller:{controller.port}"
        assert args.advertise == f"{name}:{args.port}"  # the name the controller dials back
        assert args.artifact_dir == controller.artifact_dir
        assert services[name]["build"]["args"]["VARIANT"] == "cpu"
