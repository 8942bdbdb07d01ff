"""The real kubectl against the server: the commands the guides and notebooks rely on."""

from __future__ import annotations

import json
import uuid

import pytest

from .kubeharness import WIDGET_CRD, KubeServer, requires_kubectl

pytestmark = requires_kubectl

CM = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
  labels: {app: demo}
data:
  a: "1"
  b: two
"""


def test_client_side_apply_is_idempotent(kube: KubeServer, ns: str) -> None:
    assert (
        kube.kubectl("apply", "-n", ns, "-f", "-", input=CM).stdout.strip()
        == "configmap/demo created"
    )
    assert (
        kube.kubectl("apply", "-n", ns, "-f", "-", input=CM).stdout.strip()
        == "configmap/demo unchanged"
    )
    changed = CM.replace('a: "1"', 'a: "2"').replace("b: two\n", "")
    assert (
        kube.kubectl("apply", "-n", ns, "-f", "-", input=changed).stdout.strip()
        == "configmap/demo configured"
    )
    data = json.loads(kube.kubectl("get", "cm", "demo", "-n", ns, "-o", "json").stdout)["data"]
    assert data == {"a": "2"}
    assert (
        kube.kubectl("apply", "-n", ns, "-f", "-", input=changed).stdout.strip()
        == "configmap/demo unchanged"
    )


def test_server_side_apply_twice_and_field_removal(kube: KubeServer, ns: str) -> None:
    for _ in range(2):
        out = kube.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=CM).stdout
        assert out.strip() == "configmap/demo serverside-applied"
    kube.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=CM.replace("  b: two\n", ""))
    obj = json.loads(
        kube.kubectl("get", "cm", "demo", "-n", ns, "-o", "json", "--show-managed-fields").stdout
    )
    assert obj["data"] == {"a": "1"}
    assert [m["manager"] for m in obj["metadata"]["managedFields"]] == ["kubectl"]


def test_server_side_apply_conflict_and_force(kube: KubeServer, ns: str) -> None:
    kube.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=CM)
    other = CM.replace('a: "1"', 'a: "9"')
    proc = kube.kubectl(
        "apply",
        "--server-side",
        "--field-manager=other",
        "-n",
        ns,
        "-f",
        "-",
        input=other,
        check=False,
    )
    assert proc.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.a' in proc.stderr
    kube.kubectl(
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-n",
        ns,
        "-f",
        "-",
        input=other,
    )
    assert kube.kubectl("get", "cm", "demo", "-n", ns, "-o", "jsonpath={.data.a}").stdout == "9"


def test_get_output_formats_and_label_selector(kube: KubeServer, ns: str) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input=CM)
    kube.kubectl("create", "configmap", "other", "-n", ns, "--from-literal=x=y")
    table = kube.kubectl("get", "cm", "-n", ns, "-l", "app=demo").stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"]
    assert [line.split()[:2] for line in table[1:]] == [["demo", "2"]]
    names = kube.kubectl("get", "cm", "-n", ns, "-l", "app!=demo", "-o", "name").stdout.split()
    assert "configmap/other" in names and "configmap/demo" not in names
    assert kube.kubectl("get", "cm", "demo", "-n", ns, "-o", "jsonpath={.data.b}").stdout == "two"
    yaml_out = kube.kubectl("get", "cm", "demo", "-n", ns, "-o", "yaml").stdout
    assert "kind: ConfigMap" in yaml_out and "last-applied-configuration" in yaml_out


def test_create_namespace_and_secret_via_protobuf(kube: KubeServer) -> None:
    name = "kc-" + uuid.uuid4().hex[:6]
    assert kube.kubectl("create", "namespace", name).stdout.strip() == f"namespace/{name} created"
    kube.kubectl("create", "secret", "generic", "s", "-n", name, "--from-literal=password=p@ss")
    secret = json.loads(kube.kubectl("get", "secret", "s", "-n", name, "-o", "json").stdout)
    assert secret["data"] == {"password": "cEBzcw=="} and secret["type"] == "Opaque"
    table = kube.kubectl("get", "ns", name).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "AGE"] and table[1].split()[:2] == [
        name,
        "Active",
    ]
    kube.kubectl("delete", "namespace", name)
    proc = kube.kubectl("get", "secret", "s", "-n", name, check=False)
    assert "NotFound" in proc.stderr


def test_describe_and_delete(kube: KubeServer, ns: str) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input=CM)
    described = kube.kubectl("describe", "cm", "demo", "-n", ns).stdout
    assert "Name:         demo" in described and "Events:  <none>" in described
    assert (
        kube.kubectl("delete", "cm", "demo", "-n", ns).stdout.strip() == 'configmap "demo" deleted'
    )
    proc = kube.kubectl("get", "cm", "demo", "-n", ns, check=False)
    assert proc.returncode == 1
    assert 'configmaps "demo" not found' in proc.stderr


def test_crd_then_custom_resource(kube: KubeServer, ns: str, widget_crd: str) -> None:
    out = kube.kubectl("apply", "-f", "-", input=WIDGET_CRD).stdout
    assert out.strip() in (
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com unchanged",
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com configured",
    )
    w = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3, tags: [a]}\n"
    assert (
        kube.kubectl("apply", "-n", ns, "-f", "-", input=w).stdout.strip()
        == "widget.example.com/w1 created"
    )
    assert (
        kube.kubectl("apply", "-n", ns, "-f", "-", input=w).stdout.strip()
        == "widget.example.com/w1 unchanged"
    )
    w2 = w.replace("size: 3", "size: 4")
    assert (
        kube.kubectl("apply", "-n", ns, "-f", "-", input=w2).stdout.strip()
        == "widget.example.com/w1 configured"
    )
    obj = json.loads(kube.kubectl("get", "wd", "w1", "-n", ns, "-o", "json").stdout)
    assert obj["spec"] == {"size": 4, "tags": ["a"], "color": "red"}  # defaulted
    assert obj["metadata"]["generation"] == 2
    kube.kubectl(
        "patch",
        "wd",
        "w1",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"state":"Ready"}}',
    )
    table = kube.kubectl("get", "widgets", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "STATE", "AGE"]
    assert table[1].split()[:3] == ["w1", "4", "Ready"]
    for _ in range(2):
        out = kube.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=w2).stdout
        assert out.strip() == "widget.example.com/w1 serverside-applied"
    assert (
        kube.kubectl("get", "wd", "w1", "-n", ns, "-o", "jsonpath={.metadata.generation}").stdout
        == "2"
    )


def test_wait_for_jsonpath_and_condition(kube: KubeServer, ns: str, widget_crd: str) -> None:
    w = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: waiter}\nspec: {size: 1}\n"
    kube.kubectl("apply", "-n", ns, "-f", "-", input=w)
    status = {
        "status": {
            "common": {"State": {"approval": "ACCEPTED"}},
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    }
    kube.kubectl(
        "patch",
        "wd",
        "waiter",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    out = kube.kubectl(
        "wait",
        "-n",
        ns,
        "wd/waiter",
        "--for=jsonpath={.status.common.State.approval}=ACCEPTED",
        "--timeout=10s",
    ).stdout
    assert "condition met" in out
    out = kube.kubectl(
        "wait", "-n", ns, "wd/waiter", "--for=condition=Ready", "--timeout=10s"
    ).stdout
    assert "condition met" in out


def test_explain_custom_resource(kube: KubeServer, widget_crd: str) -> None:
    out = kube.kubectl("explain", "widget.spec").stdout
    assert "KIND:       Widget" in out and "What the widget should be." in out
    assert "size\t<integer> -required-" in out


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            "spec: {size: 0}",
            "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1",
        ),
        ("spec: {color: red}", 'The Widget "bad" is invalid: spec.size: Required value'),
        (
            "spec: {size: 1, color: pink}",
            'spec.color: Unsupported value: "pink": supported values: "red", "blue"',
        ),
        ("spec: {size: 1, bogus: 2}", 'strict decoding error: unknown field "spec.bogus"'),
    ],
)
def test_invalid_custom_resources_are_rejected(
    kube: KubeServer, ns: str, widget_crd: str, manifest: str, message: str
) -> None:
    w = f"apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: bad}}\n{manifest}\n"
    proc = kube.kubectl("apply", "-n", ns, "-f", "-", input=w, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_unknown_field_warns_with_validate_warn(kube: KubeServer, ns: str, widget_crd: str) -> None:
    w = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: warned}\nspec: {size: 1, bogus: 2}\n"
    proc = kube.kubectl("apply", "--validate=warn", "-n", ns, "-f", "-", input=w)
    assert 'Warning: unknown field "spec.bogus"' in proc.stderr
    spec = json.loads(
        kube.kubectl("get", "wd", "warned", "-n", ns, "-o", "jsonpath={.spec}").stdout
    )
    assert spec == {"size": 1, "color": "red"}


def test_missing_namespace_and_bad_token(kube: KubeServer) -> None:
    proc = kube.kubectl("apply", "-n", "does-not-exist", "-f", "-", input=CM, check=False)
    assert 'namespaces "does-not-exist" not found' in proc.stderr
    proc = kube.kubectl("--token", "wrong", "get", "cm", check=False)
    assert "Unauthorized" in proc.stderr


def test_replace_with_stale_resource_version_conflicts(kube: KubeServer, ns: str) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input=CM)
    obj = json.loads(kube.kubectl("get", "cm", "demo", "-n", ns, "-o", "json").stdout)
    kube.kubectl("label", "cm", "demo", "-n", ns, "extra=1")
    obj["data"]["a"] = "3"
    proc = kube.kubectl("replace", "-f", "-", input=json.dumps(obj), check=False)
    assert proc.returncode != 0
    assert (
        'Operation cannot be fulfilled on configmaps "demo": the object has been modified; '
        "please apply your changes to the latest version and try again"
    ) in proc.stderr


def test_strategic_merge_apply_of_service_ports(kube: KubeServer, ns: str) -> None:
    svc = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: https, port: 443, targetPort: 8443}
"""
    kube.kubectl("apply", "-n", ns, "-f", "-", input=svc)
    only_https = svc.replace("  - {name: http, port: 80, targetPort: 8080}\n", "")
    assert "configured" in kube.kubectl("apply", "-n", ns, "-f", "-", input=only_https).stdout
    ports = json.loads(kube.kubectl("get", "svc", "web", "-n", ns, "-o", "json").stdout)["spec"][
        "ports"
    ]
    assert [(p["port"], p["targetPort"]) for p in ports] == [(443, 8443)]
    assert "unchanged" in kube.kubectl("apply", "-n", ns, "-f", "-", input=only_https).stdout
    header = kube.kubectl("get", "svc", "-n", ns).stdout.splitlines()[0].split()
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]


def test_everyday_commands(kube: KubeServer, ns: str, widget_crd: str) -> None:
    kube.kubectl("wait", "--for", "condition=established", f"crd/{widget_crd}", "--timeout=5s")
    resources = kube.kubectl("api-resources").stdout
    assert "widgets" in resources and "crd,crds" in resources
    assert "example.com/v1" in kube.kubectl("api-versions").stdout.split()
    assert "Server Version: v1.32.4" in kube.kubectl("version").stdout
    assert kube.kubectl("get", "--raw", "/healthz").stdout == "ok"
    w = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: every}\nspec: {size: 2}\n"
    kube.kubectl("create", "-n", ns, "-f", "-", input=w)
    kube.kubectl("label", "-n", ns, "wd", "every", "team=a")
    kube.kubectl("annotate", "-n", ns, "wd", "every", "note=x")
    meta = json.loads(kube.kubectl("get", "-n", ns, "wd", "every", "-o", "json").stdout)["metadata"]
    assert meta["labels"] == {"team": "a"} and meta["annotations"] == {"note": "x"}
    kube.kubectl("create", "configmap", "cm", "-n", ns, "--from-literal=x=1")
    kube.kubectl("patch", "cm", "cm", "-n", ns, "-p", '{"data":{"y":"2"}}')
    kube.kubectl(
        "patch", "cm", "cm", "-n", ns, "--type=json", "-p", '[{"op":"remove","path":"/data/x"}]'
    )
    assert kube.kubectl("get", "cm", "cm", "-n", ns, "-o", "jsonpath={.data}").stdout == '{"y":"2"}'
    # diff: dry-run server-side, exit code 0 when nothing would change, 1 when something would
    kube.kubectl("apply", "-n", ns, "-f", "-", input=w.replace("every", "diffed"))
    assert (
        kube.kubectl(
            "diff", "-n", ns, "-f", "-", input=w.replace("every", "diffed"), check=False
        ).returncode
        == 0
    )
    proc = kube.kubectl(
        "diff",
        "-n",
        ns,
        "-f",
        "-",
        input=w.replace("every", "diffed").replace("size: 2", "size: 3"),
        check=False,
    )
    assert proc.returncode == 1 and "+  size: 3" in proc.stdout
    assert (
        kube.kubectl("get", "-n", ns, "wd", "diffed", "-o", "jsonpath={.spec.size}").stdout == "2"
    )
    kube.kubectl("delete", "-n", ns, "-f", "-", input=w)
    kube.kubectl("wait", "-n", ns, "--for=delete", "wd/every", "--timeout=5s")


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: petstore, labels: {app: petstore}}
spec:
  selector: {matchLabels: {app: petstore}}
  replicas: 1
  template:
    metadata: {labels: {app: petstore}}
    spec:
      containers:
      - name: petstore
        image: openapitools/openapi-petstore
        ports: [{containerPort: 8080}]
"""


def test_deployment_rollout_status(kube: KubeServer, ns: str) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input=DEPLOYMENT)
    assert "unchanged" in kube.kubectl("apply", "-n", ns, "-f", "-", input=DEPLOYMENT).stdout
    out = kube.kubectl(
        "-n", ns, "rollout", "status", "deployment", "petstore", "--timeout=10s"
    ).stdout
    assert 'deployment "petstore" successfully rolled out' in out
    kube.kubectl(
        "apply", "-n", ns, "-f", "-", input=DEPLOYMENT.replace("replicas: 1", "replicas: 2")
    )
    kube.kubectl("-n", ns, "rollout", "status", "deploy/petstore", "--timeout=10s")
    row = kube.kubectl("get", "deploy", "-n", ns).stdout.splitlines()[1].split()
    assert row[:4] == ["petstore", "2/2", "2", "2"]


def test_get_watch_prints_rows(kube: KubeServer, ns: str) -> None:
    import subprocess
    import threading

    from .kubeharness import KUBECTL

    assert KUBECTL is not None
    proc = subprocess.Popen(
        [KUBECTL, "get", "cm", "-n", ns, "-w", "--request-timeout=10s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kube.env(),
    )
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("watched"):
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        kube.kubectl("create", "cm", "watched", "-n", ns, "--from-literal=a=b")
        assert seen.wait(10), lines
    finally:
        proc.terminate()
        proc.communicate(timeout=5)
        reader.join(timeout=5)
    assert lines[0].split() == ["NAME", "DATA", "AGE"]
    assert any(line.split()[:2] == ["watched", "1"] for line in lines[1:])


def test_server_side_apply_service_ports_merge_by_key(kube: KubeServer, ns: str) -> None:
    svc = """
apiVersion: v1
kind: Service
metadata: {name: gw}
spec:
  type: NodePort
  selector: {app: gw}
  ports:
  - {name: http, port: 80, targetPort: 8080}
"""
    kube.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=svc)
    first = json.loads(kube.kubectl("get", "svc", "gw", "-n", ns, "-o", "json").stdout)
    kube.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=svc)
    second = json.loads(kube.kubectl("get", "svc", "gw", "-n", ns, "-o", "json").stdout)
    assert len(second["spec"]["ports"]) == 1
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    node_port = kube.kubectl(
        "get", "svc", "gw", "-n", ns, "-o", 'jsonpath={.spec.ports[?(@.name=="http")].nodePort}'
    ).stdout
    assert 30000 <= int(node_port) <= 32767


def test_server_side_apply_rejects_undeclared_fields(
    kube: KubeServer, ns: str, widget_crd: str
) -> None:
    w = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: ssa-bad}\nspec: {size: 1, bogus: 2}\n"
    proc = kube.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=w, check=False)
    assert proc.returncode != 0
    assert (
        f"failed to create typed patch object ({ns}/ssa-bad; example.com/v1, Kind=Widget): .spec.bogus: field not declared in schema"
        in proc.stderr
    )


def test_cluster_looking_commands(kube: KubeServer) -> None:
    nodes = kube.kubectl("get", "nodes").stdout.splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[1].split()[1:3] == ["Ready", "control-plane"]
    assert kube.kubectl("auth", "can-i", "create", "extauthpolicies").stdout.strip() == "yes"
    assert "sandbox-admin" in kube.kubectl("auth", "whoami").stdout
    assert "*.*" in kube.kubectl("auth", "can-i", "--list").stdout
    svc = kube.kubectl(
        "get", "svc", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    assert svc == "10.96.0.1"
    assert (
        kube.kubectl("get", "sa", "default", "-n", "default", "-o", "name").stdout.strip()
        == "serviceaccount/default"
    )


def test_pods_run_at_once(kube: KubeServer, ns: str) -> None:
    kube.kubectl("run", "web", "-n", ns, "--image=nginx", "--labels=app=web")
    assert (
        "condition met"
        in kube.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/web", "--timeout=5s").stdout
    )
    row = kube.kubectl("get", "pods", "-n", ns, "-l", "app=web").stdout.splitlines()[1].split()
    assert row[:3] == ["web", "1/1", "Running"]
    assert kube.kubectl("logs", "-n", ns, "web").returncode == 0
    kube.kubectl("delete", "pod", "web", "-n", ns)


def test_scale_subresource(kube: KubeServer, ns: str, widget_crd: str) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input=DEPLOYMENT)
    assert "scaled" in kube.kubectl("scale", "-n", ns, "deploy/petstore", "--replicas=3").stdout
    assert (
        kube.kubectl(
            "get", "-n", ns, "deploy/petstore", "-o", "jsonpath={.status.readyReplicas}"
        ).stdout
        == "3"
    )
    w = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: scaled}\nspec: {size: 1}\n"
    kube.kubectl("apply", "-n", ns, "-f", "-", input=w)
    kube.kubectl("scale", "-n", ns, "wd/scaled", "--replicas=5")
    assert kube.kubectl("get", "-n", ns, "wd/scaled", "-o", "jsonpath={.spec.size}").stdout == "5"


def test_endpoints_follow_pods(kube: KubeServer, ns: str) -> None:
    kube.kubectl("run", "web", "-n", ns, "--image=nginx", "--labels=app=web", "--port=80")
    kube.kubectl("expose", "pod", "web", "-n", ns, "--port=8080", "--target-port=80")
    ip = kube.kubectl("get", "pod", "web", "-n", ns, "-o", "jsonpath={.status.podIP}").stdout
    row = kube.kubectl("get", "endpoints", "web", "-n", ns).stdout.splitlines()[1].split()
    assert row[:2] == ["web", f"{ip}:80"]
    assert (
        f"Endpoints:                {ip}:80"
        in kube.kubectl("describe", "svc", "web", "-n", ns).stdout
    )
    slices = json.loads(
        kube.kubectl(
            "get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web", "-o", "json"
        ).stdout
    )
    assert [e["addresses"] for e in slices["items"][0]["endpoints"]] == [[ip]]
    proc = kube.kubectl("delete", "endpoints", "web", "-n", ns, check=False)
    assert "MethodNotAllowed" in proc.stderr
    kube.kubectl("delete", "pod", "web", "-n", ns)
    assert (
        kube.kubectl("get", "endpoints", "web", "-n", ns).stdout.splitlines()[1].split()[1]
        == "<none>"
    )
