"""Fast checks of issue 15's pure parts: why a gateway check failed, the plan's field diff,
and the ``extauth.jwks`` parameter."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from oktalab_support import ROOT

from oktalab.errors import ParameterError
from oktalab.params import load_parameters
from oktalab.stages.kubeobjects import field_diff
from oktalab.stages.verify import tamper, token_cause


def _key(kid: str) -> tuple[rsa.RSAPrivateKey, dict]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return private, {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


@pytest.fixture(scope="module")
def keys() -> dict:
    (k1, j1), (k2, j2) = _key("k1"), _key("k2")
    return {"k1": k1, "k2": k2, "jwks": {"keys": [j1]}, "j2": j2}


def _sign(private: rsa.RSAPrivateKey, kid: str, **claims: object) -> str:
    body = {"sub": "u", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, private, algorithm="RS256", headers={"kid": kid})


def test_token_causes(keys: dict) -> None:
    jwks = keys["jwks"]
    good = _sign(keys["k1"], "k1")
    assert token_cause(None, jwks, set()) == "no token"
    assert token_cause("not-a-jwt", jwks, set()) == "malformed token (not a JWS)"
    assert token_cause(good, jwks, {"k1"}) == "valid signature and times"
    assert token_cause(tamper(good), jwks, {"k1"}) == "bad signature"
    rotated = _sign(keys["k2"], "k2")
    assert token_cause(rotated, jwks, {"k1", "k2"}) == (
        "unknown kid k2: the org still publishes it (the policy's keys are stale)"
    )
    assert token_cause(rotated, jwks, {"k1"}) == "unknown kid k2: the org does not publish it"
    old = _sign(keys["k1"], "k1", exp=int(time.time()) - 120)
    cause = token_cause(old, jwks, {"k1"})
    assert cause.startswith("expired ") and cause.endswith("s ago")
    assert 119 <= int(cause.split()[1].rstrip("s")) <= 200
    # a key the policy has, but the token was signed by another key under that kid
    forged = _sign(keys["k2"], "k1")
    assert token_cause(forged, jwks, {"k1"}) == "bad signature"


def test_plan_diff_names_fields_and_masks_secrets() -> None:
    before = {
        "kind": "ExtAuthPolicy",
        "spec": {
            "configs": [
                {"jwt": {"issuer": "a", "localJwks": {"inlineString": '{"keys":[{"kid":"k1"}]}'}}}
            ]
        },
    }
    after = json.loads(json.dumps(before))
    after["spec"]["configs"][0]["jwt"]["localJwks"]["inlineString"] = (
        '{"keys":[{"kid":"k2"},{"kid":"k1"}]}'
    )
    diff = field_diff(before, after, (".spec.configs",), secret=False)
    assert diff == (
        ".spec.configs[0].jwt.localJwks.inlineString: JWKS kids [k1] -> JWKS kids [k2, k1]"
    )
    assert field_diff(None, after, ("(new object)",), secret=False) == "create"
    old = base64.b64encode(b"old-secret").decode()
    new = base64.b64encode(b"new-secret").decode()
    diff = field_diff({"data": {"k": old}}, {"data": {"k": new}}, (".data",), secret=True)
    assert diff == ".data: (masked) -> (masked)" and old not in diff and new not in diff


def test_jwks_mode_is_validated(tmp_path) -> None:
    import yaml

    data = yaml.safe_load((ROOT / "parameters" / "sandbox.yaml").read_text())
    data["extauth"]["jwks"] = "remote"
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(data))
    assert load_parameters(f).extauth.jwks == "remote"
    data["extauth"]["jwks"] = "fetched"
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(ParameterError, match=r"extauth\.jwks"):
        load_parameters(f)
