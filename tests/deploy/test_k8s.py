"""The Kubernetes manifests, validated offline against the bundled Kubernetes JSON schemas."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.deploy.conftest import DEPLOY, load_yaml_documents

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30.0"
MANIFESTS = sorted(path for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")


def resources() -> dict[tuple[str, str], dict]:
    return {
        (document["kind"], document["metadata"]["name"]): document
        for path in MANIFESTS
        for document in load_yaml_documents(path)
    }


def pod_specs() -> dict[str, dict]:
    specs = {}
    for (kind, name), resource in resources().items():
        if kind == "Deployment" or kind == "Job":
            specs[name] = resource["spec"]["template"]["spec"]
        elif kind == "CronJob":
            specs[name] = resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return specs


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_each_manifest_is_valid_against_the_kubernetes_schema(path):
    documents = load_yaml_documents(path)
    assert documents
    for document in documents:
        # strict: an unknown (misspelt) field is an error too.
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example():
    [kustomization] = load_yaml_documents(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    assert listed == {path.name for path in MANIFESTS} - {"secret.example.yaml"}


def test_the_deployment_probes_health_and_ready_and_runs_as_non_root_read_only():
    deployment = resources()[("Deployment", "healthexport")]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert set(container["resources"]) == {"requests", "limits"}

    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    multiproc_dir = next(item["value"] for item in container["env"] if item["name"] == "PROMETHEUS_MULTIPROC_DIR")
    for path in ("/app/var", "/tmp", multiproc_dir):
        assert mounts[path] in empty_dirs, path


def test_every_pod_reads_the_configmap_and_secret_that_exist_and_the_probes_host_is_allowed():
    everything = resources()
    configmap = everything[("ConfigMap", "healthexport")]
    secret = everything[("Secret", "healthexport")]
    for name, pod in pod_specs().items():
        [container] = pod["containers"]
        sources = {(next(iter(source)), next(iter(source.values()))["name"]) for source in container["envFrom"]}
        assert sources - {("secretRef", "healthexport-owner")} == {
            ("configMapRef", "healthexport"),
            ("secretRef", "healthexport"),
        }, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= set(secret["stringData"])
    assert "DATABASE_OWNER_URL" not in secret["stringData"]
    assert "localhost" in configmap["data"]["ALLOWED_HOSTS"].split(",")


def test_the_configmap_sets_only_documented_variables():
    env_example = (DEPLOY.parent / ".env.example").read_text()
    configmap = resources()[("ConfigMap", "healthexport")]
    for name in configmap["data"]:
        assert f"# {name}=" in env_example, name


def test_jobs_migrate_and_run_the_maintenance_commands():
    commands = {name: pod["containers"][0]["command"] for name, pod in pod_specs().items()}
    assert commands["healthexport-migrate"] == ["python", "manage.py", "migrate", "--noinput"]
    assert commands["healthexport-ensure-partitions"][2] == "ensure_partitions"
    assert commands["healthexport-purge-audit"][2] == "purge_audit"
    assert commands["healthexport-check-data-quality"][2:] == ["check_data_quality", "--fail-on-findings"]
    assert commands["healthexport-purge-raw-bodies"][2:] == ["purge_raw_bodies"]
    assert commands["healthexport-mark-stale-ingestions"][2:] == ["mark_stale_ingestions"]


def test_only_the_commands_that_need_the_table_owner_get_its_credentials():
    owner_secret = resources()[("Secret", "healthexport-owner")]
    assert set(owner_secret["stringData"]) == {"DATABASE_OWNER_URL"}
    with_owner = {
        name
        for name, pod in pod_specs().items()
        if {"secretRef": {"name": "healthexport-owner"}} in pod["containers"][0]["envFrom"]
    }
    assert with_owner == {"healthexport-migrate", "healthexport-ensure-partitions", "healthexport-purge-audit"}


def test_the_hpa_scales_the_deployment():
    hpa = resources()[("HorizontalPodAutoscaler", "healthexport")]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "healthexport"}
    assert hpa["spec"]["minReplicas"] >= 2


def test_the_ingress_buffers_requests_for_the_service_and_its_host_is_allowed():
    everything = resources()
    ingress = everything[("Ingress", "healthexport")]
    annotations = ingress["metadata"]["annotations"]
    configmap = everything[("ConfigMap", "healthexport")]["data"]
    service_ports = {port["name"] for port in everything[("Service", "healthexport")]["spec"]["ports"]}

    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    body_size_mib = int(annotations["nginx.ingress.kubernetes.io/proxy-body-size"].removesuffix("m"))
    assert body_size_mib * 1024**2 > int(configmap["INGEST_MAX_BODY_BYTES"])
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in configmap["ALLOWED_HOSTS"].split(",")
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == "healthexport"
            assert path["backend"]["service"]["port"]["name"] in service_ports - {"metrics"}
    assert {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]} == {
        rule["host"] for rule in ingress["spec"]["rules"]
    }
