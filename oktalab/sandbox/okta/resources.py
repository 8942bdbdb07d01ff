"""The Okta resources the sandbox org serves, declared once each: the table of kinds.

Each row says what Okta's API reference says about a collection (path and id parameter, the
Okta type named in a 404, id prefix, ``okta.*`` scope, parent, spec schema, list options,
lifecycle, what a delete requires and removes) and points at the module that holds what is
the resource's own (validation, rendering, special endpoints). :mod:`.rest` serves every row
with the same handlers; ``tests/okta/test_okta_structure.py`` checks each row against Okta's
published management spec.

Adding an endpoint: one row here, its ``render``/``build`` in the resource's module, and a
request in the spec conformance test.
"""

from __future__ import annotations

from typing import Any

from . import apps, authz, groups, origins, policies, rest, users

L = rest.Listing

APPS = rest.Resource(
    kind=apps.KIND,
    path="/api/v1/apps",
    id_param="appId",
    okta_type="AppInstance",
    schema="Application",
    prefix="0oa",
    scope="okta.apps",
    render=apps.render,
    listing=L(
        default_limit=200,
        q=("name", "label"),
        filter=frozenset(
            {"id", "status", "name", "credentials.signing.kid", "settings.slo.enabled"}
            | {"user.id", "group.id"}
        ),
        view=apps.filter_view,
    ),
    lifecycle=rest.Lifecycle(answer="empty"),
    delete_check=apps.refuse_active,
    links=tuple(
        (kind, "a") for kind in (apps.APP_GROUP, apps.APP_USER, apps.APP_POLICY, apps.APP_GRANT)
    ),
    on_delete=apps.delete_id_token_settings,
    custom={"create": apps.create_app, "replace": apps.replace_app},
)
SECRETS = rest.Resource(
    kind=apps.SECRET,
    path="credentials/secrets",
    id_param="secretId",
    okta_type="OAuth2ClientSecret",
    prefix="ocs",
    render=apps.render_secret,
    parent=APPS,
    ops=("list", "create", "get", "delete"),
    lifecycle=rest.Lifecycle(answer="object", check=apps.keep_one_active),
    delete_check=apps.refuse_active_secret,
    custom={"create": apps.create_secret},
)
GROUPS = rest.Resource(
    kind=groups.KIND,
    path="/api/v1/groups",
    id_param="groupId",
    okta_type="UserGroup",
    schema="Group",
    prefix="00g",
    scope="okta.groups",
    render=groups.render,
    build=groups.build,
    listing=L(
        default_limit=10000,
        max_limit=10000,
        q=("profile.name",),
        filter=frozenset({"id", "type", "lastUpdated", "lastMembershipUpdated"}),
        search=True,
    ),
    delete_check=groups.refuse_built_in,
    links=((groups.MEMBER, "a"), (apps.APP_GROUP, "b")),
)
USERS = rest.Resource(
    kind=users.KIND,
    path="/api/v1/users",
    id_param="id",
    okta_type="User",
    prefix="00u",
    scope="okta.users",
    render=users.render,
    listing=L(
        default_limit=200,
        q=tuple(f"profile.{f}" for f in ("firstName", "lastName", "email", "login")),
        q_limit=10,
        filter=frozenset(
            {"id", "status", "lastUpdated", "created", "type.id"}
            | {f"profile.{f}" for f in ("login", "email", "firstName", "lastName")}
        ),
        search=True,
        hidden=users.deprovisioned,
    ),
    lookup=users.lookup,
    links=((groups.MEMBER, "b"), (apps.APP_USER, "b")),
    custom={
        "create": users.post_user,
        "replace": users.update_user,
        "delete": users.delete_user,
        "lifecycle": users.lifecycle,
    },
    update_methods=("POST", "PUT"),
)

# ---- authorization servers: POST answers 201 and PUT replaces all under a server ----------------
SERVERS = rest.Resource(
    kind=authz.SERVER,
    path="/api/v1/authorizationServers",
    id_param="authServerId",
    okta_type="AuthorizationServer",
    prefix="aus",
    scope="okta.authorizationServers",
    render=authz.render_server,
    build=authz.build_server,
    listing=L(default_limit=200, q=("name",)),
    create_status=201,
    lifecycle=rest.Lifecycle(answer="none"),
    delete_check=authz.deletable,
    after_create=authz.after_create_server,
    lookup=authz.lookup_server,
)
_CHILD: dict[str, Any] = {"create_status": 201, "merge": False}
# claims and scopes carry no timestamps, and the system ones are read-only (E0000111)
_NAMED: dict[str, Any] = {**_CHILD, "parent": SERVERS, "timestamps": False, "system": "E0000111"}
CLAIMS = rest.Resource(
    kind=authz.CLAIM,
    path="claims",
    id_param="claimId",
    okta_type="OAuth2Claim",
    prefix="ocl",
    render=authz.render_claim,
    build=authz.build_claim,
    **_NAMED,
)
SCOPES = rest.Resource(
    kind=authz.SCOPE,
    path="scopes",
    id_param="scopeId",
    okta_type="OAuth2Scope",
    prefix="scp",
    render=authz.render_scope,
    build=authz.build_scope,
    listing=L(q=("name",)),
    **_NAMED,
)
AS_POLICIES = rest.Resource(
    kind=authz.POLICY,
    path="policies",
    id_param="policyId",
    okta_type="AuthorizationServerPolicy",
    prefix="00p",
    render=authz.render_policy,
    build=authz.build_policy,
    parent=SERVERS,
    lifecycle=rest.Lifecycle(answer="none"),
    **_CHILD,
)
AS_RULES = rest.Resource(
    kind=authz.RULE,
    path="rules",
    id_param="ruleId",
    okta_type="AuthorizationServerPolicyRule",
    prefix="0pr",
    render=authz.render_rule,
    build=authz.build_rule,
    parent=AS_POLICIES,
    lifecycle=rest.Lifecycle(answer="none"),
    **_CHILD,
)

# ---- policies: system policies and rules can be replaced (name kept) but not deleted ------------
POLICIES = rest.Resource(
    kind=policies.KIND,
    path="/api/v1/policies",
    id_param="policyId",
    okta_type="Policy",
    prefix=policies.id_prefix,
    scope="okta.policies",
    render=policies.render,
    build=policies.build_policy,
    listing=L(select=policies.select),
    lifecycle=rest.Lifecycle(answer="none", check=policies.keep_system_active),
    system="E0000006",
    protect_put=False,
    delete_check=policies.refuse_in_use,
    on_delete=policies.unmap_apps,
    after_create=policies.after_create,
    custom={"get": policies.get_policy_ep},
)
POLICY_RULES = rest.Resource(
    kind=policies.RULE,
    path="rules",
    id_param="ruleId",
    okta_type="PolicyRule",
    prefix="0pr",
    render=policies.render_rule,
    build=policies.build_rule,
    parent=POLICIES,
    lifecycle=rest.Lifecycle(answer="none", check=policies.keep_system_active),
    system="E0000006",
    protect_put=False,
)

TRUSTED_ORIGINS = rest.Resource(
    kind=origins.KIND,
    path="/api/v1/trustedOrigins",
    id_param="trustedOriginId",
    okta_type="TrustedOrigin",
    prefix="tos",
    scope="okta.trustedOrigins",
    render=origins.render,
    build=origins.build,
    listing=L(default_limit=20, q=("name", "origin")),
    lifecycle=rest.Lifecycle(answer="object"),
)

routes = rest.routes(*rest.REGISTRY)
