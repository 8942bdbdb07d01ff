"""Okta objects oktalab did not create are never changed; adoption is explicit and undone by
teardown; a crash at any instant converges to zero orphans and zero duplicates.

Everything runs against the session sandbox over HTTP: foreign objects are made with the
Okta Management API as an administrator would, stages run as the notebooks run them
(``run_stage``), and the kill tests SIGKILL a real child process at named crash points.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from oktalab_support import ROOT

from oktalab.okta import OktaClient
from oktalab.settings import Secret
from oktalab.stages import run_stage

GUIDE2 = yaml.safe_load((ROOT / "parameters" / "sandbox-portal.yaml").read_text())
OKTA_STAGES = ["okta_app", "claims", "registration"]
VOLATILE = ("lastUpdated", "_links", "created")


def param_set(tmp_path: Path, tag: str, **extra: Any) -> Path:
    """A guide-2 set whose Okta objects are all named after ``tag``."""
    data = copy.deepcopy(GUIDE2)
    data.update(
        name=f"own-{tag}",
        scopes=[f"own-{tag}-scope"],
        claims=[{"name": f"own_{tag}_claim", "value": "user.email"}],
    )
    data["app"]["label"] = f"Own {tag}"
    data["group"]["name"] = f"Own{tag}Users"
    data["registration"].update(
        policy_name=f"Own {tag} registration", target_group=f"Own{tag}Users"
    )
    data.update(extra)
    path = tmp_path / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def okta(env: dict[str, str]) -> OktaClient:
    return OktaClient(env["OKTA_ORG_URL"], Secret(env["OKTA_API_TOKEN"]))


def live(env: dict[str, str], tag: str) -> dict[str, list[dict[str, Any]]]:
    """Every Okta object named after ``tag``, by kind (apps of any status)."""
    with okta(env) as c:
        return {
            "app": [
                a for a in c.paginate("/api/v1/apps", q=f"Own {tag}") if a["label"] == f"Own {tag}"
            ],
            "group": [
                g
                for g in c.paginate("/api/v1/groups", q=f"Own{tag}")
                if g["profile"]["name"] == f"Own{tag}Users"
            ],
            "claim": [x for x in c.claims("default") if x["name"] == f"own_{tag}_claim"],
            "scope": [x for x in c.scopes("default") if x["name"] == f"own-{tag}-scope"],
            "policy": [
                p
                for p in c.get("/api/v1/policies", type="PROFILE_ENROLLMENT")
                if p["name"] == f"Own {tag} registration"
            ],
        }


def stable(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in VOLATILE}


def rows_of(result: Any) -> list[dict[str, Any]]:
    return [r.__dict__ if hasattr(r, "__dict__") else dict(r._asdict()) for r in result.rows]


def run_okta_stages(path: Path, run_dir: Path) -> list[Any]:
    rows = []
    for stage in OKTA_STAGES:
        res = run_stage(stage, path, run_dir=run_dir, raise_on_failure=False)
        rows += res.rows
        if not res.ok:
            break
    return rows


# -- foreign objects -----------------------------------------------------------------------
def make_foreign(env: dict[str, str], kind: str, tag: str) -> tuple[str, str]:
    """Create by hand, as an admin would, an object the set would find; (path to GET, name)."""
    with okta(env) as c:
        if kind == "app":
            made = c.create_app(
                {
                    "name": "oidc_client",
                    "label": f"Own {tag}",
                    "signOnMode": "OPENID_CONNECT",
                    "credentials": {
                        "oauthClient": {"token_endpoint_auth_method": "client_secret_basic"}
                    },
                    "settings": {
                        "oauthClient": {
                            "application_type": "web",
                            "grant_types": ["authorization_code"],
                            "response_types": ["code"],
                            "redirect_uris": ["https://prod.example.com/callback"],
                        }
                    },
                }
            )
            return f"/api/v1/apps/{made['id']}", f"Own {tag}"
        if kind == "group":
            made = c.create_group(f"Own{tag}Users", "made by hand")
            return f"/api/v1/groups/{made['id']}", f"Own{tag}Users"
        if kind == "claim":
            made = c.create_claim(
                "default",
                {
                    "name": f"own_{tag}_claim",
                    "status": "ACTIVE",
                    "claimType": "RESOURCE",
                    "valueType": "EXPRESSION",
                    "value": "user.login",
                    "conditions": {"scopes": []},
                    "alwaysIncludeInToken": True,
                },
            )
            return f"/api/v1/authorizationServers/default/claims/{made['id']}", f"own_{tag}_claim"
        if kind == "scope":
            made = c.create_scope("default", {"name": f"own-{tag}-scope", "description": "by hand"})
            return f"/api/v1/authorizationServers/default/scopes/{made['id']}", f"own-{tag}-scope"
        made = c.create_policy(
            {"type": "PROFILE_ENROLLMENT", "name": f"Own {tag} registration", "status": "ACTIVE"}
        )
        if kind == "rule":  # its rule set by hand: registers into Everyone, email verified
            rule = c.policy_rules(made["id"])[0]
            action = rule["actions"]["profileEnrollment"]
            action.update(
                unknownUserAction="REGISTER",
                targetGroupIds=[c.everyone_group()["id"]],
                activationRequirements={"emailVerification": True},
            )
            body = {k: v for k, v in rule.items() if k not in VOLATILE}
            c.replace_policy_rule(made["id"], rule["id"], body)
        return f"/api/v1/policies/{made['id']}", f"Own {tag} registration"


FOREIGN_KINDS = ["app", "group", "claim", "scope", "policy", "rule"]


def snapshot(c: OktaClient, kind: str, path: str) -> Any:
    """The object as Okta answers it; a user profile policy with its rules."""
    if kind in ("policy", "rule"):
        return stable(c.get(path)), [stable(r) for r in c.get(path + "/rules")]
    return stable(c.get(path))


def run_over_foreign(
    env: dict[str, str], tmp_path: Path, kind: str, tag: str, **extra: Any
) -> tuple[str, str, Any, Path, list[Any]]:
    """Make a foreign ``kind`` by hand, then run the Okta stages of a set that would touch it:
    (path, name, snapshot before, parameter file, rows)."""
    path, name = make_foreign(env, kind, tag)
    with okta(env) as c:
        before = snapshot(c, kind, path)
    params = param_set(tmp_path, tag, **extra)
    return path, name, before, params, run_okta_stages(params, tmp_path / "run")


@pytest.mark.parametrize("kind", FOREIGN_KINDS)
def test_foreign_object_is_left_unchanged(
    sandbox_env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    path, name, before, params, rows = run_over_foreign(sandbox_env, tmp_path, kind, f"f{kind}")
    with okta(sandbox_env) as c:
        assert snapshot(c, kind, path) == before, f"the foreign {kind} was changed"
    if kind != "scope":  # a scope has no settings to differ: used as it is
        refused = [r for r in rows if r.status == "failed" and r.name == name]
        assert refused, [(r.step, r.status, r.detail) for r in rows]
        assert "owned by nobody" in refused[0].detail and "differs in" in refused[0].detail
        assert f"--adopt '{'policy' if kind == 'rule' else kind}/{name}'" in refused[0].detail
        if kind == "rule":
            assert "rule.activationRequirements" in refused[0].detail, refused[0].detail
    run_stage("teardown", params, run_dir=tmp_path / "run", raise_on_failure=False)
    with okta(sandbox_env) as c:
        assert snapshot(c, kind, path) == before, "teardown touched the foreign object"


@pytest.mark.parametrize("kind", ["group", "claim", "policy"])
def test_adopted_object_is_changed_then_restored_by_teardown(
    sandbox_env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    tag = f"ad{kind}"
    name = {"group": f"Own{tag}Users", "claim": f"own_{tag}_claim"}.get(
        kind, f"Own {tag} registration"
    )
    path, name, before, params, rows = run_over_foreign(
        sandbox_env, tmp_path, kind, tag, adopt=[f"{kind}/{name}"]
    )
    adopted = [r for r in rows if r.name == name and r.action == "adopted"]
    assert adopted and all(r.status != "failed" for r in rows), [
        (r.step, r.action, r.status, r.detail) for r in rows
    ]
    with okta(sandbox_env) as c:
        assert snapshot(c, kind, path) != before, "adopted, but nothing was set"
    run_stage("teardown", params, run_dir=tmp_path / "run")
    with okta(sandbox_env) as c:
        assert snapshot(c, kind, path) == before, "teardown did not restore the adopted object"
        c.delete(path)


def test_another_sets_claim_is_refused_naming_its_owner(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    a = param_set(tmp_path, "sa")
    run_stage("okta_app", a, run_dir=tmp_path / "a")
    run_stage("claims", a, run_dir=tmp_path / "a")
    b = param_set(
        tmp_path,
        "sb",
        claims=[{"name": "own_sa_claim", "value": "user.login"}],
    )
    run_stage("okta_app", b, run_dir=tmp_path / "b")
    res = run_stage("claims", b, run_dir=tmp_path / "b", raise_on_failure=False)
    refused = [r for r in res.rows if r.status == "failed" and r.name == "own_sa_claim"]
    assert refused and "owned by parameter set 'own-sa'" in refused[0].detail, res.rows
    assert [c["value"] for c in live(sandbox_env, "sa")["claim"]] == ["user.email"]
    for p, d in ((b, "b"), (a, "a")):
        run_stage("teardown", p, run_dir=tmp_path / d, raise_on_failure=False)
    assert not any(live(sandbox_env, "sa").values())


def test_adopted_app_is_restored_by_teardown(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    path, name = make_foreign(sandbox_env, "app", "ad")
    with okta(sandbox_env) as c:
        before = stable(c.get(path))
    params = param_set(tmp_path, "ad", adopt=[f"app/{name}"])
    res = run_stage("okta_app", params, run_dir=tmp_path / "run")
    row = next(r for r in res.rows if r.step == "app")
    assert row.action == "adopted", res.rows
    with okta(sandbox_env) as c:
        during = c.get(path)
    assert (
        during["settings"]["oauthClient"]["redirect_uris"]
        != before["settings"]["oauthClient"]["redirect_uris"]
    )
    run_stage("teardown", params, run_dir=tmp_path / "run")
    with okta(sandbox_env) as c:
        after = stable(c.get(path))
        assert after["settings"]["oauthClient"]["redirect_uris"] == [
            "https://prod.example.com/callback"
        ]
        assert after["label"] == before["label"] and after["status"] == before["status"]
        assert c.app_groups(before["id"]) == []
        c.deactivate_app(before["id"])
        c.delete_app(before["id"])


def test_app_type_is_never_changed_in_place(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    path, name = make_foreign(sandbox_env, "app", "ty")
    data = copy.deepcopy(GUIDE2)
    params = param_set(tmp_path, "ty", adopt=[f"app/{name}"])
    data = yaml.safe_load(params.read_text())
    data["guide"] = "oidc-gateway"
    data["app"].update(type="browser", redirect_uris=["http://localhost:4000/callback"])
    for k in ("group", "registration", "portal", "app_groups_claim"):
        data.pop(k, None)
    params.write_text(yaml.safe_dump(data))
    res = run_stage("okta_app", params, run_dir=tmp_path / "run", raise_on_failure=False)
    refused = [r for r in res.rows if r.status == "failed"]
    assert refused and "type or client authentication method" in refused[0].detail, res.rows
    with okta(sandbox_env) as c:
        app = c.get(path)
        assert app["settings"]["oauthClient"]["application_type"] == "web"
        c.deactivate_app(app["id"])
        c.delete_app(app["id"])


def test_removed_claim_is_removed_on_the_next_run(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    params = param_set(tmp_path, "rm")
    run_stage("okta_app", params, run_dir=tmp_path / "run")
    run_stage("claims", params, run_dir=tmp_path / "run")
    assert len(live(sandbox_env, "rm")["claim"]) == 1
    data = yaml.safe_load(params.read_text())
    data["claims"] = []
    params.write_text(yaml.safe_dump(data))
    res = run_stage("claims", params, run_dir=tmp_path / "run")
    assert any(r.action == "deleted" and r.name == "own_rm_claim" for r in res.rows), res.rows
    assert live(sandbox_env, "rm")["claim"] == []
    run_stage("teardown", params, run_dir=tmp_path / "run")
    assert not any(live(sandbox_env, "rm").values())


# -- Trusted Origins (a single-page app's redirect URI origins) ------------------------------
def spa_set(tmp_path: Path, tag: str, **extra: Any) -> tuple[Path, str]:
    """A guide-1 set with a browser app whose redirect URIs are on origin ``http://<tag>...``."""
    data = copy.deepcopy(GUIDE2)
    origin = f"http://own-{tag}.localhost:4999"
    data.update(name=f"own-{tag}", guide="oidc-gateway", scopes=[], claims=[])
    data["app"].update(
        label=f"Own {tag}",
        type="browser",
        redirect_uris=[f"{origin}/callback"],
        post_logout_redirect_uris=[],
    )
    for k in ("group", "registration", "portal", "portal_verify", "app_groups_claim"):
        data.pop(k, None)
    data.update(extra)
    path = tmp_path / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, origin


def _origin(env: dict[str, str], origin: str) -> list[dict[str, Any]]:
    with okta(env) as c:
        return [o for o in c.trusted_origins() if o["origin"] == origin]


@pytest.mark.parametrize("adopt", [False, True])
def test_foreign_trusted_origin_is_left_unchanged_or_adopted_and_restored(
    sandbox_env: dict[str, str], tmp_path: Path, adopt: bool
) -> None:
    tag = "forig" + ("a" if adopt else "")
    params, origin = spa_set(tmp_path, tag)
    with okta(sandbox_env) as c:  # by hand: REDIRECT only, so the SPA's CORS calls would fail
        made = c.create_trusted_origin(
            {"name": "by hand", "origin": origin, "scopes": [{"type": "REDIRECT"}]}
        )
        path = f"/api/v1/trustedOrigins/{made['id']}"
        before = stable(c.get(path))
    if adopt:
        params, _ = spa_set(tmp_path, tag, adopt=[f"origin/{origin}"])
    res = run_stage("okta_app", params, run_dir=tmp_path / "run", raise_on_failure=False)
    rows = [r for r in res.rows if r.kind == "TrustedOrigin"]
    with okta(sandbox_env) as c:
        during = stable(c.get(path))
    if adopt:
        assert rows and rows[0].action == "adopted" and rows[0].status == "ok", res.rows
        assert {s["type"] for s in during["scopes"]} == {"CORS", "REDIRECT"}
        assert all(r.status == "ok" for r in res.rows), [(r.step, r.detail) for r in res.rows]
    else:
        assert during == before, "the foreign Trusted Origin was changed"
        refused = [r for r in rows if r.status == "failed" and r.name == origin]
        assert refused, [(r.step, r.status, r.detail) for r in res.rows]
        assert "owned by nobody" in refused[0].detail and "differs in scopes" in refused[0].detail
        assert f"--adopt 'origin/{origin}'" in refused[0].detail
    run_stage("teardown", params, run_dir=tmp_path / "run", raise_on_failure=False)
    with okta(sandbox_env) as c:
        assert stable(c.get(path)) == before, "teardown did not leave/restore the origin"
        assert len(_origin(sandbox_env, origin)) == 1  # no second origin left behind
        c.delete_trusted_origin(made["id"])


# -- users ---------------------------------------------------------------------------------------
def test_a_foreign_user_is_never_signed_up_over_recorded_or_deleted(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    """oktalab makes users only with new logins (portal sign-up, outsider, second user): a
    person who already holds the login stops the step naming them, before any write."""
    from oktalab.params import load_parameters
    from oktalab.settings import Environment
    from oktalab.stages.context import Context
    from oktalab.stages.ownership import ForeignObject, new_user

    login = "own-fuser@example.com"
    with okta(sandbox_env) as c:
        person = c.create_user(
            {"email": login, "login": login, "firstName": "Real", "lastName": "Person"},
            password=Secret("Real-Pers0n-pass!"),
        )
        before = stable(c.get_user(person["id"]))
    params = param_set(tmp_path, "fuser")
    ctx = Context(
        params=load_parameters(params),
        run_dir=tmp_path / "run",
        env=Environment.load(target="sandbox"),
    )
    try:
        with pytest.raises(ForeignObject) as refused:
            new_user(ctx, login, {"email": login, "login": login, "firstName": "Signup"}, "sign up")
        detail = refused.value.detail
        assert refused.value.kind == "OktaUser" and refused.value.name == login
        assert "owned by nobody" in detail and person["id"] in detail
        assert "differs in profile.firstName, credentials.password" in detail
        assert not ctx.ledger.items("okta_user", "created", "adopted", "used")
        new_user(ctx, "own-fresh@example.com", {"firstName": "New"}, "sign up")  # a new login
    finally:
        ctx.close()
    run_stage("teardown", params, run_dir=tmp_path / "run", raise_on_failure=False)
    with okta(sandbox_env) as c:
        assert stable(c.get_user(person["id"])) == before, "the foreign user was changed"
        c.delete_user(person["id"])


# -- authorization server access policy (issue 18 item 2 creates it) ---------------------------
@pytest.mark.parametrize("adopt", [False, True])
def test_foreign_access_policy_is_left_unchanged_or_adopted_and_restored(
    sandbox_env: dict[str, str], tmp_path: Path, adopt: bool
) -> None:
    tag = "fap" + ("a" if adopt else "")
    name = f"own-{tag}-access"
    with okta(sandbox_env) as c:  # a custom server, and by hand a policy for another client
        server = c.post(
            "/api/v1/authorizationServers",
            {"name": f"own-{tag}", "description": "by hand", "audiences": ["api://own"]},
        )
        base = f"/api/v1/authorizationServers/{server['id']}/policies"
        policy = c.post(
            base,
            {
                "type": "OAUTH_AUTHORIZATION_POLICY",
                "name": name,
                "description": "by hand",
                "priority": 1,
                "conditions": {"clients": {"include": ["0oaSOMEONEELSE000001"]}},
            },
        )
        c.post(
            f"{base}/{policy['id']}/rules",
            {
                "name": "by hand",
                "type": "RESOURCE_ACCESS",
                "conditions": {
                    "people": {"groups": {"include": ["EVERYONE"]}},
                    "grantTypes": {"include": ["client_credentials"]},
                    "scopes": {"include": ["*"]},
                },
            },
        )
        before = (stable(c.get(f"{base}/{policy['id']}")), c.get(f"{base}/{policy['id']}/rules"))
    extra: dict[str, Any] = {
        "authorization_server": server["id"],
        "access_policy": {"create": True, "name": name},
    }
    if adopt:
        extra["adopt"] = [f"access_policy/{name}"]
    params = param_set(tmp_path, tag, **extra)
    rows = run_okta_stages(params, tmp_path / "run")
    row = next(r for r in rows if r.step == "access policy")

    def now() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with okta(sandbox_env) as c:
            return stable(c.get(f"{base}/{policy['id']}")), c.get(f"{base}/{policy['id']}/rules")

    if adopt:
        assert row.action == "adopted" and row.status == "ok", (row.detail, rows)
        client_id = live(sandbox_env, tag)["app"][0]["credentials"]["oauthClient"]["client_id"]
        during, during_rules = now()
        assert client_id in during["conditions"]["clients"]["include"]
        assert "authorization_code" in during_rules[0]["conditions"]["grantTypes"]["include"]
    else:
        assert row.status == "failed", (row.detail, rows)
        assert "owned by nobody" in row.detail and "conditions.clients.include" in row.detail
        assert f"--adopt 'access_policy/{name}'" in row.detail
        assert now() == before, "the foreign access policy was changed"
    run_stage("teardown", params, run_dir=tmp_path / "run", raise_on_failure=False)
    after_policy, after_rules = now()
    assert after_policy == before[0], "teardown did not leave/restore the policy"
    assert [stable(r) for r in after_rules] == [stable(r) for r in before[1]]
    with okta(sandbox_env) as c:
        assert [p["name"] for p in c.as_policies(server["id"])] == [name]  # no second policy
        c.post(f"/api/v1/authorizationServers/{server['id']}/lifecycle/deactivate")
        c.delete(f"/api/v1/authorizationServers/{server['id']}")


# -- list-after-create lag --------------------------------------------------------------------
def _faults(env: dict[str, str], config: dict[str, Any] | None) -> None:
    req = urllib.request.Request(
        env["OKTA_ORG_URL"] + "/__sandbox/faults",
        data=json.dumps(config).encode() if config else None,
        method="POST" if config else "DELETE",
        headers={
            "Authorization": f"SSWS {env['OKTA_API_TOKEN']}",
            "Content-Type": "application/json",
        },
    )
    urllib.request.urlopen(req, timeout=10).close()


def test_rerun_under_list_lag_finds_the_app_by_its_recorded_id(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    params = param_set(tmp_path, "lag")
    _faults(sandbox_env, {"rules": [{"path": "^/api/v1/(apps|groups)$", "hide_recent_ms": 60000}]})
    try:
        for _ in range(2):
            run_stage("okta_app", params, run_dir=tmp_path / "run")
    finally:
        _faults(sandbox_env, None)
    assert len(live(sandbox_env, "lag")["app"]) == 1
    run_stage("teardown", params, run_dir=tmp_path / "run")
    assert not any(live(sandbox_env, "lag").values())


# -- kill points -----------------------------------------------------------------------------
KILL_POINTS = [
    f"{when}-create:okta_{kind}"
    for kind in ("app", "group", "scope", "claim", "policy")
    for when in ("before", "after")
]


def killed(point: str, script: str, *args: str) -> None:
    """Run ``script`` in a child process that SIGKILLs itself at ``point``."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**os.environ, "OKTALAB_FAILPOINT": point},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


RUN_STAGES = (
    "import sys\nfrom oktalab.stages import run_stage\n"
    "for s in sys.argv[3:]:\n    run_stage(s, sys.argv[1], run_dir=sys.argv[2])\n"
)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_at_any_point_converges(
    sandbox_env: dict[str, str], tmp_path: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKTALAB_LIST_LAG_SECONDS", "1")  # no list lag here: do not wait long
    tag = "k" + point.split(":")[1].removeprefix("okta_")[:3] + point[0]
    params = param_set(tmp_path, tag)
    killed(point, RUN_STAGES, str(params), str(tmp_path / "run"), *OKTA_STAGES)
    rows = run_okta_stages(params, tmp_path / "run")  # the re-run
    assert all(r.status != "failed" for r in rows), [
        (r.step, r.detail) for r in rows if r.status == "failed"
    ]
    counts = {k: len(v) for k, v in live(sandbox_env, tag).items()}
    assert counts == {"app": 1, "group": 1, "claim": 1, "scope": 1, "policy": 1}, counts
    run_stage("teardown", params, run_dir=tmp_path / "run")
    counts = {k: len(v) for k, v in live(sandbox_env, tag).items()}
    assert counts == {"app": 0, "group": 0, "claim": 0, "scope": 0, "policy": 0}, counts


@pytest.mark.parametrize("kind", ["app", "group"])
def test_kill_after_create_then_a_lagging_list_does_not_duplicate(
    sandbox_env: dict[str, str], tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The double fault: killed right after the create (no id recorded) and the immediate
    re-run's list does not show the object yet. The intent makes the lookup wait out the
    lag (``OKTALAB_LIST_LAG_SECONDS``) instead of creating a second one."""
    monkeypatch.setenv("OKTALAB_LIST_LAG_SECONDS", "12")
    tag = f"dbl{kind}"
    params = param_set(tmp_path, tag)
    stages = ["okta_app"] if kind == "app" else ["okta_app", "claims"]
    _faults(sandbox_env, {"rules": [{"path": "^/api/v1/(apps|groups)$", "hide_recent_ms": 4000}]})
    try:
        killed(f"after-create:okta_{kind}", RUN_STAGES, str(params), str(tmp_path / "run"), *stages)
        for stage in stages:  # the immediate re-run, while the list still hides it
            res = run_stage(stage, params, run_dir=tmp_path / "run", raise_on_failure=False)
            assert res.ok, [(r.step, r.detail) for r in res.rows if r.status == "failed"]
    finally:
        _faults(sandbox_env, None)
    assert len(live(sandbox_env, tag)[kind]) == 1, live(sandbox_env, tag)
    run_stage("teardown", params, run_dir=tmp_path / "run")
    assert not any(live(sandbox_env, tag).values())


SECRET_SCRIPT = """
import sys
from pathlib import Path
from oktalab.params import load_parameters
from oktalab.settings import Environment
from oktalab.stages import run_stage
from oktalab.stages.context import Context
from oktalab.stages.okta_app import new_client_secret
run_stage("okta_app", sys.argv[1], run_dir=sys.argv[2])
ctx = Context(params=load_parameters(sys.argv[1]), run_dir=Path(sys.argv[2]),
              env=Environment.load(target="sandbox"))
new_client_secret(ctx)  # the portal stage's call when no readable secret authenticates
"""


@pytest.mark.parametrize("adopted", [False, True])
def test_kill_right_after_creating_a_client_secret_converges(
    sandbox_env: dict[str, str], tmp_path: Path, adopted: bool
) -> None:
    """Killed between Okta's answer to POST .../credentials/secrets and the ledger write: the
    re-run recognises the new secret as this set's (the intent lists the secrets before the
    create) and finishes the rotation; teardown leaves no secret of ours and no extra ACTIVE
    one (on an adopted app: exactly the owner's secret, as before)."""
    from oktalab.params import load_parameters
    from oktalab.settings import Environment
    from oktalab.stages.context import Context
    from oktalab.stages.okta_app import client_secret

    tag = "ksec" + ("a" if adopted else "")
    extra: dict[str, Any] = {}
    original: list[str] = []
    if adopted:
        path, name = make_foreign(sandbox_env, "app", tag)
        with okta(sandbox_env) as c:
            original = [s["id"] for s in c.client_secrets(c.get(path)["id"])]
        extra["adopt"] = [f"app/{name}"]
    params = param_set(tmp_path, tag, **extra)
    run_dir = tmp_path / "run"
    killed("after-create:okta_client_secret", SECRET_SCRIPT, str(params), str(run_dir))
    app_id = live(sandbox_env, tag)["app"][0]["id"]
    with okta(sandbox_env) as c:
        assert len(c.client_secrets(app_id)) == 2  # the old one and the unrecorded new one
    assert run_stage("okta_app", params, run_dir=run_dir).ok  # the re-run ...
    ctx = Context(
        params=load_parameters(params), run_dir=run_dir, env=Environment.load(target="sandbox")
    )
    try:
        secret = client_secret(ctx)  # ... reads the secret as the portal stage does
        assert secret is not None
        ours = {e["key"] for e in ctx.ledger.items("okta_client_secret")}
    finally:
        ctx.close()
    with okta(sandbox_env) as c:
        active = [s for s in c.client_secrets(app_id) if s["status"] == "ACTIVE"]
    if adopted:  # the owner's secret and the one this set made (recorded now)
        assert sorted(s["id"] for s in active if s["id"] not in ours) == original
        assert len(active) == 2 and len(ours) == 1
    else:  # the rotation finished: only the new secret
        assert len(active) == 1 and {s["id"] for s in active} == ours
        assert active[0]["client_secret"] == secret.reveal()
    run_stage("teardown", params, run_dir=run_dir)
    with okta(sandbox_env) as c:
        if adopted:
            assert [s["id"] for s in c.client_secrets(app_id)] == original
            c.deactivate_app(app_id)
            c.delete_app(app_id)
        else:
            assert live(sandbox_env, tag)["app"] == []


@pytest.mark.parametrize("when", ["before", "after"])
def test_kill_around_a_trusted_origin_create_converges(
    sandbox_env: dict[str, str], tmp_path: Path, when: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKTALAB_LIST_LAG_SECONDS", "1")
    params, origin = spa_set(tmp_path, f"korig{when[0]}")
    run_dir = tmp_path / "run"
    killed(f"{when}-create:okta_trusted_origin", RUN_STAGES, str(params), str(run_dir), "okta_app")
    res = run_stage("okta_app", params, run_dir=run_dir, raise_on_failure=False)
    assert res.ok, [(r.step, r.detail) for r in res.rows if r.status == "failed"]
    assert len(_origin(sandbox_env, origin)) == 1
    run_stage("teardown", params, run_dir=run_dir)
    assert _origin(sandbox_env, origin) == []
    assert live(sandbox_env, f"korig{when[0]}")["app"] == []


@pytest.mark.parametrize("when", ["before", "after"])
def test_kill_around_an_access_policy_create_converges(
    sandbox_env: dict[str, str], tmp_path: Path, when: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKTALAB_LIST_LAG_SECONDS", "1")
    tag = f"kap{when[0]}"
    with okta(sandbox_env) as c:
        server = c.post(
            "/api/v1/authorizationServers",
            {"name": f"own-{tag}", "description": "kill test", "audiences": ["api://own"]},
        )
    name = f"own-{tag}-access"
    params = param_set(
        tmp_path,
        tag,
        authorization_server=server["id"],
        access_policy={"create": True, "name": name},
    )
    run_dir = tmp_path / "run"
    stages = ["okta_app", "claims"]
    killed(f"{when}-create:okta_as_policy", RUN_STAGES, str(params), str(run_dir), *stages)
    for stage in stages:
        res = run_stage(stage, params, run_dir=run_dir, raise_on_failure=False)
        assert res.ok, [(r.step, r.detail) for r in res.rows if r.status == "failed"]
    with okta(sandbox_env) as c:
        policies = c.as_policies(server["id"])
        assert [p["name"] for p in policies] == [name]
        assert len(c.as_policy_rules(server["id"], policies[0]["id"])) == 1
    run_stage("teardown", params, run_dir=run_dir)
    with okta(sandbox_env) as c:
        assert c.as_policies(server["id"]) == []
        c.post(f"/api/v1/authorizationServers/{server['id']}/lifecycle/deactivate")
        c.delete(f"/api/v1/authorizationServers/{server['id']}")
