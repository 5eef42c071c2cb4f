"""The chart, rendered and linted with the real Helm library (PyPI helm-python-sdk), every
manifest validated against the Kubernetes 1.29 and 1.33 schemas (kubernetes-validate, strict).

Run: target/venv/bin/python charts/godel-prober/tests/test_chart.py (scripts/test does).
With PROBER=<path to the prober binary>, each rendered config is also checked by
`prober config check`. Plain asserts; exits non-zero on the first failure.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import helm_python
import kubernetes_validate
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "godel-prober"
KUBE_VERSIONS = ["1.29.0", "1.33.0"]
# CRDs of the Prometheus Operator: kubernetes-validate has only the built-in kinds' schemas.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
NAME, NAMESPACE = "gp", "monitoring"

CASES = {
    "default": {},
    "staging": yaml.safe_load((CHART / "examples/values-staging.yaml").read_text()),
    "production": yaml.safe_load((CHART / "examples/values-production.yaml").read_text()),
    "everything-on": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "dashboards": {"enabled": True},
        "rollback": {"enabled": True, "mode": "rollback"},
    },
    "sidecar": {"sidecar": {"enabled": True}, "guard": {"enabled": False}, "podMetrics": {"enabled": False}},
}


def render(values):
    out = helm_python.Chart.load(str(CHART)).render(values, name=NAME, namespace=NAMESPACE)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs += [(path, d) for d in yaml.safe_load_all(text) if d]
    return docs


def of_kind(docs, kind):
    return [d for _, d in docs if d["kind"] == kind]


def check_lint(case, values):
    for kv in KUBE_VERSIONS:
        r = helm_python.lint(str(CHART), values, strict=True, namespace=NAMESPACE, kube_version="v" + kv)
        bad = [m for m in r["messages"] if m["severity"] >= 2]
        assert not r["errors"] and not bad, f"{case}: helm lint --strict (k8s {kv}): {r}"


def check_kubernetes_schemas(case, docs):
    skipped = set()
    for path, d in docs:
        if d["kind"] in CRD_KINDS:
            skipped.add(d["kind"])
            continue
        for kv in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(d, kv, strict=True)
            except kubernetes_validate.ValidationError as e:
                raise AssertionError(f"{case}: {path} {d['kind']} invalid for k8s {kv}: {e.message}") from None
    return skipped


def check_security(case, docs):
    pods = [d["spec"]["template"]["spec"] for d in of_kind(docs, "Deployment")]
    pods += [d["spec"] for d in of_kind(docs, "Pod")]
    for spec in pods:
        assert spec["securityContext"]["runAsNonRoot"] is True, case
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", case
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, case
            assert sc["capabilities"]["drop"] == ["ALL"], case
            assert c["resources"]["requests"] and c["resources"]["limits"], case
    for d in of_kind(docs, "Deployment"):
        c = d["spec"]["template"]["spec"]["containers"][0]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", case
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", case
        assert d["spec"]["template"]["spec"]["topologySpreadConstraints"], case
    tests = [d for d in of_kind(docs, "Pod") if d["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    if not of_kind(docs, "Deployment"):
        assert not tests, f"{case}: helm test Pod in sidecar mode"
        return
    assert len(tests) == 1, f"{case}: no helm test Pod"
    args = tests[0]["spec"]["containers"][0]["args"]
    assert args[0] == "check" and args[args.index("--target") + 1].startswith("http"), f"{case}: {args}"


def rules_of(docs, kind="Role"):
    return {d["metadata"]["name"]: d["rules"] for d in of_kind(docs, kind)}


def check_rbac(case, values, docs):
    text = yaml.safe_dump([d for _, d in docs if d["kind"] in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")])
    assert "'*'" not in text and '"*"' not in text and "- '*'" not in text, f"{case}: wildcard in RBAC"
    for rules in rules_of(docs).values():
        for r in rules:
            for field in ("apiGroups", "resources", "verbs"):
                assert all("*" not in x for x in r[field]), f"{case}: wildcard in {r}"
    assert not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding"), case
    roles = rules_of(docs)
    base = roles.get(f"{NAME}-godel-prober", [])
    for r in base:
        if "secrets" in r["resources"]:
            assert sorted(r["verbs"]) == ["get", "list"], f"{case}: secrets {r['verbs']}"
    rollback_on = values.get("rollback", {}).get("enabled", False) and values.get("guard", {}).get("enabled", True)
    rb = roles.get(f"{NAME}-godel-prober-rollback")
    binding = [b for b in of_kind(docs, "RoleBinding") if b["roleRef"]["name"] == f"{NAME}-godel-prober-rollback"]
    if rollback_on:
        assert rb and binding, f"{case}: rollback.enabled but no rollback Role/RoleBinding"
        deploys = [r for r in rb if "deployments" in r["resources"]]
        assert deploys and "patch" in deploys[0]["verbs"], f"{case}: {rb}"
    else:
        assert rb is None and not binding, f"{case}: rollback grants present with rollback.enabled false"
        for rules in roles.values():
            for r in rules:
                assert not {"create", "update", "patch", "delete"} & set(r["verbs"]) or r["resources"] in (
                    ["events"],
                    ["leases"],
                ), f"{case}: write access without rollback: {r}"


def check_assets(case, values, docs):
    rules = of_kind(docs, "PrometheusRule")
    if values.get("prometheusRule", {}).get("enabled"):
        want = []
        for f in sorted((REPO / "rules").glob("*.yaml")):
            want += yaml.safe_load(f.read_text())["groups"]
        assert len(rules) == 1 and rules[0]["spec"]["groups"] == want, f"{case}: PrometheusRule != rules/*.yaml"
    else:
        assert not rules, case
    dashboards = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    if values.get("dashboards", {}).get("enabled"):
        sources = sorted((REPO / "dashboards").glob("*.json"))
        assert len(dashboards) == len(sources), f"{case}: {len(dashboards)} dashboard ConfigMaps"
        got = {k: json.loads(v) for d in dashboards for k, v in d["data"].items()}
        assert got == {f.name: json.loads(f.read_text()) for f in sources}, f"{case}: dashboards differ"
    else:
        assert not dashboards, case


def check_config(case, values, docs):
    cms = [d for d in of_kind(docs, "ConfigMap") if "config.yaml" in d.get("data", {})]
    assert len(cms) == 1, case
    text = cms[0]["data"]["config.yaml"]
    cfg = yaml.safe_load(text)
    assert cfg["target"]["auth"]["key_file"].startswith("/var/run/secrets/godel-prober/"), case
    rb = values.get("rollback", {})
    if "guard" in cfg:
        acts = rb.get("enabled") and rb.get("mode") == "rollback"
        assert cfg["guard"]["dry_run"] is (not acts), f"{case}: dry_run {cfg['guard']['dry_run']}"
    prober = os.environ.get("PROBER")
    if prober:
        with tempfile.TemporaryDirectory() as tmp:
            for key in ("api-key", "user-key"):
                pathlib.Path(tmp, key).write_text("k-" + key)
            f = pathlib.Path(tmp, "config.yaml")
            f.write_text(text.replace("/var/run/secrets/godel-prober", tmp))
            r = subprocess.run([prober, "config", "check", str(f)], capture_output=True, text=True)
            assert r.returncode == 0, f"{case}: prober config check: {r.stdout}{r.stderr}"


def check_bad_values():
    chart = helm_python.Chart.load(str(CHART))
    bad = {
        "replicaCount: a string": ({"replicaCount": "two"}, "/replicaCount"),
        "unknown rollback mode": ({"rollback": {"mode": "yolo"}}, "/rollback/mode"),
        "rollback without its grants": ({"rollback": {"mode": "rollback", "enabled": False}}, "/rollback/enabled"),
        "wildcard rollback rule": (
            {"rollback": {"rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]}},
            "/rollback/rules/0/resources/0",
        ),
        "unknown key": ({"replicas": 3}, "replicas"),
        "no Secret": ({"existingSecret": ""}, "/existingSecret"),
    }
    for what, (values, where) in bad.items():
        try:
            chart.render(values, name=NAME, namespace=NAMESPACE)
        except helm_python.HelmValuesError as e:
            assert where in str(e), f"bad values ({what}): message does not name {where}: {e}"
        else:
            raise AssertionError(f"bad values ({what}) rendered without error")


def main():
    skipped = set()
    for case, values in CASES.items():
        docs = render(values)
        check_lint(case, values)
        skipped |= check_kubernetes_schemas(case, docs)
        check_security(case, docs)
        check_rbac(case, values, docs)
        check_assets(case, values, docs)
        check_config(case, values, docs)
        print(f"ok  {case}: {len(docs)} manifests render, lint strictly and validate (k8s {', '.join(KUBE_VERSIONS)})")
    check_bad_values()
    print("ok  bad values fail schema validation with a message naming the value")
    print(f"note: not validated (CRDs, no schema in kubernetes-validate): {', '.join(sorted(skipped))}")
    if not os.environ.get("PROBER"):
        print("note: PROBER unset: rendered configs not checked with `prober config check`")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL {e}", file=sys.stderr)
        sys.exit(1)
