from pathlib import Path

import pytest

from oktalab import ConfigurationError, Environment, Secret
from oktalab.settings import read_env_file


def test_secret_never_shows_itself() -> None:
    s = Secret("hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert s.reveal() == "hunter2"
    env = Environment(okta_org_url="https://x", okta_api_token=s)
    assert "hunter2" not in repr(env)


def test_env_then_file_then_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    sandbox = tmp_path / "sb"
    sandbox.mkdir()
    (sandbox / "sandbox.env").write_text(
        "OKTA_ORG_URL=http://127.0.0.1:1\nOKTA_API_TOKEN=from-sandbox\n"
    )
    monkeypatch.setenv("OKTALAB_SANDBOX_DIR", str(sandbox))
    assert Environment.load().okta_api_token == Secret("from-sandbox")
    monkeypatch.setenv("OKTA_API_TOKEN_FILE", str(token_file))
    assert Environment.load().okta_api_token == Secret("from-file")
    monkeypatch.setenv("OKTA_API_TOKEN", "from-env")
    assert Environment.load().okta_api_token == Secret("from-env")
    # an external target never falls back to the sandbox's credentials
    monkeypatch.delenv("OKTA_API_TOKEN")
    monkeypatch.delenv("OKTA_API_TOKEN_FILE")
    assert Environment.load(target="external").okta_api_token is None


def test_require_lists_every_missing_setting() -> None:
    with pytest.raises(ConfigurationError) as info:
        Environment.load(target="external", env={}).require(
            "okta_org_url", "okta_api_token", "kubeconfig"
        )
    msg = str(info.value)
    assert (
        "OKTA_ORG_URL" in msg
        and "OKTA_API_TOKEN" in msg
        and "KUBECONFIG" in msg
        and "oktalab sandbox start" in msg
    )


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="OKTA_API_TOKEN_FILE"):
        Environment.load(target="external", env={"OKTA_API_TOKEN_FILE": str(tmp_path / "missing")})


def test_env_file_format(tmp_path: Path) -> None:
    f = tmp_path / "e.env"
    f.write_text("# comment\nA=1\nexport B='two words'\n\nC=x=y\n")
    assert read_env_file(f) == {"A": "1", "B": "two words", "C": "x=y"}
