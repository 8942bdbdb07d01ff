"""The sandbox Okta org as a whole: its stored state plus what a new org already holds.

This module sits above the resource modules (they import :mod:`.state`, never this one), so
the import graph has no cycle: seeding needs the resources, the resources do not need seeding.
"""

from __future__ import annotations

from . import authz, groups, policies, users
from .state import OrgState, sha256_b64


class OktaOrg(OrgState):
    """One Okta org, persisted in ``db``; all absolute URLs derive from ``org_url``."""

    def seed(self, *, api_token: str, test_username: str, test_password: str) -> None:
        """Create the org's built-ins once; (re)set the API token and the test user every time.

        Built-ins: the ``Everyone`` group, the ``default`` authorization server with its
        default access policy, the org authorization server's signing key, the default
        profile enrollment policy and the preset app sign-in (ACCESS_POLICY) policies.
        """
        _ = self.org_id
        groups.ensure_everyone(self)
        authz.ensure_default_server(self)
        self.signing_key("org")
        policies.ensure_default_profile_enrollment(self)
        policies.ensure_preset_access_policies(self)
        self.set_meta("api_token_sha256", sha256_b64(api_token))
        users.ensure_user(
            self,
            {
                "login": test_username,
                "email": test_username,
                "firstName": "Test",
                "lastName": "User",
                "organization": "oktalab",
            },
            test_password,
        )
