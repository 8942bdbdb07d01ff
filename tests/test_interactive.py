"""The start notebook's widgets layer, driven from code: the form, secrets, stage runs.

ipywidgets work without a frontend (no comm is opened), so the form is exercised for real:
load a file, edit fields, see the messages beside the fields, save, run stages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from oktalab_support import ROOT, read_env, tab_links

from oktalab import interactive as ui
from oktalab.errors import ParameterError

PARAMS = ROOT / "parameters" / "sandbox.yaml"


@pytest.fixture
def form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ui.ParameterForm:
    folder = tmp_path / "parameters"
    folder.mkdir()
    for p in (ROOT / "parameters").glob("*.yaml"):
        (folder / p.name).write_text(p.read_text())
    monkeypatch.setenv("OKTALAB_PARAMETERS", str(folder))
    return ui.ParameterForm(folder / "sandbox.yaml")


def test_field_problems_name_the_field() -> None:
    exc = ParameterError(
        [
            ("app", "pkce_required: a browser (SPA) app has no secret, so PKCE must stay required"),
            ("", "app.redirect_uris: the authorization code flow needs a redirect URI"),
            ("extauth.wait_seconds", "Input should be greater than 0"),
        ]
    )
    got = ui.field_problems(exc)
    assert set(got) == {"app.pkce_required", "app.redirect_uris", "extauth.wait_seconds"}
    assert got["app.pkce_required"][0].startswith("a browser (SPA) app")


def test_form_loads_a_file_and_validates(form: ui.ParameterForm) -> None:
    assert form.valid.value and form.parameter_set is not None
    assert form.parameter_set.name == "guide1-sandbox"
    assert form.fields["app.type"].options == ("browser", "web")  # choices from the model
    assert form.fields["app.redirect_uris"].value == ""  # derived from the portal frontend
    assert "valid: guide1-sandbox" in form.messages.value


def test_bad_fields_get_their_own_message(form: ui.ParameterForm) -> None:
    form.fields["app.redirect_uris"].value = "localhost:4000/callback"
    form.fields["extauth.policy_name"].value = "Not_A_Name"
    form.fields["app.grant_types"].value = "authorization_code, password"
    assert form.check() is None and not form.valid.value
    assert "absolute http(s) URL" in form.notes["app.redirect_uris"].value
    assert "Kubernetes name" in form.notes["extauth.policy_name"].value
    assert "password" in form.notes["app.grant_types"].value
    assert form.notes["app.label"].value == ""
    for path in ("app.redirect_uris", "extauth.policy_name", "app.grant_types"):
        assert path in form.messages.value


def test_yaml_tab_round_trip_and_secrets_refused(form: ui.ParameterForm) -> None:
    form.tabs.selected_index = 1
    data = yaml.safe_load(form.raw.value)
    assert data["app"]["label"] == "oktalab-portal-spa"
    data["api_token"] = "not-a-parameter"
    form.raw.value = yaml.safe_dump(data)
    assert form.check() is None
    assert "secrets are not parameters" in form.messages.value
    del data["api_token"]
    data["app"]["label"] = "edited-in-yaml"
    form.raw.value = yaml.safe_dump(data)
    form.tabs.selected_index = 0
    assert form.fields["app.label"].value == "edited-in-yaml"
    assert form.check() is not None


def test_save_writes_a_valid_file_only(form: ui.ParameterForm, tmp_path: Path) -> None:
    form.fields["name"].value = "my-copy"
    out = form.save("parameters/my-copy.yaml")
    assert out == tmp_path / "parameters" / "my-copy.yaml"
    saved = yaml.safe_load(out.read_text())
    assert saved["name"] == "my-copy" and saved["app"]["type"] == "browser"
    form.fields["name"].value = "Bad Name"
    assert form.save("parameters/bad.yaml") is None
    assert not (tmp_path / "parameters" / "bad.yaml").exists()


def test_secrets_form_keeps_no_secret_in_widget_state(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = ui.SecretsForm()
    secrets.secret["OKTA_API_TOKEN"].value = "00-very-secret"
    secrets.plain["OKTA_ORG_URL"].value = "https://dev-1.okta.example"
    applied = secrets.apply()
    assert os.environ["OKTA_API_TOKEN"] == "00-very-secret"
    assert set(applied) == {"OKTA_API_TOKEN", "OKTA_ORG_URL"}
    states = json.dumps([w.get_state() for w in secrets.secret.values()])
    assert "00-very-secret" not in states and "00-very-secret" not in secrets.status.value
    monkeypatch.delenv("OKTA_API_TOKEN")


def test_interactive_never_imports_the_sandbox() -> None:
    code = (
        "import sys, oktalab.interactive; "
        "bad = [m for m in sys.modules if m.startswith('oktalab.sandbox')]; "
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_stage_panel_runs_stages_with_a_status_each(
    sandbox_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKTALAB_HOME", str(tmp_path / "home"))
    ps = ui.validate(yaml.safe_load(PARAMS.read_text()))[0]
    assert ps is not None
    panel = ui.StagePanel(tmp_path / "runs")
    panel.show(ps)
    assert list(panel.badges) == ["okta_app", "claims", "extauth", "portal_groups", "verify"]
    panel.run("okta_app")
    assert "ok" in panel.badges["okta_app"].value
    assert "pending" in panel.badges["claims"].value
    report = panel.run_all()
    assert report.ok, report.rows
    assert all(">ok<" in b.value for b in panel.badges.values())
    assert {r["stage"] for r in report.rows} == set(panel.badges)
    url, verifier = ui.sign_in_url(ps, panel.run_dir)
    assert url.startswith(sandbox_env["OKTA_ORG_URL"] + "/oauth2/default/v1/authorize?")
    assert "code_challenge_method=S256" in url and verifier not in url


def test_failed_stage_skips_the_rest(
    sandbox_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKTALAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OKTALAB_TEST_PASSWORD", "wrong-password-1!")
    data = yaml.safe_load(PARAMS.read_text())
    data["name"] = "interactive-fail"
    data["app"]["label"] = "oktalab-interactive-fail"
    ps = ui.validate(data)[0]
    assert ps is not None
    seen: list[tuple[str, str]] = []
    report = ui.run_stages(ps, tmp_path / "run", on_status=lambda s, st, _: seen.append((s, st)))
    assert ("claims", "failed") in seen and ("extauth", "skipped") in seen
    assert not report.ok
    with pytest.raises(Exception, match="claims|sign in"):
        report.raise_for_status()


@pytest.mark.parametrize(
    ("address", "prefix", "expected"),
    [
        (
            "https://hub.example.org/user/me-abc/lab/tree/notebooks/00_start.ipynb",
            None,
            "https://hub.example.org/user/me-abc/proxy/{port}",
        ),
        ("http://127.0.0.1:8888/lab?token=x", None, "http://127.0.0.1:8888/proxy/{port}"),
        ("https://h.example/anything", "/user/x/", "https://h.example/user/x/proxy/{port}"),
    ],
)
def test_public_url_from_the_tab_address(address: str, prefix: str | None, expected: str) -> None:
    assert ui.public_url_from_address(address, prefix) == expected


def test_public_url_needs_an_address() -> None:
    with pytest.raises(ParameterError, match="address"):
        ui.public_url_from_address("not a url")


def test_restart_sandbox_serves_the_org_at_the_public_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "sandbox"
    monkeypatch.setenv("OKTALAB_SANDBOX_DIR", str(state))
    try:
        ui.restart_sandbox("http://127.0.0.1:8888/proxy/{port}")
        env = read_env(state / "sandbox.env")
        port = env["OKTA_ORG_URL"].rsplit(":", 1)[1]
        assert env["OKTALAB_SANDBOX_PUBLIC_URL"] == f"http://127.0.0.1:8888/proxy/{port}"
        links = ui.sandbox_links()
        gateway_port = env["OKTALAB_GATEWAY_URL"].rsplit(":", 1)[1]
        assert links["Okta hosted sign-in page"].startswith(env["OKTALAB_SANDBOX_PUBLIC_URL"])
        assert f"http://127.0.0.1:8888/proxy/{gateway_port}/reviews" in links.values()
    finally:
        subprocess.run(
            [sys.executable, "-m", "oktalab", "sandbox", "stop", "--state-dir", str(state)],
            capture_output=True,
            timeout=60,
        )


def test_a_dead_starters_marker_is_ignored(tmp_path: Path) -> None:
    state = tmp_path / "sandbox"
    state.mkdir()
    marker = state / ui.STARTING_MARKER
    marker.write_text("")
    assert ui._starting(state)  # just created by binder/start
    marker.write_text(str(os.getpid()))
    assert ui._starting(state)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    marker.write_text(str(dead.pid))
    assert not ui._starting(state)


def open_like_a_browser(url: str) -> int:
    """GET ``url`` as a browser on this machine would: ``*.localhost`` is this machine."""
    from urllib.parse import urlsplit

    import httpx

    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.endswith(".localhost"):
        direct = url.replace(parts.netloc, f"127.0.0.1:{parts.port or 80}", 1)
        return httpx.get(direct, headers={"Host": parts.netloc}).status_code
    return httpx.get(url).status_code


def test_sandbox_pages_tab_links_all_answer(sandbox: dict[str, str]) -> None:
    """Every link the tab shows answers (2xx/3xx; the protected route 403 once guide 1's
    policy selects it); the tab names the test user and never holds the password."""
    state = Path(sandbox["OKTALAB_SANDBOX_DIR"])
    rendered = ui.pages._links_html(state)
    links = tab_links(rendered)
    pages = {p.url: p for p in ui.sandbox_pages(state)}
    assert len(links) >= 4 and set(links) <= set(pages)
    for url in links:
        status = open_like_a_browser(url)
        assert status < 400 or status in pages[url].refusals, (url, status)
    assert links[0].endswith("/login/login.htm")
    assert f"sign in as {sandbox['OKTALAB_TEST_USERNAME']}" in rendered
    assert "OKTALAB_TEST_PASSWORD in " in rendered
    assert sandbox["OKTALAB_TEST_PASSWORD"] not in rendered
    for p in pages.values():  # what is not ready is said, never linked
        assert p.ready == (p.url in links) or not p.url
        assert p.ready or "first" in p.note or "again" in p.note, p


def test_sandbox_pages_tab_when_the_sandbox_is_gone(tmp_path: Path) -> None:
    """A sandbox.env left by a stopped sandbox: one line saying to start it, no links."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # closed when the block ends
    (tmp_path / "sandbox.env").write_text(
        f"OKTA_ORG_URL={dead}\nOKTALAB_GATEWAY_URL={dead}\nOKTALAB_TEST_USERNAME=u@example.com\n"
    )
    rendered = ui.pages._links_html(tmp_path)
    assert tab_links(rendered) == []
    assert "does not answer: start it (oktalab sandbox start --state-dir" in rendered
