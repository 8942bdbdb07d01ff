"""A stage meets a Kubernetes object someone else made: it is left unchanged and the row names
it; adopted on request (prior state in the 0600 ledger), and teardown puts it back."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import yaml
from oktalab_support import ROOT, kubectl

from oktalab import gloo
from oktalab.params import ExtAuthParams

PARAMS = ROOT / "parameters" / "sandbox.yaml"
NS = "gloo-mesh-addons"


def _live(env: dict[str, str], name: str) -> dict:
    got = kubectl(
        env, "get", "extauthpolicy", name, "-n", NS, "-o", "json", "--show-managed-fields"
    )
    assert got.returncode == 0, got.stderr
    return json.loads(got.stdout)


def test_foreign_policy_left_alone_then_adopted_and_restored(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    from oktalab import load_parameters, run_stage

    name = "foreign-policy"
    theirs = gloo.ext_auth_policy(
        ExtAuthParams.model_validate({"policy_name": name, "route_labels": {"team": "theirs"}}),
        cluster="cluster1",
        jwks={"keys": []},
    )
    made = kubectl(sandbox_env, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(theirs))
    assert made.returncode == 0, made.stderr
    before = _live(sandbox_env, name)

    overrides = {
        "name": "ownership-test",
        "extauth": {
            "policy_name": name,
            "server_name": "ownership-test-server",
            "route_labels": {"ownership-test": "true"},
            "wait_seconds": 5,
        },
    }
    ps = load_parameters(PARAMS, overrides)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = run_stage("extauth", ps, run_dir=run_dir, raise_on_failure=False)
    rows = {(r.kind, r.step): r for r in result.rows}
    server = rows[("ExtAuthServer", "apply")]
    assert server.action == "created" and server.status == "ok"
    row = rows[("ExtAuthPolicy", "apply")]
    assert row.status == "failed" and row.action == "unchanged"
    assert f"{NS}/{name}" in row.name
    assert "kubectl (Apply)" in row.detail and "no oktalab labels" in row.detail
    assert ".spec.applyToRoutes" in row.detail
    assert f"--adopt ExtAuthPolicy/{NS}/{name}" in row.detail
    after = _live(sandbox_env, name)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    # adopted on request
    ps = load_parameters(PARAMS, {**overrides, "adopt": [f"ExtAuthPolicy/{NS}/{name}"]})
    result = run_stage("extauth", ps, run_dir=run_dir, raise_on_failure=False)
    row = next(r for r in result.rows if r.kind == "ExtAuthPolicy" and r.step == "apply")
    assert row.action == "adopted" and row.status == "ok", row
    live = _live(sandbox_env, name)
    assert live["metadata"]["labels"]["oktalab.io/parameter-set"] == "ownership-test"
    ledger = Path(sandbox_env["OKTALAB_HOME"]) / "ledger" / "ownership-test.json"
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o600
    entries = [e for e in json.loads(ledger.read_text()) if e["kind"] == "kube_adopted"]
    assert [e["key"] for e in entries] == [f"ExtAuthPolicy/{NS}/{name}"]

    # teardown restores it (and deletes what the set created)
    td = run_stage("teardown", ps, run_dir=run_dir, raise_on_failure=False)
    actions = {(r.kind, r.action) for r in td.rows}
    assert ("ExtAuthPolicy", "restored") in actions
    assert ("ExtAuthServer", "deleted") in actions
    back = _live(sandbox_env, name)
    assert back["spec"] == before["spec"]
    assert back["metadata"].get("labels") == before["metadata"].get("labels")
    assert [m["manager"] for m in back["metadata"]["managedFields"]] == ["kubectl"]
    assert not [e for e in json.loads(ledger.read_text()) if e["kind"] == "kube_adopted"]
    kubectl(sandbox_env, "delete", "extauthpolicy", name, "-n", NS)


def test_a_run_discovers_the_cluster_once_and_an_owned_unchanged_object_is_not_written(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    """Counted by the sandbox: a second client sharing the discovery file sends no discovery
    request; applying an owned object that is already as wanted sends a dry run, no write."""
    import httpx

    from oktalab.kube import Kube

    admin = {"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"}

    def counts() -> tuple[int, int]:
        base = sandbox["OKTA_ORG_URL"]
        reads = httpx.get(base + "/__sandbox/reads", headers=admin).json().get("kube", 0)
        writes = httpx.get(base + "/__sandbox/writes", headers=admin).json()
        return reads, writes.get("kube", {}).get("writes", 0)

    cache = tmp_path / ".kube-discovery.json"
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "discovery-once", "namespace": "default"},
        "data": {"k": "v"},
    }
    with Kube(sandbox["KUBECONFIG"], discovery_cache=cache) as first:
        assert first.ensure(manifest, "discovery-set")[0] == "created"
    assert json.loads(cache.read_text())["documents"]
    r0, w0 = counts()
    with Kube(sandbox["KUBECONFIG"], discovery_cache=cache) as second:
        action, live = second.ensure(manifest, "discovery-set")
        assert action == "unchanged" and live["data"] == {"k": "v"}
        # the status read after an unchanged apply is the read the apply made
        assert second.get("ConfigMap", "discovery-once", "default") is not None
        r1, w1 = counts()
        assert (r1 - r0, w1 - w0) == (2, 0), "one GET and one dry run; no discovery, no write"
        second.delete("ConfigMap", "discovery-once", "default")
    # another server's documents are not used
    cache.write_text(json.dumps({"server": "https://elsewhere:6443", "documents": []}))
    with Kube(sandbox["KUBECONFIG"], discovery_cache=cache) as third:
        assert third.kind("ConfigMap").plural == "configmaps"
    assert json.loads(cache.read_text())["server"] != "https://elsewhere:6443"
