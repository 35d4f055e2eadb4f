#!/usr/bin/env python3
"""Checks the millwright Helm chart with Helm's own code, no helm binary needed.

For each values case (the defaults, the production example, the external Citus example):
  1. `helm lint --strict` (Helm's Go SDK through the `helm-python-sdk` package),
  2. values.schema.json validation and an offline render, as `helm template` would,
  3. every rendered manifest validated against the Kubernetes OpenAPI schemas in strict mode
     (`kubernetes-validate`: unknown fields are errors). ServiceMonitor is a Prometheus
     Operator CRD with no schema there: it gets a structural check instead,
  4. consistency checks Kubernetes schemas cannot see (Services select the platform pods,
     mounted ConfigMaps and Secrets exist, hardened security contexts, probes, the migration
     hook), and every rendered TOML file parses back to exactly the values it came from.
Then negative cases: values the schema must reject, a render that must fail without a
database, and a broken manifest the Kubernetes validation must catch.

Usage: check.py [--chart DIR] [--kube-version 1.30.0 ...] [--out DIR]
  --chart DIR checks another copy of the chart (default: helm/millwright beside this folder).
  --kube-version (repeatable) defaults to the oldest version the chart supports (Chart.yaml
  kubeVersion) and the newest kubernetes-validate has schemas for.
  --out DIR writes each case's rendered TOML files to DIR/<case>/ for further checks (the Rust
  test loads the platform's millwright.toml with the platform's own settings loader).
Exits 0 when everything passes, 1 otherwise, listing every failure.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import kubernetes_validate
import yaml

CHART = Path(__file__).resolve().parent.parent / "millwright"
RELEASE = "millwright"
NAMESPACE = "factory"
# Kinds defined by CRDs: kubernetes-validate has no schema for them.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
# The one value the defaults cannot provide.
DEFAULT_DATABASE = {
    "database": {
        "url": "postgres://millwright_owner:secret@db:5432/millwright",
        "appUrl": "postgres://millwright_app:secret@db:5432/millwright",
    }
}
# The branches neither the defaults nor the production example take, and TOML corner cases.
OTHER_BRANCHES = {
    "image": {"digest": "sha256:" + "ab" * 32},
    "database": {"url": "postgres://owner@db/m", "appUrl": "postgres://millwright_app@db/m"},
    "migrations": {"enabled": False},
    "serviceAccount": {"create": False},
    "podDisruptionBudget": {"maxUnavailable": "25%"},
    "ingress": {"enabled": True},
    "networkPolicy": {"enabled": True},
    "metrics": {"serviceMonitor": {"enabled": True}},
    "extraEnv": [{"name": "RUST_BACKTRACE", "value": "1"}],
    "config": {
        "store": {"backend": "plain"},
        "log": {"format": "text", "filter": "info,millwright_platform=debug"},
    },
    "connectors": {
        "image": {"tag": "edge"},
        "queue": {"persistence": {"enabled": True, "storageClassName": "fast"}},
        "platformUrl": "https://millwright.example.com",
        "sites": [
            {
                "name": "tricky",
                "token": "t0ken",
                "platformUrl": "http://10.0.0.5:8080",
                "config": {
                    "name": "tricky-connector",
                    "uplink": {"batch_max_samples": 500},
                    'quoted "key"': 'a "quoted" string\nwith a newline, tab\t, backslash \\ and ünïcode',
                    "dotted.key": True,
                    "negative": -3,
                    "tiny": 1e-07,
                    "big": 9007199254740992,
                    "half": 2.5,
                    "whole_float": 3.0,
                    "empty_list": [],
                    "nested_lists": [[1, 2], ["a"]],
                    "mixed": [1, "two", {"three": 3}],
                    "inline": {"a": {"b": {"c": "deep"}}},
                    "skipped": None,
                    "devices": [
                        {
                            "name": "d1",
                            "settings": {"timeout_ms": 500},
                            "tags": [{"name": "t1"}, {"name": "t2", "meta": {"unit": "°C"}}],
                        },
                        {"name": "d2", "tags": []},
                    ],
                },
            },
            {
                "name": "plain",
                "token": "t",
                "config": {"modbus": {"device": [{"name": "d", "address": "h:502"}]}},
            },
            {"name": "disabled", "enabled": False, "config": {}, "token": "t"},
        ],
    },
}


class Failures:
    """Collects failures so one run reports all of them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")
        print(f"FAIL {where}: {message}")

    def check(self, ok: bool, where: str, message: str) -> None:
        if not ok:
            self.add(where, message)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def drop_nulls(value: Any) -> Any:
    """TOML has no null: the chart leaves null values out."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def lint(case: str, values: dict[str, Any], kube_version: str, fail: Failures) -> None:
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{kube_version}")
    for error in report.get("errors") or []:
        fail.add(f"{case}: lint", error)
    for message in report.get("messages") or []:
        # Severity 1 is information (e.g. "icon is recommended"); warnings fail, as --strict.
        if message["severity"] >= 2:
            fail.add(f"{case}: lint {message['path']}", message["error"])


def render(chart: helm.Chart, values: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Renders like `helm install` would; returns (template, object) for every manifest."""
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append((template, doc))
    return objects


def validate_kubernetes(
    case: str, objects: list[tuple[str, dict[str, Any]]], kube_version: str, fail: Failures
) -> None:
    for template, obj in objects:
        where = f"{case}: {template} {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if not all(k in obj for k in ("apiVersion", "kind", "metadata")):
            fail.add(where, "not a Kubernetes object (apiVersion, kind, metadata)")
            continue
        if (obj["apiVersion"], obj["kind"]) in CRD_KINDS:
            check_service_monitor(where, obj, fail)
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            fail.add(where, f"invalid against Kubernetes {e.version}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            fail.add(where, e.message)


def check_service_monitor(where: str, obj: dict[str, Any], fail: Failures) -> None:
    """Structural check of the one CRD kind the chart renders."""
    spec = obj.get("spec", {})
    endpoints = spec.get("endpoints")
    fail.check(isinstance(endpoints, list) and bool(endpoints), where, "spec.endpoints missing")
    for endpoint in endpoints or []:
        fail.check(endpoint.get("port") == "http", where, "endpoint must scrape the http port")
        fail.check(endpoint.get("path") == "/metrics", where, "endpoint must scrape /metrics")
    fail.check("matchLabels" in spec.get("selector", {}), where, "spec.selector.matchLabels missing")


def consistency(
    case: str,
    values: dict[str, Any],
    objects: list[tuple[str, dict[str, Any]]],
    fail: Failures,
    out: Path | None,
) -> None:
    """What schemas cannot see: references between objects, hardening, probes, the hook."""
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _, obj in objects:
        names = by_kind.setdefault(obj["kind"], {})
        name = obj["metadata"]["name"]
        fail.check(name not in names, case, f"two {obj['kind']} objects named {name}")
        names[name] = obj
    external_secrets = {values["database"].get("existingSecret")} | {
        s.get("existingSecret") for s in values["connectors"]["sites"]
    }
    external_secrets.discard(None)
    external_secrets.discard("")

    workloads = list(by_kind.get("Deployment", {}).values()) + list(by_kind.get("Job", {}).values())
    fail.check(bool(by_kind.get("Deployment")), case, "no Deployment rendered")
    for workload in workloads:
        where = f"{case}: {workload['kind']}/{workload['metadata']['name']}"
        pod = workload["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        fail.check(psc.get("runAsNonRoot") is True, where, "pod must set runAsNonRoot")
        fail.check(
            psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where, "seccomp RuntimeDefault"
        )
        for container in pod["containers"]:
            sc = container.get("securityContext", {})
            fail.check(sc.get("readOnlyRootFilesystem") is True, where, "read-only root filesystem")
            fail.check(sc.get("allowPrivilegeEscalation") is False, where, "no privilege escalation")
            fail.check("ALL" in sc.get("capabilities", {}).get("drop", []), where, "drop ALL capabilities")
            fail.check(
                any(m["mountPath"] == "/tmp" for m in container.get("volumeMounts", [])),
                where,
                "a writable /tmp",
            )
            fail.check(
                container["args"][0] in ("serve", "migrate", "connector"), where, "millwright subcommand"
            )
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    fail.check(
                        ref["name"] in by_kind.get("Secret", {}) or ref["name"] in external_secrets,
                        where,
                        f"env {env['name']} reads a missing Secret {ref['name']}",
                    )
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                fail.check(
                    volume["configMap"]["name"] in by_kind.get("ConfigMap", {}),
                    where,
                    f"mounts a missing ConfigMap {volume['configMap']['name']}",
                )
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                fail.check(
                    name in by_kind.get("Secret", {}) or name in external_secrets,
                    where,
                    f"mounts a missing Secret {name}",
                )

    platform = [
        d
        for d in by_kind.get("Deployment", {}).values()
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "platform"
    ]
    fail.check(len(platform) == 1, case, "exactly one platform Deployment")
    for deployment in platform:
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        fail.check(container["livenessProbe"]["httpGet"]["path"] == "/healthz", case, "liveness on /healthz")
        fail.check(container["readinessProbe"]["httpGet"]["path"] == "/readyz", case, "readiness on /readyz")
        fail.check(container["args"] == ["serve"], case, "platform runs `millwright serve`")
        selector = deployment["spec"]["selector"]["matchLabels"]
        fail.check(selector.items() <= pod_labels.items(), case, "Deployment selector matches its pods")
        for kind in ("Service", "PodDisruptionBudget"):
            for obj in by_kind.get(kind, {}).values():
                sel = obj["spec"]["selector"]
                sel = sel.get("matchLabels", sel)
                fail.check(sel.items() <= pod_labels.items(), case, f"{kind} selects the platform pods")
        hpa = by_kind.get("HorizontalPodAutoscaler", {})
        fail.check(bool(hpa) == values["autoscaling"]["enabled"], case, "HPA exactly when autoscaling")
        fail.check(("replicas" in deployment["spec"]) != bool(hpa), case, "replicas set only without HPA")
        for obj in hpa.values():
            fail.check(
                obj["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"], case, "HPA target"
            )

    jobs = list(by_kind.get("Job", {}).values())
    fail.check(len(jobs) == (1 if values["migrations"]["enabled"] else 0), case, "one migration Job")
    for job in jobs:
        hooks = job["metadata"].get("annotations", {}).get("helm.sh/hook", "")
        fail.check(
            set(hooks.split(",")) == {"pre-install", "pre-upgrade"},
            case,
            "migration Job is a pre-install/pre-upgrade hook",
        )
        fail.check(
            job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"],
            case,
            "runs `millwright migrate`",
        )
        # Everything the hook Job reads must itself be a hook resource (or external), since
        # hooks run before the release's other objects exist on a first install.
        for volume in job["spec"]["template"]["spec"]["volumes"]:
            name = (volume.get("configMap") or {}).get("name")
            if name:
                cm = by_kind["ConfigMap"][name]
                fail.check(
                    "helm.sh/hook" in cm["metadata"].get("annotations", {}),
                    case,
                    f"hook Job mounts ConfigMap {name}, which is not a hook resource",
                )

    sites = [s for s in values["connectors"]["sites"] if s.get("enabled", True)]
    connectors = [
        d
        for d in by_kind.get("Deployment", {}).values()
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "connector"
    ]
    fail.check(
        len(connectors) == len(sites), case, f"{len(sites)} connector Deployments, got {len(connectors)}"
    )
    for deployment in connectors:
        fail.check(deployment["spec"]["replicas"] == 1, case, "a connector runs as a single pod")
        fail.check(
            deployment["spec"]["strategy"]["type"] == "Recreate", case, "a connector is replaced, not rolled"
        )

    # Rendered TOML parses back to the values it came from.
    tomls: dict[str, str] = {}
    platform_cm = by_kind["ConfigMap"].get(f"{RELEASE}")
    if platform_cm is None:
        fail.add(case, "platform ConfigMap missing")
    else:
        tomls["millwright.toml"] = platform_cm["data"]["millwright.toml"]
        roundtrip(case, "millwright.toml", tomls["millwright.toml"], drop_nulls(values["config"]), fail)
    for site in sites:
        if site.get("existingSecret"):
            continue
        secret = by_kind["Secret"].get(f"{RELEASE}-connector-{site['name']}")
        if secret is None:
            fail.add(case, f"Secret of connector {site['name']} missing")
            continue
        text = secret["stringData"]["connector.toml"]
        tomls[f"connector-{site['name']}.toml"] = text
        expected = drop_nulls(site.get("config", {}))
        expected.setdefault("name", site["name"])
        uplink = expected.setdefault("uplink", {})
        uplink["platform_url"] = site.get("platformUrl") or (
            values["connectors"]["platformUrl"]
            or f"http://{RELEASE}.{NAMESPACE}.svc:{values['service']['port']}"
        )
        uplink["token"] = site["token"]
        uplink["queue_dir"] = "/var/lib/millwright/queue"
        roundtrip(case, f"connector {site['name']}", text, expected, fail)
    if out is not None:
        folder = out / case
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in tomls.items():
            (folder / name).write_text(text)


def typed(value: Any) -> Any:
    """`value` with the type of every leaf made explicit: 365 and 365.0 must not compare equal."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def whole_floats_as_ints(value: Any) -> Any:
    """Helm keeps every number as a float, so 1.0 in a values file can only render as 1."""
    if isinstance(value, dict):
        return {k: whole_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_floats_as_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def roundtrip(case: str, what: str, text: str, expected: dict[str, Any], fail: Failures) -> None:
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        fail.add(f"{case}: {what}", f"rendered TOML does not parse: {e}\n{text}")
        return
    fail.check(
        typed(parsed) == typed(whole_floats_as_ints(expected)),
        f"{case}: {what}",
        f"rendered TOML differs from its values:\n  got      {parsed}\n  expected {expected}",
    )


def must_raise(what: str, fail: Failures, action: Callable[[], Any], needle: str) -> None:
    """A negative case: `action` must raise, with `needle` in the message."""
    try:
        action()
    except Exception as e:  # noqa: BLE001 - any Helm or validation error counts
        fail.check(needle in str(e), what, f"failed, but not for the expected reason ({needle!r}): {e}")
        print(f"ok   rejected: {what}")
        return
    fail.add(what, "was accepted but must be rejected")


def negative(chart: helm.Chart, defaults: dict[str, Any], objects, kube_version: str, fail: Failures) -> None:
    good = deep_merge(defaults, DEFAULT_DATABASE)
    bad_values = {
        "replicaCount as a string": ({"replicaCount": "two"}, "/replicaCount"),
        "an unknown top-level key": ({"replicas": 3}, "replicas"),
        "an unknown nested key": ({"image": {"tags": "1.0"}}, "tags"),
        "a database URL in config": ({"config": {"database": {"url": "postgres://x"}}}, "/config/database"),
        "an unknown store backend": ({"config": {"store": {"backend": "mysql"}}}, "/config/store/backend"),
        "a misspelt alerting setting": ({"config": {"alerting": {"queue_batch": 10}}}, "queue_batch"),
        "webhook retries as a string": (
            {"config": {"webhooks": {"retry_base_secs": "30s"}}},
            "/config/webhooks/retry_base_secs",
        ),
        "a site without config or existingSecret": (
            {"connectors": {"sites": [{"name": "plant-x"}]}},
            "/connectors/sites/0",
        ),
        "a site with config but no token": (
            {"connectors": {"sites": [{"name": "plant-x", "config": {}}]}},
            "/connectors/sites/0",
        ),
        "an uplink token in a site's config": (
            {"connectors": {"sites": [{"name": "x", "token": "t", "config": {"uplink": {"token": "t"}}}]}},
            "/connectors/sites/0/config/uplink",
        ),
        "a site name that is no DNS label": (
            {"connectors": {"sites": [{"name": "Plant_X", "config": {}, "token": "t"}]}},
            "/connectors/sites/0/name",
        ),
    }
    for what, (override, needle) in bad_values.items():
        values = deep_merge(good, override)
        must_raise(f"values.schema.json rejects {what}", fail, lambda: chart.validate_schema(values), needle)
        must_raise(f"render rejects {what}", fail, lambda: chart.render(values, name=RELEASE), needle)
    must_raise("render without a database", fail, lambda: chart.render({}, name=RELEASE), "database.url")
    owner_only = {"database": {"url": DEFAULT_DATABASE["database"]["url"]}}
    must_raise(
        "render without the application role's URL",
        fail,
        lambda: chart.render(owner_only, name=RELEASE),
        "database.appUrl",
    )
    # The fallback must be chosen explicitly, and then the pods may start without the URL.
    fallback = render(chart, deep_merge(owner_only, {"database": {"setRoleFallback": True}}))
    for _, obj in fallback:
        if obj["kind"] != "Deployment":
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if env["name"] == "APP_DATABASE_URL":
                    fail.check(env["valueFrom"]["secretKeyRef"]["optional"] is True, "fallback", "optional app URL")
    for _, obj in objects:
        if obj["kind"] != "Deployment":
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if env["name"] == "APP_DATABASE_URL":
                    fail.check(
                        env["valueFrom"]["secretKeyRef"]["optional"] is False,
                        "default",
                        "APP_DATABASE_URL is required by default",
                    )

    # The Kubernetes validation itself must catch a broken manifest (guards against a check
    # that silently passes, e.g. if schemas went missing).
    deployment = next(copy.deepcopy(o) for _, o in objects if o["kind"] == "Deployment")
    deployment["spec"]["replicas"] = "two"
    must_raise(
        'Kubernetes validation rejects replicas: "two"',
        fail,
        lambda: kubernetes_validate.validate(deployment, kube_version, strict=True),
        "replicas",
    )
    deployment = next(copy.deepcopy(o) for _, o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    must_raise(
        "Kubernetes validation rejects an unknown field",
        fail,
        lambda: kubernetes_validate.validate(deployment, kube_version, strict=True),
        "httpGett",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kube-version",
        action="append",
        dest="kube_versions",
        help="Kubernetes version to validate against (repeatable)",
    )
    parser.add_argument("--out", type=Path, help="write the rendered TOML files here")
    parser.add_argument("--chart", type=Path, help="the chart folder to check")
    args = parser.parse_args()
    global CHART
    if args.chart:
        CHART = args.chart.resolve()
    kube_versions = args.kube_versions or ["1.30.0", kubernetes_validate.utils.latest_version()]
    started = time.monotonic()
    fail = Failures()
    print(
        f"Helm SDK {helm.helm_sdk_version()} (helm-c {helm.helm_c_version()}), "
        f"kubernetes-validate {kubernetes_validate.__version__}, Kubernetes {', '.join(kube_versions)}"
    )

    with helm.Chart.load(CHART) as chart:
        defaults = chart.values
        production = helm.values_from_yaml((CHART / "values-production.yaml").read_text())
        citus = helm.values_from_yaml((CHART / "values-citus.yaml").read_text())
        cases = {
            "default": DEFAULT_DATABASE,
            "production": production,
            "citus": citus,
            "other-branches": OTHER_BRANCHES,
        }
        default_objects: list[tuple[str, dict[str, Any]]] = []
        for case, override in cases.items():
            failures_before = len(fail.items)
            for kube_version in kube_versions:
                lint(case, override, kube_version, fail)
            try:
                chart.validate_schema(override)
                objects = render(chart, override)
            except helm.HelmError as e:
                fail.add(f"{case}: render", str(e))
                continue
            if case == "default":
                default_objects = objects
            for kube_version in kube_versions:
                validate_kubernetes(case, objects, kube_version, fail)
            try:
                consistency(case, deep_merge(defaults, override), objects, fail, args.out)
            except (KeyError, IndexError, TypeError, AttributeError) as e:
                # A manifest missing what the checks expect is a failure, not a crash.
                fail.add(f"{case}: consistency", f"unexpected manifest shape: {type(e).__name__} {e}")
            kinds = sorted({o["kind"] for _, o in objects})
            status = "ok  " if len(fail.items) == failures_before else "FAIL"
            print(
                f"{status} {case}: lint, schema, render, {len(objects)} manifests validated ({', '.join(kinds)})"
            )
        if default_objects:
            negative(chart, defaults, default_objects, kube_versions[0], fail)

    elapsed = time.monotonic() - started
    if fail.items:
        print(f"\n{len(fail.items)} failure(s) in {elapsed:.1f}s:")
        for item in fail.items:
            print(f"  - {item}")
        return 1
    print(f"\nThe chart passes every check ({elapsed:.1f}s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
