"""Embedded sandbox Okta org: an Okta-compatible server (Management API, OIDC, authn, hosted pages)."""

from .org import OktaOrg
from .server import create_okta_app

__all__ = ["OktaOrg", "create_okta_app"]
