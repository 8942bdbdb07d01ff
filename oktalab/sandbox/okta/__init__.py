"""Embedded sandbox Okta org: an Okta-compatible server that clients written against Okta's
documentation (and Okta's own SDK) use unchanged.

    org = OktaOrg(Database(path), org_url="http://127.0.0.1:43123")
    org.seed(api_token=..., test_username=..., test_password=...)
    app = create_okta_app(org)          # one Starlette ASGI app

Served (all state in SQLite tables ``okta_*``; every absolute URL derives from ``org_url``):

* Management API (SSWS token, or an org-AS Bearer token with ``okta.*`` scopes): apps (+ client
  secrets, group/user assignments, scope grants, policy mapping), groups and members, users and
  lifecycle, authorization servers (claims, scopes, access policies and rules, keys and
  rotation), policies (PROFILE_ENROLLMENT with its single system rule), trusted origins,
  sessions, the user profile schema (custom attributes), and the internal app ID-token claim
  endpoint.
* OIDC/OAuth 2.0 for custom authorization servers (``/oauth2/{id|default}/…``) and the org
  authorization server (``/oauth2/v1/…``, ``/.well-known/openid-configuration``): discovery,
  keys, authorize (code + PKCE, implicit), token (authorization_code, refresh_token with
  rotation, password, client_credentials incl. private_key_jwt), userinfo, introspect, revoke,
  logout.
* Classic ``/api/v1/authn`` (one-time ``sessionToken``), hosted sign-in
  (``/login/login.htm``) and self-service sign-up (``/signin/register``) pages.
* Sandbox controls (SSWS token required): ``/__sandbox/faults`` (see :mod:`.faults`, also env
  ``OKTALAB_SANDBOX_FAULTS``) and ``/__sandbox/ratelimits`` (see :mod:`.ratelimit`, also env
  ``OKTALAB_SANDBOX_RATE_LIMITS``).

Request URLs carry one-time secrets exactly as Okta's do (``sessionToken`` on /authorize,
``code`` on the redirect), so run the server with access logs off.
"""

from .org import OktaOrg
from .server import create_okta_app

__all__ = ["OktaOrg", "create_okta_app"]
