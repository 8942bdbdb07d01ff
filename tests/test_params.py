from pathlib import Path

import pytest
import yaml

from oktalab import ParameterError, load_parameters
from oktalab.params import parse_parameters

ROOT = Path(__file__).resolve().parent.parent
GOOD = yaml.safe_load((ROOT / "parameters" / "sandbox.yaml").read_text())


def with_change(path: str, value: object) -> dict:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "parameters").glob("*.yaml")))
def test_shipped_parameter_files_are_valid(name: str) -> None:
    ps = load_parameters(ROOT / "parameters" / name)
    assert ps.stage_list


def test_defaults_fill_the_guide() -> None:
    ps = parse_parameters(GOOD)
    assert ps.stage_list == ["okta_app", "claims", "extauth", "portal_groups", "verify"]
    assert ps.extauth.route_labels == {"oauth": "true"}


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("app.type", "spa", "app.type", "'browser' or 'web'"),
        ("app.redirect_uris", ["not a url"], "app.redirect_uris", "absolute http(s) URL"),
        ("app.colour", "blue", "app.colour", "unknown parameter"),
        ("extauth.policy_name", "Oauth_Okta", "extauth.policy_name", "Kubernetes name"),
        ("extauth.route_labels", {}, "extauth.route_labels", "at least one label"),
        ("verify.protected_path", "productpage", "verify.protected_path", "starting with '/'"),
        ("stages", ["okta_app", "deploy"], "stages", "unknown stage"),
        ("claims.2.group_filter_type", None, "claims.2", "group_filter_type"),
        ("claims.0.name", "sub", "claims.0", "reserved claim"),
        ("sign_in", "sso", "sign_in", "'auto', 'idx' or 'authn'"),
    ],
)
def test_bad_values_name_the_field(path: str, value: object, field: str, words: str) -> None:
    with pytest.raises(ParameterError) as info:
        parse_parameters(with_change(path, value))
    text = str(info.value)
    assert field in text and words in text, text


def test_missing_required_field() -> None:
    data = dict(GOOD)
    del data["app"]
    with pytest.raises(ParameterError, match="app: required parameter is missing"):
        parse_parameters(data)


def test_secrets_are_refused_as_parameters() -> None:
    with pytest.raises(ParameterError, match=r"app.client_secret: secrets are not parameters"):
        parse_parameters(with_change("app.client_secret", "abc"))
    with pytest.raises(ParameterError, match=r"okta_api_token: secrets are not parameters"):
        parse_parameters({**GOOD, "okta_api_token": "00abc"})


def test_duplicate_claims_refused() -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["claims"].append({"name": "email", "value": "user.login"})
    with pytest.raises(ParameterError, match="duplicate claim names"):
        parse_parameters(data)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="not found"):
        load_parameters(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ParameterError, match="not valid YAML"):
        load_parameters(bad)


def test_overrides_merge_nested(tmp_path: Path) -> None:
    ps = load_parameters(ROOT / "parameters" / "sandbox.yaml", {"app": {"label": "other"}})
    assert ps.app.label == "other" and ps.app.type == "browser"


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        (
            "portal.groups.0.claims",
            {"organization": None},
            "portal.groups.0.claims",
            "has no value",
        ),
        ("portal.groups.0.claims", {}, "portal.groups.0.claims", "at least one claim"),
        ("portal.groups.0.products", [], "portal.groups.0.products", "grants no API product"),
        ("portal.groups.1.products", ["nope"], "portal", "['nope'] not among api_products"),
        (
            "portal.api_products.0.path",
            "ratings",
            "portal.api_products.0.path",
            "starting with '/'",
        ),
        ("portal.route_labels", {}, "portal.route_labels", "at least one label"),
        ("portal.domain", "http://portal", "portal.domain", "host name"),
    ],
)
def test_guide1_portal_bad_input_names_the_field(
    path: str, value: object, field: str, words: str
) -> None:
    """Refused at validation, before any call (the stage never sees such a set)."""
    with pytest.raises(ParameterError) as info:
        parse_parameters(with_change(path, value))
    text = str(info.value)
    assert field in text and words in text, text


def test_guide1_portal_section_and_derived_redirect_uris() -> None:
    ps = parse_parameters(GOOD)
    assert ps.portal is None and ps.gateway_portal is not None
    assert [g.claims for g in ps.gateway_portal.groups][0] == {"organization": "oktalab"}
    from oktalab.stages.portal_groups import granted_products

    assert granted_products(ps.gateway_portal, {"organization": "oktalab"}) == [
        "ratings",
        "reviews",
    ]
    assert granted_products(ps.gateway_portal, {"organization": ["partner"]}) == [
        "details",
        "ratings",
    ]
    assert granted_products(ps.gateway_portal, {}) == ["ratings"]
