"""A stage meets a Kubernetes object someone else made: it is left unchanged and the row names
it; adopted on request (prior state in the 0600 ledger), and teardown puts it back."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
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


# Guide 1's portal objects (stage portal_groups): a foreign one of each kind the stage writes.
# (kind in rows, kubectl resource, namespace, how "theirs" differs, the field the row names)
PORTAL_KINDS = {
    "api-product": ("RouteTable", "routetables.networking.gloo.solo.io", "bookinfo"),
    "frontend-config": ("ConfigMap", "configmaps", "gloo-mesh"),
    "portal": ("Portal", "portals.apimanagement.gloo.solo.io", "gloo-mesh"),
    "portal-group": ("PortalGroup", "portalgroups.apimanagement.gloo.solo.io", "gloo-mesh"),
}


def _portal_params(slug: str, tmp_path: Path, adopt: list[str] | None = None) -> Path:
    data = yaml.safe_load(PARAMS.read_text())
    data["name"] = f"foreign-{slug}"
    data["portal"].update(
        name=f"fp-{slug}",
        route_table=f"fp-{slug}",
        domain=f"fp-{slug}.localhost",
        frontend_config=f"fp-{slug}-config",
        wait_seconds=10,
        verify_browser=False,
        api_products=[
            {"id": f"fp-{slug}", "service": "ratings", "path": f"/fp-{slug}", "restricted": False}
        ],
        groups=[{"name": f"fp-{slug}-group", "claims": {"organization": "oktalab"}}],
    )
    if adopt:
        data["adopt"] = adopt
    path = tmp_path / f"foreign-{slug}{'-adopt' if adopt else ''}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _theirs(slug: str, ps: Any) -> tuple[dict, str]:
    """Someone else's object under the name the parameters use, one field different."""
    p = ps.gateway_portal
    if slug == "api-product":
        obj = gloo.api_product_table(p, p.api_products[0], cluster="cluster1")
        obj["spec"]["portalMetadata"]["apiProductDisplayName"] = "Theirs"
        return obj, ".spec.portalMetadata"
    if slug == "frontend-config":
        obj = gloo.frontend_config(
            p, client_id="their-client", authorize="x", token="x", logout="x"
        )
        return obj, ".data"
    if slug == "portal":
        obj = gloo.platform_portal(p, origin=f"http://{p.domain}")
        obj["spec"]["domains"] = ["theirs.example"]
        return obj, ".spec.domains"
    obj = gloo.platform_portal_group(p, p.groups[0])
    obj["spec"]["membership"] = [{"claims": [{"key": "organization", "value": "theirs"}]}]
    obj["metadata"].pop("labels")
    return obj, ".spec.membership"


def _get(env: dict[str, str], resource: str, ns: str, name: str) -> dict:
    got = kubectl(env, "get", resource, name, "-n", ns, "-o", "json", "--show-managed-fields")
    assert got.returncode == 0, got.stderr
    return json.loads(got.stdout)


def _unchanged(obj: dict) -> tuple:
    """What a write by oktalab would change: content, labels, generation, the non-status field
    managers (controllers may update a status: the sandbox recounts a Portal's route tables
    when a new API product appears)."""
    meta = obj["metadata"]
    managers = [
        (m["manager"], m["operation"], json.dumps(m.get("fieldsV1"), sort_keys=True))
        for m in meta.get("managedFields") or []
        if m.get("subresource") != "status"
    ]
    content = obj.get("spec", obj.get("data"))
    return content, meta.get("labels"), meta.get("generation"), managers


@pytest.mark.parametrize("slug", list(PORTAL_KINDS))
def test_foreign_portal_object_left_alone_then_adopted_and_restored(
    slug: str, sandbox_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """portal_groups meets a RouteTable (API product), the frontend's ConfigMap, a Portal or a
    PortalGroup it did not make: left unchanged (resourceVersion), the row names it and the
    differing fields; ``adopt:`` takes it over (``adopted``); teardown puts it back."""
    from oktalab import load_parameters, run_stage

    monkeypatch.delenv("OKTALAB_TEST_USERNAME")  # no sign-in: the app below is not real
    kind, resource, ns = PORTAL_KINDS[slug]
    ps = load_parameters(_portal_params(slug, tmp_path))
    theirs, field = _theirs(slug, ps)
    name = theirs["metadata"]["name"]
    made = kubectl(sandbox_env, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(theirs))
    assert made.returncode == 0, made.stderr
    before = _get(sandbox_env, resource, ns, name)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    app = {"id": "0oafake", "client_id": "fake-client", "label": "fake", "type": "browser"}
    (run_dir / "state.json").write_text(json.dumps({"app": app}))

    result = run_stage("portal_groups", ps, run_dir=run_dir, raise_on_failure=False)
    refused = [r for r in result.rows if r.status == "failed"]
    assert len(refused) == 1, [r.as_dict() for r in result.rows]
    row = refused[0]
    assert (row.kind, row.name, row.action) == (kind, f"{ns}/{name}", "unchanged")
    assert "no oktalab labels" in row.detail and "kubectl (Apply)" in row.detail, row.detail
    assert field in row.detail, row.detail
    assert f"--adopt {kind}/{ns}/{name}" in row.detail, row.detail
    assert _unchanged(_get(sandbox_env, resource, ns, name)) == _unchanged(before)

    # adopted on request: changed as the parameters say, the prior state in the ledger
    ps = load_parameters(_portal_params(slug, tmp_path, adopt=[f"{kind}/{ns}/{name}"]))
    result = run_stage("portal_groups", ps, run_dir=run_dir, raise_on_failure=False)
    row = next(r for r in result.rows if r.kind == kind and r.name == f"{ns}/{name}")
    assert (row.action, row.status) == ("adopted", "ok"), row
    live = _get(sandbox_env, resource, ns, name)
    assert live["metadata"]["labels"]["oktalab.io/parameter-set"] == f"foreign-{slug}"
    assert live.get("spec", live.get("data")) != before.get("spec", before.get("data"))

    # teardown restores it and deletes the rest of what the set created
    td = run_stage("teardown", ps, run_dir=run_dir, raise_on_failure=False)
    actions = {(r.kind.split(".")[0], r.name): r.action for r in td.rows}
    assert actions[(kind, f"{ns}/{name}")] == "restored", [r.as_dict() for r in td.rows]
    assert "deleted" in actions.values()
    back = _get(sandbox_env, resource, ns, name)
    assert back.get("spec", back.get("data")) == before.get("spec", before.get("data"))
    assert back["metadata"].get("labels") == before["metadata"].get("labels")
    assert [m["manager"] for m in back["metadata"]["managedFields"]] == ["kubectl"]
    kubectl(sandbox_env, "delete", resource, name, "-n", ns)
