"""The Gloo CRDs of this project, applied through kubectl, and one ExtAuthPolicy from the guide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import oktalab.sandbox

from .kubeharness import KubeServer, requires_kubectl

CRD_DIR = Path(oktalab.sandbox.__file__).parent / "gloo" / "crds"
CRDS = sorted(CRD_DIR.glob("*.yaml")) if CRD_DIR.is_dir() else []

pytestmark = [
    requires_kubectl,
    pytest.mark.skipif(not CRDS, reason="no Gloo CRDs in oktalab/sandbox/gloo/crds"),
]

POLICY = """
apiVersion: security.policy.gloo.solo.io/v2
kind: ExtAuthPolicy
metadata:
  name: oauth-okta
spec:
  applyToRoutes:
  - route:
      labels:
        oauth: "true"
  config:
    server:
      name: ext-auth-server
      namespace: gloo-mesh-addons
      cluster: cluster-1
    glooAuth:
      configs:
      - oauth2:
          accessTokenValidation:
            jwt:
              localJwks:
                inlineString: '{"keys":[]}'
"""


def test_gloo_crds_apply_and_extauthpolicy_round_trip(kube: KubeServer, ns: str) -> None:
    for path in CRDS:
        kube.kubectl("apply", "-f", str(path))
    for path in CRDS:
        assert (
            kube.kubectl("apply", "-f", str(path))
            .stdout.strip()
            .endswith(("unchanged", "configured"))
        )
    if not any("ExtAuthPolicy" in p.name for p in CRDS):
        pytest.skip("no ExtAuthPolicy CRD yet")
    kube.kubectl(
        "wait",
        "--for=condition=established",
        "crd/extauthpolicies.security.policy.gloo.solo.io",
        "--timeout=5s",
    )
    assert (
        kube.kubectl("apply", "-n", ns, "-f", "-", input=POLICY).stdout.strip().endswith("created")
    )
    assert (
        kube.kubectl("apply", "-n", ns, "-f", "-", input=POLICY)
        .stdout.strip()
        .endswith("unchanged")
    )
    status = {"status": {"common": {"State": {"approval": "ACCEPTED"}}}}
    kube.kubectl(
        "patch",
        "extauthpolicy",
        "oauth-okta",
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
        "extauthpolicy/oauth-okta",
        "--for=jsonpath={.status.common.State.approval}=ACCEPTED",
        "--timeout=10s",
    ).stdout
    assert "condition met" in out
    assert "ACCEPTED" in kube.kubectl("get", "extauthpolicy", "-n", ns).stdout
    explained = kube.kubectl("explain", "extauthpolicy.spec").stdout
    assert "applyToRoutes" in explained
