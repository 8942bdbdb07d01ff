"""Wire-level behaviour over raw HTTP: selectors, dry runs, errors, tables, watch edge cases."""

from __future__ import annotations

import json
from pathlib import Path

from .kubeharness import KubeServer

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


def _cm(name: str, labels: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}},
        "data": {"k": name},
    }


def test_label_selectors(kube: KubeServer, ns: str) -> None:
    with kube.http() as http:
        for name, labels in [
            ("a", {"env": "prod", "tier": "web"}),
            ("b", {"env": "dev"}),
            ("c", {}),
        ]:
            assert (
                http.post(f"/api/v1/namespaces/{ns}/configmaps", json=_cm(name, labels)).status_code
                == 201
            )

        def names(selector: str) -> list[str]:
            r = http.get(f"/api/v1/namespaces/{ns}/configmaps", params={"labelSelector": selector})
            assert r.status_code == 200, r.text
            return [i["metadata"]["name"] for i in r.json()["items"]]

        assert names("env=prod") == ["a"]
        assert names("env==dev") == ["b"]
        assert names("env!=prod") == ["b", "c"]
        assert names("env in (prod,dev)") == ["a", "b"]
        assert names("env notin (prod)") == ["b", "c"]
        assert names("tier") == ["a"]
        assert names("!tier") == ["b", "c"]
        assert names("env=prod,tier=web") == ["a"]
        r = http.get(
            f"/api/v1/namespaces/{ns}/configmaps", params={"fieldSelector": "metadata.name=b"}
        )
        assert [i["metadata"]["name"] for i in r.json()["items"]] == ["b"]
        r = http.get(
            "/api/v1/configmaps",
            params={"fieldSelector": f"metadata.namespace={ns}", "labelSelector": "env"},
        )
        assert [i["metadata"]["name"] for i in r.json()["items"]] == ["a", "b"]
        # deletecollection honours the selector
        r = http.request(
            "DELETE", f"/api/v1/namespaces/{ns}/configmaps", params={"labelSelector": "env"}
        )
        assert r.status_code == 200 and len(r.json()["items"]) == 2
        assert names("") == ["c"]


def test_paging_with_limit_and_continue(kube: KubeServer, ns: str) -> None:
    with kube.http() as http:
        for i in range(5):
            http.post(f"/api/v1/namespaces/{ns}/configmaps", json=_cm(f"p{i}"))
        r = http.get(f"/api/v1/namespaces/{ns}/configmaps", params={"limit": 2}).json()
        got = [i["metadata"]["name"] for i in r["items"]]
        while r["metadata"].get("continue"):
            r = http.get(
                f"/api/v1/namespaces/{ns}/configmaps",
                params={"limit": 2, "continue": r["metadata"]["continue"]},
            ).json()
            got += [i["metadata"]["name"] for i in r["items"]]
    assert got == [f"p{i}" for i in range(5)]


def test_events_field_selector_for_describe(kube: KubeServer, ns: str) -> None:
    event = {
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": ns, "uid": "u1"},
        "reason": "Tested",
        "message": "hello",
        "type": "Normal",
    }
    with kube.http() as http:
        assert http.post(f"/api/v1/namespaces/{ns}/events", json=event).status_code == 201
        sel = f"involvedObject.namespace={ns},involvedObject.kind=ConfigMap,involvedObject.uid=u1,involvedObject.name=x"
        r = http.get(f"/api/v1/namespaces/{ns}/events", params={"fieldSelector": sel, "limit": 500})
        assert [e["reason"] for e in r.json()["items"]] == ["Tested"]
        r = http.get(
            f"/api/v1/namespaces/{ns}/events", params={"fieldSelector": "involvedObject.uid=other"}
        )
        assert r.json()["items"] == []
        r = http.get(f"/api/v1/namespaces/{ns}/events", params={"fieldSelector": "spec.bogus=1"})
        assert r.status_code == 400


def test_dry_run_does_not_persist(kube: KubeServer, ns: str) -> None:
    with kube.http() as http:
        r = http.post(
            f"/api/v1/namespaces/{ns}/configmaps", params={"dryRun": "All"}, json=_cm("dry")
        )
        assert r.status_code == 201 and r.json()["metadata"]["name"] == "dry"
        assert http.get(f"/api/v1/namespaces/{ns}/configmaps/dry").status_code == 404
        http.post(f"/api/v1/namespaces/{ns}/configmaps", json=_cm("real"))
        r = http.patch(
            f"/api/v1/namespaces/{ns}/configmaps/real",
            params={"dryRun": "All"},
            content=json.dumps({"data": {"k": "changed"}}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.json()["data"] == {"k": "changed"}
        assert http.get(f"/api/v1/namespaces/{ns}/configmaps/real").json()["data"] == {"k": "real"}
        r = http.request(
            "DELETE", f"/api/v1/namespaces/{ns}/configmaps/real", params={"dryRun": "All"}
        )
        assert r.status_code == 200
        assert http.get(f"/api/v1/namespaces/{ns}/configmaps/real").status_code == 200


def test_error_statuses(kube: KubeServer, ns: str, widget_crd: str) -> None:
    with kube.http() as http:
        http.post(
            f"/apis/example.com/v1/namespaces/{ns}/widgets",
            json={
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"size": 1},
            },
        )
        r = http.patch(
            f"/apis/example.com/v1/namespaces/{ns}/widgets/w",
            content="{}",
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
        assert r.json()["message"] == (
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        )
        r = http.post(
            f"/api/v1/namespaces/{ns}/configmaps",
            json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}},
        )
        assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
        r = http.put("/version", json={})
        assert r.status_code == 405 and r.json()["reason"] == "MethodNotAllowed"
        r = http.post(
            f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": "Bad_Name"}}
        )
        assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "metadata.name"
        r = http.get(f"/api/v1/namespaces/{ns}/configmaps/none")
        assert r.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": 'configmaps "none" not found',
            "reason": "NotFound",
            "details": {"name": "none", "kind": "configmaps"},
            "code": 404,
        }
        r = http.patch(
            f"/api/v1/namespaces/{ns}/configmaps/new",
            content=json.dumps(_cm("new")),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert r.status_code == 422 and "fieldManager: Required value" in r.json()["message"]
        r = http.post("/api/v1/namespaces/missing-ns/configmaps", json=_cm("x"))
        assert r.status_code == 404 and r.json()["message"] == 'namespaces "missing-ns" not found'


def test_warning_header_for_unknown_fields(kube: KubeServer, ns: str) -> None:
    with kube.http() as http:
        body = _cm("warn") | {"bogus": 1}
        r = http.post(
            f"/api/v1/namespaces/{ns}/configmaps", params={"fieldValidation": "Warn"}, json=body
        )
        assert r.status_code == 201 and r.headers["warning"] == '299 - "unknown field \\"bogus\\""'
        assert "bogus" not in r.json()
        r = http.post(
            f"/api/v1/namespaces/{ns}/configmaps",
            params={"fieldValidation": "Strict"},
            json=body | {"metadata": {"name": "w2"}},
        )
        assert (
            r.status_code == 400
            and r.json()["message"]
            == 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus"'
        )


def test_generate_name(kube: KubeServer, ns: str) -> None:
    with kube.http() as http:
        r = http.post(
            f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"generateName": "gen-"}}
        )
        assert r.status_code == 201 and r.json()["metadata"]["name"].startswith("gen-")


def test_tables_for_list_and_get(kube: KubeServer, ns: str, widget_crd: str) -> None:
    with kube.http() as http:
        http.post(
            f"/apis/example.com/v1/namespaces/{ns}/widgets",
            json={
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "t"},
                "spec": {"size": 7},
            },
        )
        t = http.get(
            f"/apis/example.com/v1/namespaces/{ns}/widgets", headers={"Accept": TABLE}
        ).json()
        assert t["kind"] == "Table"
        assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Size", "State", "Age"]
        assert t["rows"][0]["cells"][:3] == ["t", 7, None]
        assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
        t = http.get(
            f"/apis/example.com/v1/namespaces/{ns}/widgets/t",
            headers={"Accept": TABLE},
            params={"includeObject": "Object"},
        ).json()
        assert t["rows"][0]["object"]["spec"]["size"] == 7
        t = http.get("/api/v1/namespaces", headers={"Accept": TABLE}).json()
        assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Status", "Age"]


def test_deleting_a_namespace_deletes_its_objects(kube: KubeServer, widget_crd: str) -> None:
    with kube.http() as http:
        http.post("/api/v1/namespaces", json={"metadata": {"name": "doomed"}})
        http.post("/api/v1/namespaces/doomed/configmaps", json=_cm("x"))
        http.post(
            "/apis/example.com/v1/namespaces/doomed/widgets",
            json={
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"size": 1},
            },
        )
        r = http.delete("/api/v1/namespaces/doomed")
        assert r.status_code == 200 and r.json()["status"]["phase"] == "Terminating"
        assert http.get("/api/v1/namespaces/doomed/configmaps/x").status_code == 404
        assert http.get("/apis/example.com/v1/namespaces/doomed/widgets/w").status_code == 404
        assert http.get("/api/v1/namespaces/doomed").status_code == 404


def test_watch_too_old_resource_version_is_410(kube: KubeServer, ns: str) -> None:
    from oktalab.sandbox.kube import store as store_mod

    with kube.http() as http:
        # push the event log past its window
        for i in range(3):
            http.post(f"/api/v1/namespaces/{ns}/configmaps", json=_cm(f"o{i}"))
        oldest = kube.call(
            lambda: kube.store.db.query("SELECT MIN(rv) AS m FROM kube_events")[0]["m"]
        )
        if oldest is None or oldest <= 2:
            kube.call(lambda: kube.store.db.execute("DELETE FROM kube_events WHERE rv <= 5"))
        assert store_mod.EVENT_LOG_KEEP > 0
        with http.stream(
            "GET",
            f"/api/v1/namespaces/{ns}/configmaps",
            params={"watch": "true", "resourceVersion": "1", "timeoutSeconds": 2},
        ) as r:
            lines = [json.loads(line) for line in r.iter_lines() if line]
    assert lines[0]["type"] == "ERROR"
    assert lines[0]["object"]["code"] == 410 and lines[0]["object"]["reason"] == "Expired"
    import base64

    stale = base64.urlsafe_b64encode(json.dumps({"start": 1, "rv": 1}).encode()).decode()
    with kube.http() as http:
        r = http.get(f"/api/v1/namespaces/{ns}/configmaps", params={"limit": 1, "continue": stale})
    assert r.status_code == 410 and r.json()["reason"] == "Expired"


def test_watch_table_and_bookmarks(kube: KubeServer, ns: str) -> None:
    from oktalab.sandbox.kube import watch as watch_mod

    old = watch_mod.BOOKMARK_INTERVAL
    watch_mod.BOOKMARK_INTERVAL = 0.2
    try:
        with kube.http() as http:
            http.post(f"/api/v1/namespaces/{ns}/configmaps", json=_cm("tw"))
            params = {"watch": "true", "timeoutSeconds": 1, "allowWatchBookmarks": "true"}
            with http.stream(
                "GET",
                f"/api/v1/namespaces/{ns}/configmaps",
                params=params,
                headers={"Accept": TABLE},
            ) as r:
                lines = [json.loads(line) for line in r.iter_lines() if line]
    finally:
        watch_mod.BOOKMARK_INTERVAL = old
    assert lines[0]["type"] == "ADDED" and lines[0]["object"]["kind"] == "Table"
    assert lines[0]["object"]["rows"][0]["cells"][0] == "tw"
    assert any(line["type"] == "BOOKMARK" for line in lines[1:])


def test_watch_with_label_selector_sees_objects_enter_and_leave(kube: KubeServer, ns: str) -> None:
    import threading

    base = f"/api/v1/namespaces/{ns}/configmaps"
    with kube.http() as http:
        http.post(base, json=_cm("sel", {"team": "a"}))
        rv = http.get(base).json()["metadata"]["resourceVersion"]

        def relabel() -> None:
            with kube.http() as writer:
                for team in ("b", "a"):
                    writer.patch(
                        f"{base}/sel",
                        content=json.dumps({"metadata": {"labels": {"team": team}}}),
                        headers={"Content-Type": "application/merge-patch+json"},
                    )
                writer.delete(f"{base}/sel")

        t = threading.Thread(target=relabel)
        params = {
            "watch": "true",
            "labelSelector": "team=a",
            "timeoutSeconds": 5,
            "resourceVersion": rv,
        }
        types = []
        with http.stream("GET", base, params=params) as r:
            t.start()
            for line in r.iter_lines():
                if line:
                    types.append(json.loads(line)["type"])
                if len(types) == 3:
                    break
        t.join()
    assert types == ["DELETED", "ADDED", "DELETED"]


def test_close_watches_ends_open_streams_so_shutdown_is_prompt(tmp_path: Path) -> None:
    import threading
    import time

    from .conftest import serve

    with serve(tmp_path) as kube:
        with kube.http() as http:
            done = threading.Event()

            def closer() -> None:
                time.sleep(0.3)
                kube.api.close_watches()
                done.set()

            threading.Thread(target=closer).start()
            started = time.monotonic()
            with http.stream(
                "GET", "/api/v1/namespaces/default/configmaps", params={"watch": "true"}
            ) as r:
                lines = [line for line in r.iter_lines() if line]
            assert done.is_set() and time.monotonic() - started < 5
            assert lines == []


def test_owner_references_cascade_or_orphan(kube: KubeServer, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}"
    with kube.http() as http:
        for policy in ("Background", "Orphan"):
            owner = http.post(f"{base}/configmaps", json=_cm(f"owner-{policy.lower()}")).json()
            ref = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
            child = {
                "metadata": {"name": f"child-{policy.lower()}", "ownerReferences": [ref]},
                "data": {},
            }
            assert http.post(f"{base}/configmaps", json=child).status_code == 201
            r = http.request(
                "DELETE",
                f"{base}/configmaps/{owner['metadata']['name']}",
                json={"propagationPolicy": policy},
            )
            assert r.status_code == 200
            left = http.get(f"{base}/configmaps/child-{policy.lower()}")
            if policy == "Orphan":
                assert left.status_code == 200 and "ownerReferences" not in left.json()["metadata"]
            else:
                assert left.status_code == 404


def test_metadata_and_immutability_rules(kube: KubeServer, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/configmaps"
    with kube.http() as http:
        r = http.post(
            base,
            json={
                "metadata": {"name": "l", "labels": {"bad key!": "x", "ok": "no spaces allowed"}}
            },
        )
        assert r.status_code == 422
        fields = [c["field"] for c in r.json()["details"]["causes"]]
        assert fields == ["metadata.labels", "metadata.labels"]
        assert "name part must consist of alphanumeric characters" in r.json()["message"]
        r = http.post(
            base, json={"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": True}
        )
        assert r.status_code == 201
        r = http.patch(
            f"{base}/frozen",
            content=json.dumps({"data": {"a": "2"}}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert (
            r.status_code == 422
            and "field is immutable when `immutable` is set" in r.json()["message"]
        )
        r = http.patch(
            f"{base}/frozen",
            content=json.dumps({"metadata": {"labels": {"fine": "yes"}}}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.status_code == 200
        secrets = f"/api/v1/namespaces/{ns}/secrets"
        http.post(
            secrets,
            json={"metadata": {"name": "typed"}, "type": "extauth.solo.io/oauth", "data": {}},
        )
        r = http.patch(
            f"{secrets}/typed",
            content=json.dumps({"type": "Opaque"}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "type"


def test_malformed_bodies_get_statuses_not_tracebacks(kube: KubeServer, ns: str) -> None:
    with kube.http() as http:
        r = http.post(
            f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": "m"}, "data": ["a"]}
        )
        assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "data"
        r = http.post(
            f"/api/v1/namespaces/{ns}/services", json={"metadata": {"name": "s"}, "spec": "nope"}
        )
        assert r.status_code == 422
        r = http.post(
            f"/api/v1/namespaces/{ns}/configmaps",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400 and r.json()["kind"] == "Status"
        r = http.post(
            f"/api/v1/namespaces/{ns}/configmaps",
            content=b"x",
            headers={"Content-Type": "text/plain"},
        )
        assert r.status_code == 415


def test_concurrent_optimistic_updates_lose_nothing(kube: KubeServer, ns: str) -> None:
    """Read-modify-write loops from several threads: every increment lands exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    url = f"/api/v1/namespaces/{ns}/configmaps/counter"
    with kube.http() as http:
        http.post(
            f"/api/v1/namespaces/{ns}/configmaps",
            json={"metadata": {"name": "counter"}, "data": {"n": "0"}},
        )

    def bump(_: int) -> int:
        conflicts = 0
        with kube.http() as http:
            while True:
                cm = http.get(url).json()
                cm["data"]["n"] = str(int(cm["data"]["n"]) + 1)
                r = http.put(url, json=cm)
                if r.status_code == 200:
                    return conflicts
                assert r.status_code == 409 and r.json()["reason"] == "Conflict", r.text
                conflicts += 1

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(bump, range(20)))
    with kube.http() as http:
        assert http.get(url).json()["data"]["n"] == "20"


def test_random_bodies_never_cause_internal_errors(
    kube: KubeServer, ns: str, widget_crd: str
) -> None:
    """A seeded fuzz over writes of every kind: malformed input is a 4xx Status, never a 500."""
    import random

    rnd = random.Random(12)
    keys = ["spec", "status", "data", "metadata", "ports", "name", "labels", "replicas", "size"]
    keys += ["selector", "template", "containers", "type", "port", "$patch", "k"]

    def value(depth: int = 0) -> object:
        r = rnd.random()
        if depth > 3 or r < 0.3:
            return rnd.choice([None, 0, -1, 1.5, True, "", "x", "a b", [], {}])
        if r < 0.6:
            return {rnd.choice(keys): value(depth + 1) for _ in range(rnd.randint(0, 3))}
        return [value(depth + 1) for _ in range(rnd.randint(0, 3))]

    bases = [
        f"/api/v1/namespaces/{ns}/configmaps",
        f"/api/v1/namespaces/{ns}/services",
        f"/api/v1/namespaces/{ns}/pods",
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        f"/apis/example.com/v1/namespaces/{ns}/widgets",
        f"/api/v1/namespaces/{ns}/secrets",
    ]
    media = {
        "merge": "application/merge-patch+json",
        "smp": "application/strategic-merge-patch+json",
        "json": "application/json-patch+json",
        "apply": "application/apply-patch+yaml",
    }
    with kube.http() as http:
        for _ in range(2000):
            base, name = rnd.choice(bases), f"o{rnd.randint(0, 3)}"
            body = value()
            if isinstance(body, dict) and rnd.random() < 0.7:
                meta = body.setdefault("metadata", {})
                if isinstance(meta, dict):
                    meta["name"] = name
            op = rnd.choice(["post", "put", "merge", "smp", "json", "apply", "scale"])
            if op == "post":
                r = http.post(base, json=body)
            elif op == "put":
                r = http.put(f"{base}/{name}", json=body)
            else:
                if op == "json":
                    path = rnd.choice(["/spec", "/data/x", "/metadata/labels", "/spec/ports/0"])
                    body = [
                        {
                            "op": rnd.choice(["add", "remove", "replace", "test"]),
                            "path": path,
                            "value": value(2),
                        }
                    ]
                url = f"{base}/{name}/scale" if op == "scale" else f"{base}/{name}"
                r = http.patch(
                    url,
                    params={"fieldManager": "fuzz"},
                    content=json.dumps(body),
                    headers={"Content-Type": media.get(op, media["merge"])},
                )
            assert r.status_code < 500, (op, base, body, r.text)
            assert r.json()["kind"] != "Status" or r.json()["code"] == r.status_code


def test_non_structural_crd_is_rejected(kube: KubeServer) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "bads.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "bads", "kind": "Bad"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "x": {"description": "no type"},
                                        "y": {"type": "strin"},
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    with kube.http() as http:
        r = http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
    assert r.status_code == 422
    assert [c["field"] for c in r.json()["details"]["causes"]] == [
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[x].type",
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[y].type",
    ]
    assert r.json()["message"].startswith(
        'CustomResourceDefinition.apiextensions.k8s.io "bads.example.com" is invalid: ['
    )
