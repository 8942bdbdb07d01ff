"""oktalab's Kubernetes client against the sandbox API server: server-side apply per kind,
ownership of existing objects, dry runs and kinds found by discovery.

Every kind oktalab writes is built by the same builders the stages use (``oktalab.gloo``).
Other field managers and foreign owners are played by the real ``kubectl``.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from oktalab import gloo
from oktalab.errors import KubeAPIError
from oktalab.kube import (
    ApplyConflict,
    KindNotServed,
    Kube,
    NotOwnedError,
    owned_by,
)
from oktalab.params import ExtAuthParams, PortalParams
from oktalab.sandbox.gloo import seed_cluster

from .conftest import serve
from .kubeharness import KubeServer

Obj = dict[str, Any]
SET = "ssa-test"
ORIGIN = "http://portal.example.com:32000"


@pytest.fixture(scope="module")
def gloo_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServer]:
    """A private API server with the Gloo CRDs and the guide's starting objects."""
    with serve(tmp_path_factory.mktemp("kube-ssa")) as server:
        seed_cluster(server.store)
        yield server


@pytest.fixture
def ns(gloo_kube: KubeServer) -> str:
    """A fresh namespace on this module's server (it overrides the package fixture)."""
    name = "t-" + uuid.uuid4().hex[:8]
    with gloo_kube.http() as http:
        r = http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
        assert r.status_code == 201, r.text
    return name


@pytest.fixture
def client(gloo_kube: KubeServer) -> Iterator[Kube]:
    with Kube(str(gloo_kube.kubeconfig)) as k:
        yield k


def _portal_params(ns: str) -> PortalParams:
    return PortalParams.model_validate({"namespace": ns})


def _drop(path: str) -> Callable[[Obj], None]:
    def drop(obj: Obj) -> None:
        *parents, last = path.split(".")
        node = obj
        for p in parents:
            node = node[p]
        del node[last]

    return drop


# kind -> (build(ns, n), a setting that can be removed, a misspelt field to add)
KINDS: dict[str, tuple[Callable[[str], Obj], str, str]] = {
    "Secret": (
        lambda ns: {**gloo.client_secret_secret(_portal_params(ns), "s3cr3t-value")},
        "type",
        "stringdate",
    ),
    "ExtAuthServer": (
        lambda ns: gloo.ext_auth_server(
            ExtAuthParams.model_validate(
                {
                    "namespace": ns,
                    "service": {"name": "ext-auth-service", "namespace": "gloo-mesh-addons"},
                }
            ),
            cluster="cluster1",
        ),
        "spec.destinationServer.ref.cluster",
        "spec.destinationServr",
    ),
    "ExtAuthPolicy": (
        lambda ns: gloo.ext_auth_policy(
            ExtAuthParams.model_validate({"namespace": ns}),
            cluster="cluster1",
            jwks={"keys": [{"kid": "k", "kty": "RSA", "use": "sig", "n": "AQAB", "e": "AQAB"}]},
        ),
        "spec.config.server.cluster",
        "spec.applyToRoute",
    ),
    "APIProduct": (
        lambda ns: gloo.api_product(_portal_params(ns)),
        "spec.displayInfo.description",
        "spec.versionz",
    ),
    "Environment": (
        lambda ns: gloo.environment(_portal_params(ns), ORIGIN),
        "spec.displayInfo.description",
        "spec.basepath",
    ),
    "Portal": (
        lambda ns: gloo.portal(
            _portal_params(ns), origin=ORIGIN, client_id="0oa1", issuer="https://o/oauth2/default"
        ),
        "spec.description",
        "spec.displayname",
    ),
    "Group": (
        lambda ns: gloo.portal_group(_portal_params(ns), "developers"),
        "spec.displayName",
        "spec.oidcgroup",
    ),
}


def _has(obj: Obj, path: str) -> bool:
    node: Any = obj
    for p in path.split("."):
        if not isinstance(node, dict) or p not in node:
            return False
        node = node[p]
    return True


def _kubectl_apply(kube: KubeServer, obj: Obj, *extra: str) -> None:
    kube.kubectl("apply", "--server-side", *extra, "-f", "-", input=yaml.safe_dump(obj))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_by_server_side_apply(
    kind: str, client: Kube, gloo_kube: KubeServer, ns: str
) -> None:
    build, removable, misspelt = KINDS[kind]
    manifest = build(ns)
    name = manifest["metadata"]["name"]

    # created, carrying the ownership labels, field manager oktalab
    first = client.apply_owned(manifest, SET)
    assert first.action == "created"
    assert owned_by(first.live, SET)
    assert [e["manager"] for e in first.live["metadata"]["managedFields"]] == ["oktalab"]

    # re-applied: unchanged, and the server stored nothing (its resourceVersion counter did not move)
    rv = gloo_kube.store.current_rv()
    again = client.apply_owned(manifest, SET)
    assert again.action == "unchanged"
    assert gloo_kube.store.current_rv() == rv

    # a setting dropped from the manifest is removed from the object
    assert _has(again.live, removable)
    smaller = copy.deepcopy(manifest)
    _drop(removable)(smaller)
    if kind == "Secret":  # type is defaulted by the server; drop a data key instead
        bigger = copy.deepcopy(manifest)
        bigger["data"]["extra"] = base64.b64encode(b"x").decode()
        assert client.apply_owned(bigger, SET).action == "updated"
        smaller, removable = manifest, "data.extra"
    res = client.apply_owned(smaller, SET)
    assert res.action == "updated"
    assert not _has(res.live, removable), removable

    # a misspelt field is refused with its path, and nothing is stored
    rv = gloo_kube.store.current_rv()
    bad = copy.deepcopy(smaller)
    node = bad
    *parents, last = misspelt.split(".")
    for p in parents:
        node = node[p]
    node[last] = "x"
    with pytest.raises(KubeAPIError) as err:
        client.apply_owned(bad, SET)
    assert err.value.status == 400
    assert "." + misspelt in str(err.value)
    assert gloo_kube.store.current_rv() == rv

    # a field another manager took is a conflict naming that manager; nothing changes
    theirs = copy.deepcopy(smaller)
    theirs["metadata"] = {"name": name, "namespace": ns, "labels": {"team": "other"}}
    for key in [k for k in theirs if k not in ("apiVersion", "kind", "metadata")]:
        del theirs[key]
    if kind == "Secret":
        theirs["data"] = {gloo_key(smaller): base64.b64encode(b"other").decode()}
    else:
        theirs["spec"] = _one_leaf_changed(smaller["spec"])
    _kubectl_apply(gloo_kube, theirs, "--field-manager=someone-else", "--force-conflicts")
    rv = gloo_kube.store.current_rv()
    with pytest.raises(ApplyConflict) as conflict:
        client.apply_owned(smaller, SET)
    assert conflict.value.managers == ["someone-else"]
    assert conflict.value.fields
    assert gloo_kube.store.current_rv() == rv
    if kind == "Secret":
        assert "other" not in str(conflict.value) and "s3cr3t" not in str(conflict.value)

    # forcing is explicit
    forced = client.apply_owned(smaller, SET, force=True)
    assert forced.action == "updated"


def gloo_key(secret: Obj) -> str:
    return next(iter(secret["data"]))


def _one_leaf_changed(spec: Obj) -> Obj:
    """A copy of the first scalar leaf of ``spec`` (and its parents only), with another value."""
    for key, value in spec.items():
        if isinstance(value, str):
            return {key: value + "-other"}
        if isinstance(value, dict) and value:
            inner = _one_leaf_changed(value)
            if inner:
                return {key: inner}
    return {}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_foreign_object_is_left_unchanged_and_named(
    kind: str, client: Kube, gloo_kube: KubeServer, ns: str, tmp_path: Path
) -> None:
    build, removable, _ = KINDS[kind]
    manifest = build(ns)
    name = manifest["metadata"]["name"]
    foreign = copy.deepcopy(manifest)
    if kind == "Secret":
        foreign["data"] = {gloo_key(manifest): base64.b64encode(b"their-secret").decode()}
    else:
        _drop(removable)(foreign)
        foreign["spec"] = {**foreign["spec"], **_one_leaf_changed(foreign["spec"])}
    _kubectl_apply(gloo_kube, foreign)
    before = client.get(kind, name, ns)
    assert before is not None

    rv = gloo_kube.store.current_rv()
    with pytest.raises(NotOwnedError) as err:
        client.apply_owned(manifest, SET)
    assert gloo_kube.store.current_rv() == rv  # the dry run stored nothing
    text = str(err.value)
    assert f"{ns}/{name}" in text and kind in text
    assert "kubectl (Apply)" in text and "no oktalab labels" in text
    assert err.value.fields
    assert "their-secret" not in text and "s3cr3t" not in text
    assert client.get(kind, name, ns) == before

    # adoption is explicit: recorded prior state, then ours; restore puts it back
    recorded: list[Obj] = []
    adopted = client.apply_owned(manifest, SET, adopt=True, on_adopt=recorded.append)
    assert adopted.action == "adopted" and owned_by(adopted.live, SET)
    assert (
        recorded
        and recorded[0]["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    )
    from oktalab.stages.kubeobjects import prior_state

    restored = client.restore(
        {**prior_state(recorded[0]), "apiVersion": manifest["apiVersion"], "kind": kind}
    )
    assert restored is not None and not owned_by(restored, SET)
    strip = ("resourceVersion", "managedFields", "generation")
    for obj in (restored, before):
        for k in strip:
            obj["metadata"].pop(k, None)
        obj.pop("status", None)
    assert {k: v for k, v in restored.items() if k != "metadata"} == {
        k: v for k, v in before.items() if k != "metadata"
    }
    assert restored["metadata"].get("labels") == before["metadata"].get("labels")


def test_a_secret_value_never_appears_in_an_error(client: Kube, ns: str) -> None:
    bad = gloo.client_secret_secret(_portal_params(ns), "x")
    bad["data"] = {"client_secret": "s3cr3t-not-base64!"}
    with pytest.raises(KubeAPIError) as err:
        client.apply_owned(bad, SET)
    assert err.value.status == 400 and "illegal base64 data at input byte" in str(err.value)
    assert "s3cr3t" not in str(err.value)


def test_dry_run_stores_nothing(client: Kube, gloo_kube: KubeServer, ns: str) -> None:
    manifest = KINDS["Portal"][0](ns)
    rv = gloo_kube.store.current_rv()
    res = client.apply(manifest, dry_run=True)
    assert res.action == "created" and res.dry_run
    assert client.get("Portal", manifest["metadata"]["name"], ns) is None
    client.apply(manifest)
    changed = copy.deepcopy(manifest)
    changed["spec"]["displayName"] = "Another"
    rv = gloo_kube.store.current_rv()
    res = client.apply(changed, dry_run=True)
    assert res.action == "updated" and res.changed == (".spec.displayName",)
    assert gloo_kube.store.current_rv() == rv
    assert (
        client.get("Portal", manifest["metadata"]["name"], ns)["spec"]["displayName"] != "Another"
    )


def test_kinds_by_discovery(client: Kube, gloo_kube: KubeServer) -> None:
    assert client.kind("ac").plural == "authconfigs"
    assert client.kind("eas").kind == "ExtAuthServer"
    assert client.kind("AuthConfig").group in ("enterprise.gloo.solo.io", "extauth.solo.io")
    assert client.kind("Secret").path("default", "x") == "/api/v1/namespaces/default/secrets/x"
    assert client.kind("Portal").group == "portal.gloo.solo.io"


def test_a_missing_kind_names_the_gloo_component(tmp_path: Path) -> None:
    with serve(tmp_path) as bare, Kube(str(bare.kubeconfig)) as k:
        with pytest.raises(KindNotServed) as err:
            k.apply(gloo.portal_group(_portal_params("default"), "developers"))
        assert "Gloo Portal 1.x" in str(err.value) and "Group" in str(err.value)
        with pytest.raises(KindNotServed) as err2:
            k.list_all("AuthConfig") or k.kind("AuthConfig")
        assert "AuthConfig" in str(err2.value)


def test_requests_are_real_server_side_apply(client: Kube, gloo_kube: KubeServer, ns: str) -> None:
    """The object written by oktalab reads back through kubectl with oktalab as Apply manager."""
    manifest = KINDS["ExtAuthServer"][0](ns)
    client.apply_owned(manifest, SET)
    out = gloo_kube.kubectl(
        "get",
        "extauthserver",
        manifest["metadata"]["name"],
        "-n",
        ns,
        "-o",
        "json",
        "--show-managed-fields",
    )
    fields = json.loads(out.stdout)["metadata"]["managedFields"]
    assert [(f["manager"], f["operation"]) for f in fields] == [("oktalab", "Apply")]
