"""The services `loctocat.predefined` knows: each one's endpoints, parameters, quirks and sources.

Data only. Each fact cites where it comes from (`verified`), and the facts no source backs are
named (`unverified`); the notes users read say only what they can act on.
"""

from __future__ import annotations

from loctocat._flow import DEVICE_CODE_GRANT, Quirks
from loctocat._provider import Provider, ProviderParameter, Source, WhoAmI

__all__ = [
    "AMAZON",
    "AUTH0",
    "AUTHENTIK",
    "GITHUB",
    "GITLAB",
    "GOOGLE",
    "HUGGING_FACE",
    "KEYCLOAK",
    "MICROSOFT",
    "OKTA",
    "ORY",
    "SERVICES",
    "TWITCH",
    "YANDEX",
    "ZITADEL",
    "ZOOM",
]

_GITHUB_HOST = ProviderParameter(
    "host",
    "the GitHub host: github.com, or your GitHub Enterprise Server's host name",
    "github.com",
    "host",
)

GITHUB = Provider(
    name="github",
    title="GitHub",
    description=(
        "GitHub.com and GitHub Enterprise Server (host=). Enable 'Device Flow' in the OAuth "
        "app's or GitHub App's settings; no client secret. Replies are form-encoded unless "
        "asked for JSON (loctocat asks), errors can come with HTTP 200, slow_down carries the "
        "new interval, and there is no verification_uri_complete."
    ),
    docs_url=(
        "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/"
        "authorizing-oauth-apps#device-flow"
    ),
    device_authorization_url="https://{host}/login/device/code",
    token_url="https://{host}/login/oauth/access_token",
    parameters=(_GITHUB_HOST,),
    quirks=Quirks(
        error_aliases={
            "incorrect_client_credentials": "invalid_client",
            "incorrect_device_code": "invalid_grant",
            # A spent or expired refresh token (answered with HTTP 200): log in again.
            "bad_refresh_token": "invalid_grant",
            "device_flow_disabled": "unauthorized_client",
            # The docs' table names expired_token, its prose token_expired: both are read.
            "token_expired": "expired_token",
        },
        error_hints={
            "device_flow_disabled": (
                "enable Device Flow in the app's settings: GitHub > Settings > Developer "
                "settings > your app > 'Enable Device Flow'"
            ),
            "incorrect_client_credentials": (
                "check the client_id: use the Client ID shown in your OAuth app's or GitHub "
                "App's settings"
            ),
            "incorrect_device_code": "the device code is not valid; start a new login",
            "unsupported_grant_type": (
                f"GitHub expects grant_type={DEVICE_CODE_GRANT}; check the token_url"
            ),
        },
    ),
    refresh=(
        "only GitHub Apps with expiring user tokens; single-use: each refresh returns a new "
        "refresh token and ends the old one"
    ),
    who_am_i=WhoAmI(
        "https://{host}/api/v3/user",
        name_field="login",
        subject_field="id",
        urls={"https://github.com/api/v3/user": "https://api.github.com/user"},
    ),
    git_host="{host}",
    # Any username goes with a token; gh answers x-access-token when it knows no login.
    git_username="x-access-token",
    verified=(
        Source(
            "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/"
            "authorizing-oauth-apps#device-flow",
            "endpoints, parameters, form-encoded answers, error codes (token_expired in the "
            "prose), slow_down's new interval, no verification_uri_complete, GET /user",
        ),
        Source(
            "https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/"
            "refreshing-user-access-tokens",
            "refresh: GitHub Apps with expiring tokens, single-use, no client secret needed",
        ),
        Source(
            "cli/oauth device/device_flow_test.go",
            "errors answered with HTTP 200",
            "client",
        ),
        Source(
            "cli/cli pkg/cmd/auth/gitcredential/helper.go",
            "git over HTTPS takes the token as the password, username x-access-token",
            "client",
        ),
    ),
)

GITLAB = Provider(
    name="gitlab",
    title="GitLab",
    description=(
        "GitLab.com or a self-managed instance (base_url=), GitLab 17.3 or later (on by "
        "default from 17.3, generally available in 17.9). No client secret for "
        "non-confidential applications; tokens carry created_at (kept in Token.extra)."
    ),
    docs_url="https://docs.gitlab.com/api/oauth2/#device-authorization-grant-flow",
    device_authorization_url="{base_url}/oauth/authorize_device",
    token_url="{base_url}/oauth/token",
    revocation_url="{base_url}/oauth/revoke",
    issuer="{base_url}",
    parameters=(
        ProviderParameter(
            "base_url", "the GitLab instance's URL", "https://gitlab.com", "base_url"
        ),
    ),
    client_secret="optional",
    refresh=(
        "rotating: each refresh returns a new refresh token and invalidates the old access and "
        "refresh tokens"
    ),
    who_am_i=WhoAmI("{base_url}/api/v4/user", name_field="username", subject_field="id"),
    git_host="{base_url}",
    git_username="oauth2",
    verified=(
        Source(
            "https://docs.gitlab.com/api/oauth2/#device-authorization-grant-flow",
            "endpoints, parameters, verification_uri_complete, error codes, availability "
            "(17.3, 17.9), rotating refresh, revocation, GET /api/v4/user",
        ),
        Source(
            "https://docs.gitlab.com/api/oauth2/#access-git-over-https-with-access-token",
            "git over HTTPS: the token as the password, username oauth2",
        ),
        Source(
            "gitlabhq/gitlabhq config/initializers/doorkeeper.rb",
            "refresh tokens for every grant, the device grant included; client credentials "
            "read from HTTP Basic or the body",
            "code",
        ),
    ),
    unverified=(
        "the HTTP status of polling errors",
        "whether the discovery document lists the device endpoint",
    ),
)

MICROSOFT = Provider(
    name="microsoft",
    title="Microsoft Entra ID",
    description=(
        "Microsoft identity platform v2.0 (work, school and personal accounts). tenant= is "
        "'common', 'organizations', 'consumers', a tenant ID or a domain. Register a public "
        "client ('Allow public client flows'). The device answer's 'message' is kept in "
        "LoctocatAuthInfo.extra. Ask for 'offline_access' to get a refresh token. The "
        "'common' and 'organizations' metadata names its issuer with a {tenantid} "
        "placeholder, which loctocat fills with the tenant, as MSAL does."
    ),
    docs_url="https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code",
    device_authorization_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
    token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
    issuer="https://login.microsoftonline.com/{tenant}/v2.0",
    parameters=(
        ProviderParameter(
            "tenant",
            "who may sign in: common, organizations, consumers, a tenant ID or domain",
            "common",
        ),
    ),
    quirks=Quirks(
        error_aliases={
            "authorization_declined": "access_denied",
            "bad_verification_code": "invalid_grant",
        },
    ),
    refresh="with the offline_access scope; rotating: each refresh returns a new refresh token",
    who_am_i=WhoAmI("https://graph.microsoft.com/oidc/userinfo", name_field="name"),
    # Every tenant's keys, common/organizations/consumers included, are at this path; their
    # ID tokens name their own tenant's issuer (consumers: 9188040d-6c67-4c5b-b112-36a304b66dad).
    jwks_uri="https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys",
    id_token_issuers=("https://login.microsoftonline.com/{tenantid}/v2.0",),
    verified=(
        Source(
            "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code",
            "endpoints, parameters, message, no verification_uri_complete, error codes "
            "(authorization_declined, bad_verification_code), refresh with offline_access",
        ),
        Source(
            "https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens",
            "refresh tokens replace themselves on every use",
        ),
        Source(
            "https://learn.microsoft.com/en-us/entra/identity-platform/userinfo",
            "the userinfo endpoint and its claims",
        ),
        Source(
            "https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference",
            "ID tokens name their tenant's issuer (tid; 9188040d-6c67-4c5b-b112-36a304b66dad for "
            "personal accounts)",
        ),
        Source(
            "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
            "jwks_uri at /{tenant}/discovery/v2.0/keys; issuer with {tenantid}",
        ),
        Source(
            "AzureAD/microsoft-authentication-library-for-js "
            "lib/msal-common/src/authority/AuthorityMetadata.ts",
            "the common and organizations metadata name the issuer with {tenantid}",
            "client",
        ),
        Source(
            "https://github.com/AzureAD/azure-activedirectory-library-for-nodejs/issues/137",
            "authorization_pending comes with HTTP 400",
            "issue",
        ),
    ),
)

GOOGLE = Provider(
    name="google",
    title="Google",
    description=(
        "OAuth client of type 'TVs and Limited Input devices'. The client secret is required "
        "(sent in the body). Only a limited list of scopes is allowed (others: invalid_scope). "
        "Google names the field verification_url; loctocat reads it."
    ),
    docs_url="https://developers.google.com/identity/protocols/oauth2/limited-input-device",
    device_authorization_url="https://oauth2.googleapis.com/device/code",
    token_url="https://oauth2.googleapis.com/token",
    revocation_url="https://oauth2.googleapis.com/revoke",
    issuer="https://accounts.google.com",
    client_secret="required",
    refresh="yes: every login returns a refresh token (this flow has no offline switch)",
    who_am_i=WhoAmI("https://openidconnect.googleapis.com/v1/userinfo", name_field="email"),
    jwks_uri="https://www.googleapis.com/oauth2/v3/certs",
    # "The value of iss in the ID token is equal to https://accounts.google.com or
    # accounts.google.com."
    id_token_issuers=("https://accounts.google.com", "accounts.google.com"),
    verified=(
        Source(
            "https://developers.google.com/identity/protocols/oauth2/limited-input-device",
            "endpoints, the limited scope list",
        ),
        Source(
            "https://developers.google.com/identity/gsi/web/guides/devices",
            "the client type, the client secret",
        ),
        Source(
            "https://developers.google.com/identity/sign-in/devices",
            "the answer holds an ID token, an access token and a refresh token",
        ),
        Source(
            "https://developers.google.com/identity/openid-connect/openid-connect"
            "#obtaininguserprofileinformation",
            "the userinfo endpoint and its claims",
        ),
        Source(
            "https://developers.google.com/identity/openid-connect/openid-connect"
            "#validatinganidtoken",
            "ID tokens' iss is https://accounts.google.com or accounts.google.com; the keys "
            "at www.googleapis.com/oauth2/v3/certs",
        ),
        Source(
            "https://github.com/cli/oauth/pull/24",
            "the verification_url field; the secret required when polling",
            "client",
        ),
    ),
    unverified=("the error table and its HTTP statuses",),
)

AUTH0 = Provider(
    name="auth0",
    title="Auth0",
    description=(
        "Auth0 tenant (domain=, e.g. 'example.us.auth0.com' or a custom domain). Enable the "
        "Device Code grant for a native application (public: confidential clients are not "
        "supported); audience= names the API the token is for. Pending and denied answers "
        "come with HTTP 403, slow_down with HTTP 429 (loctocat reads the code either way). A "
        "code answers expired_token once, then invalid_grant."
    ),
    docs_url=(
        "https://auth0.com/docs/get-started/authentication-and-authorization-flow/"
        "device-authorization-flow/call-your-api-using-the-device-authorization-flow"
    ),
    device_authorization_url="https://{domain}/oauth/device/code",
    token_url="https://{domain}/oauth/token",
    revocation_url="https://{domain}/oauth/revoke",
    issuer="https://{domain}/",
    parameters=(
        ProviderParameter("domain", "your Auth0 tenant's domain", None, "host"),
        ProviderParameter(
            "audience", "the API identifier, sent with the device request", "", "device_param"
        ),
    ),
    refresh="with offline_access, when the API allows offline access",
    who_am_i=WhoAmI("https://{domain}/userinfo", name_field="nickname"),
    verified=(
        Source(
            "auth0/docs-v2 main/docs/get-started/authentication-and-authorization-flow/"
            "device-authorization-flow/call-your-api-using-the-device-authorization-flow.mdx",
            "endpoints, parameters, error codes and their HTTP statuses (403, slow_down 429), "
            "expired_token once, no confidential clients, refresh with offline_access, userinfo",
        ),
    ),
)

OKTA = Provider(
    name="okta",
    title="Okta",
    description=(
        "Okta custom authorization server (domain=, authorization_server= default 'default'). "
        "Enable the Device Authorization grant for a native app. The org authorization server "
        "(/oauth2/v1/...) is not covered: use Authenticator with its URLs."
    ),
    docs_url="https://developer.okta.com/docs/guides/device-authorization-grant/main/",
    device_authorization_url="https://{domain}/oauth2/{authorization_server}/v1/device/authorize",
    token_url="https://{domain}/oauth2/{authorization_server}/v1/token",
    revocation_url="https://{domain}/oauth2/{authorization_server}/v1/revoke",
    issuer="https://{domain}/oauth2/{authorization_server}",
    parameters=(
        ProviderParameter("domain", "your Okta domain, e.g. example.okta.com", None, "host"),
        ProviderParameter(
            "authorization_server", "the custom authorization server's ID", "default"
        ),
    ),
    refresh="with offline_access",
    who_am_i=WhoAmI(
        "https://{domain}/oauth2/{authorization_server}/v1/userinfo",
        name_field="preferred_username",
    ),
    verified=(
        Source(
            "okta/okta-developer-docs packages/@okta/vuepress-site/docs/guides/"
            "device-authorization-grant/main/index.md",
            "endpoints, parameters, authorization_pending, revocation, refresh with "
            "offline_access, native apps",
        ),
        Source(
            "https://developer.okta.com/docs/api/openapi/okta-oauth/oauth/tag/CustomAS/",
            "the userinfo endpoint",
        ),
    ),
    unverified=("the HTTP status of errors", "whether refresh tokens rotate (set per app)"),
)

KEYCLOAK = Provider(
    name="keycloak",
    title="Keycloak",
    description=(
        "Keycloak realm (base_url=, realm=). Turn on 'OAuth 2.0 Device Authorization Grant' "
        "for the client; confidential clients also pass client_secret= (sent in the body)."
    ),
    docs_url="https://www.keycloak.org/securing-apps/oidc-layers",
    device_authorization_url="{base_url}/realms/{realm}/protocol/openid-connect/auth/device",
    token_url="{base_url}/realms/{realm}/protocol/openid-connect/token",
    revocation_url="{base_url}/realms/{realm}/protocol/openid-connect/revoke",
    issuer="{base_url}/realms/{realm}",
    parameters=(
        ProviderParameter(
            "base_url", "the Keycloak server's URL, e.g. https://sso.example.com", None, "base_url"
        ),
        ProviderParameter("realm", "the realm's name"),
    ),
    client_secret="optional",
    refresh="yes: the token answer carries a refresh token and an ID token",
    who_am_i=WhoAmI(
        "{base_url}/realms/{realm}/protocol/openid-connect/userinfo",
        name_field="preferred_username",
    ),
    verified=(
        Source(
            "keycloak/keycloak docs/documentation/securing_apps/topics/oidc/"
            "available-endpoints.adoc",
            "endpoints (device, token, userinfo, revoke) for public and confidential clients",
            "code",
        ),
        Source(
            "keycloak/keycloak services/src/main/java/org/keycloak/protocol/oidc/grants/"
            "device/DeviceGrantType.java",
            "polling errors, all with HTTP 400",
            "code",
        ),
        Source(
            "keycloak/keycloak docs/documentation/securing_apps/topics/oidc/"
            "supported-grant-types.adoc",
            "refresh and ID tokens in the answer",
            "code",
        ),
    ),
)

ZITADEL = Provider(
    name="zitadel",
    title="ZITADEL",
    description=(
        "ZITADEL instance (domain=). Enable the Device Code grant for a native app; its "
        "discovery document lists the device endpoint."
    ),
    docs_url="https://zitadel.com/docs/guides/integrate/login/oidc/device-authorization",
    device_authorization_url="https://{domain}/oauth/v2/device_authorization",
    token_url="https://{domain}/oauth/v2/token",
    revocation_url="https://{domain}/oauth/v2/revoke",
    issuer="https://{domain}",
    parameters=(
        ProviderParameter(
            "domain", "your instance's domain, e.g. example.zitadel.cloud", None, "host"
        ),
    ),
    client_secret="optional",
    refresh="with offline_access; rotating: each refresh returns a new refresh token",
    who_am_i=WhoAmI("https://{domain}/oidc/v1/userinfo", name_field="preferred_username"),
    verified=(
        Source(
            "https://zitadel.com/docs/guides/integrate/login/oidc/device-authorization",
            "native app with the Device Code grant, verification_uri_complete, polling",
        ),
        Source(
            "zitadel/zitadel docs/docs/apis/openidoauth/endpoints.mdx",
            "endpoints, client authentication methods, refresh with offline_access and a new "
            "refresh token on each refresh",
            "code",
        ),
        Source(
            "zitadel/zitadel internal/api/oidc",
            "the discovery document lists the device endpoint",
            "code",
        ),
    ),
)

AUTHENTIK = Provider(
    name="authentik",
    title="authentik",
    description=(
        "authentik (base_url=). Set a device code flow on the brand and use a public OAuth2 "
        "provider; the paths end with a slash. The device endpoint throttles with slow_down "
        "and HTTP 429."
    ),
    docs_url="https://docs.goauthentik.io/add-secure-apps/providers/oauth2/device_code/",
    device_authorization_url="{base_url}/application/o/device/",
    token_url="{base_url}/application/o/token/",
    revocation_url="{base_url}/application/o/revoke/",
    parameters=(
        ProviderParameter(
            "base_url",
            "the authentik server's URL, e.g. https://auth.example.com",
            None,
            "base_url",
        ),
    ),
    client_secret="optional",
    refresh=(
        "with offline_access (authentik 2024.2 and later); rotation is a setting of the provider"
    ),
    who_am_i=WhoAmI("{base_url}/application/o/userinfo/", name_field="preferred_username"),
    verified=(
        Source(
            "https://docs.goauthentik.io/add-secure-apps/providers/oauth2/device_code/",
            "endpoints, parameters, authorization_pending, verification_uri_complete",
        ),
        Source(
            "goauthentik/authentik authentik/providers/oauth2/views/device_backchannel.py",
            "the scope parameter, interval 5, slow_down with HTTP 429 at the device endpoint",
            "code",
        ),
        Source(
            "goauthentik/authentik website/docs/add-secure-apps/providers/oauth2/index.mdx",
            "endpoints (userinfo, revoke), refresh with offline_access, rotation setting",
            "code",
        ),
    ),
)

ORY = Provider(
    name="ory",
    title="Ory",
    description=(
        "Ory Network project or self-hosted Ory Hydra 2.3+ (base_url=). A confidential client "
        "authenticates with HTTP Basic by default (client_secret_basic), which loctocat uses."
    ),
    docs_url="https://www.ory.sh/docs/oauth2-oidc/device-authorization",
    device_authorization_url="{base_url}/oauth2/device/auth",
    token_url="{base_url}/oauth2/token",
    revocation_url="{base_url}/oauth2/revoke",
    issuer="{base_url}",
    parameters=(
        ProviderParameter("base_url", "your Ory project's or Hydra's public URL", None, "base_url"),
    ),
    client_secret="optional",
    client_auth="basic",
    refresh="with offline_access; single-use: each refresh returns a new refresh token",
    who_am_i=WhoAmI("{base_url}/userinfo", name_field="sub"),
    verified=(
        Source(
            "https://www.ory.sh/docs/oauth2-oidc/device-authorization",
            "parameters, verification_uri_complete, interval, polling",
        ),
        Source("ory/hydra cmd/cmd_perform_device_flow.go", "endpoints", "code"),
        Source(
            "ory/hydra client/client.go",
            "client_secret_basic is the default client authentication",
            "code",
        ),
        Source(
            "https://www.ory.sh/docs/oauth2-oidc/refresh-token-grant",
            "refresh with offline_access, single-use refresh tokens",
        ),
        Source("https://www.ory.sh/docs/oauth2-oidc/userinfo-oidc", "the userinfo endpoint"),
    ),
    unverified=("the revocation path", "the HTTP status of errors"),
)

HUGGING_FACE = Provider(
    name="huggingface",
    title="Hugging Face",
    description=(
        "Hugging Face OAuth app. Public apps need no secret; for apps with a secret pass "
        "client_secret=, sent as HTTP Basic on both requests as the docs require."
    ),
    docs_url="https://huggingface.co/docs/hub/oauth#device-code-oauth",
    device_authorization_url="https://huggingface.co/oauth/device",
    token_url="https://huggingface.co/oauth/token",
    issuer="https://huggingface.co",
    client_secret="optional",
    client_auth="basic",
    refresh="when the answer carries a refresh token; it may rotate on refresh",
    who_am_i=WhoAmI("https://huggingface.co/api/whoami-v2", name_field="name", subject_field="id"),
    git_host="huggingface.co",
    git_username="hf_user",
    verified=(
        Source(
            "https://huggingface.co/docs/hub/oauth#device-code-oauth",
            "endpoints, parameters, public apps, HTTP Basic on both requests for apps with a "
            "secret, whoami-v2",
        ),
        Source(
            "huggingface/huggingface_hub src/huggingface_hub/_oauth_device.py",
            "error codes, optional and rotating refresh tokens",
            "client",
        ),
        Source(
            "huggingface/huggingface_hub src/huggingface_hub/utils/_git_credential.py",
            "git over HTTPS: a token as the password, username hf_user",
            "client",
        ),
    ),
    unverified=("whether git over HTTPS takes an OAuth app's token (documented for user tokens)",),
)

TWITCH = Provider(
    name="twitch",
    title="Twitch",
    description=(
        "Twitch app (public client, or confidential with client_secret= in the body). The "
        "scope parameter is named 'scopes'; the token's scope comes as a JSON array, which "
        "loctocat joins with spaces. Errors come as HTTP 400 with the code in a 'message' "
        "field (no 'error'), which loctocat reads; early polls may answer 'invalid device "
        "code' instead of authorization_pending (a known Twitch bug): start a new login then."
    ),
    docs_url=(
        "https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/#device-code-grant-flow"
    ),
    device_authorization_url="https://id.twitch.tv/oauth2/device",
    token_url="https://id.twitch.tv/oauth2/token",
    revocation_url="https://id.twitch.tv/oauth2/revoke",
    client_secret="optional",
    quirks=Quirks(
        scope_param="scopes",
        error_field="message",
        error_aliases={
            "invalid device code": "invalid_grant",
            # A refresh: {"error": "Bad Request", "status": 400, "message": "Invalid refresh token"}
            "Invalid refresh token": "invalid_grant",
        },
    ),
    refresh="yes; each refresh may return a new refresh token",
    who_am_i=WhoAmI(
        "https://id.twitch.tv/oauth2/validate",
        name_field="login",
        subject_field="user_id",
        scheme="OAuth",
    ),
    verified=(
        Source(
            "https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/"
            "#device-code-grant-flow",
            "endpoints",
        ),
        Source(
            "https://github.com/twitchdev/issues/issues/975",
            "pending and slow_down as HTTP 400 with the code in 'message'",
            "issue",
        ),
        Source(
            "https://github.com/openiddict/openiddict-core/pull/2142",
            "the error code in 'message', not 'error'",
            "client",
        ),
        Source(
            "https://github.com/twitchdev/issues/issues/952",
            "the poll's grant_type is the RFC's URN",
            "issue",
        ),
        Source(
            "https://github.com/twitchdev/issues/issues/971",
            "early polls may answer 'invalid device code'",
            "issue",
        ),
        Source(
            "https://github.com/golang/go/issues/65943",
            "the scope parameter is named 'scopes'",
            "issue",
        ),
        Source(
            "https://dev.twitch.tv/docs/authentication/refresh-tokens/",
            "the scope as a JSON array; refresh; a refused refresh token is 'Invalid refresh "
            "token' in 'message'",
        ),
        Source(
            "https://dev.twitch.tv/docs/authentication/validate-tokens/",
            "who a token belongs to: /oauth2/validate with 'Authorization: OAuth'",
        ),
    ),
    unverified=(
        "whether the poll must repeat 'scopes' (loctocat does not send it)",
        "how a confidential app's secret travels",
    ),
)

AMAZON = Provider(
    name="amazon",
    title="Login with Amazon",
    description=(
        "Login with Amazon code-based linking. The device request carries "
        "response_type=device_code and a scope is required (profile, profile:user_id, "
        "postal_code); polls use grant_type=device_code with device_code and user_code. "
        "loctocat also sends client_id with each poll, as RFC 8628 §3.4 requires of public "
        "clients; servers ignore parameters they do not know (RFC 6749 §3.1)."
    ),
    docs_url=(
        "https://developer.amazon.com/docs/login-with-amazon/"
        "retrieve-token-other-platforms-cbl-docs.html"
    ),
    device_authorization_url="https://api.amazon.com/auth/o2/create/codepair",
    token_url="https://api.amazon.com/auth/o2/token",
    device_params={"response_type": "device_code"},
    quirks=Quirks(grant_type="device_code", poll_code_fields=("user_code",)),
    refresh="rotating: each refresh returns a new access token and a new refresh token",
    who_am_i=WhoAmI(
        "https://api.amazon.com/user/profile", name_field="name", subject_field="user_id"
    ),
    verified=(
        Source(
            "https://developer.amazon.com/docs/login-with-amazon/"
            "retrieve-code-other-platforms-cbl-docs.html",
            "the device request: response_type, client_id, the required scope, the answer",
        ),
        Source(
            "https://developer.amazon.com/docs/login-with-amazon/"
            "retrieve-token-other-platforms-cbl-docs.html",
            "the poll: grant_type=device_code, device_code, user_code; authorization_pending",
        ),
        Source(
            "https://developer.amazon.com/docs/login-with-amazon/access-token.html",
            "refresh returns a new access token and a new refresh token",
        ),
        Source(
            "https://developer.amazon.com/docs/login-with-amazon/"
            "customer-profile-other-platforms-cbl-docs.html",
            "the user profile",
        ),
    ),
)

YANDEX = Provider(
    name="yandex",
    title="Yandex",
    description=(
        "Yandex OAuth app. Polls use grant_type=device_code with the device code as 'code', "
        "and need client_secret= (sent in the body). The answer names verification_url. "
        "Codes last 10 minutes."
    ),
    docs_url="https://yandex.com/dev/id/doc/en/codes/screen-code-oauth",
    device_authorization_url="https://oauth.yandex.com/device/code",
    token_url="https://oauth.yandex.com/token",
    client_secret="required",
    quirks=Quirks(grant_type="device_code", device_code_param="code"),
    refresh="yes: each refresh returns a new refresh token (the access token may be the same)",
    who_am_i=WhoAmI(
        "https://login.yandex.ru/info?format=json",
        name_field="login",
        subject_field="id",
        scheme="OAuth",
    ),
    verified=(
        Source(
            "https://yandex.com/dev/id/doc/en/codes/screen-code-oauth",
            "the device request, its parameters, 10-minute codes",
        ),
        Source(
            "MarshalX/yandex-music-api yandex_music/_client/device_auth.py",
            "the poll: grant_type=device_code, code=, client_secret; authorization_pending "
            "with HTTP 400; the verification_url field",
            "client",
        ),
        Source(
            "https://yandex.ru/dev/id/doc/en/tokens/refresh-client",
            "refresh: client credentials in the body or HTTP Basic, a new refresh token",
        ),
        Source(
            "https://yandex.ru/dev/id/doc/en/user-information",
            "who a token belongs to: /info with 'Authorization: OAuth'",
        ),
    ),
    unverified=("the poll's parameters in Yandex's own documentation", "HTTP statuses"),
)

ZOOM = Provider(
    name="zoom",
    title="Zoom",
    description=(
        "Zoom private OAuth app with 'Use App on Device' enabled (ask Zoom support). The "
        "client secret is required. As in Zoom's own example, the device request carries "
        "client_id in the body, and the polls authenticate with HTTP Basic."
    ),
    docs_url="https://developers.zoom.us/docs/integrations/oauth/#using-device-authorization",
    device_authorization_url="https://zoom.us/oauth/devicecode",
    token_url="https://zoom.us/oauth/token",
    revocation_url="https://zoom.us/oauth/revoke",
    client_secret="required",
    client_auth="basic",
    quirks=Quirks(authenticate_device_request=False),
    refresh="rotating: each refresh returns a new refresh token and ends the old one",
    who_am_i=WhoAmI("https://api.zoom.us/v2/users/me", name_field="email", subject_field="id"),
    verified=(
        Source(
            "https://developers.zoom.us/changelog/platform/"
            "support-for-the-oauth-2.0-device-authorization-grant",
            "private apps; 'Use App on Device' enabled by Zoom support",
        ),
        Source(
            "zoom/skills skills/oauth/concepts/oauth-flows.md",
            "endpoints, client_id in the device request's body, HTTP Basic on the poll, "
            "error codes, 15-minute codes",
            "code",
        ),
        Source(
            "zoom/skills skills/oauth/concepts/token-lifecycle.md",
            "rotating refresh tokens, revocation with HTTP Basic",
            "code",
        ),
        Source(
            "https://marketplace.zoom.us/docs/api-reference/zoom-api/users/user",
            "who a token belongs to: GET /v2/users/me",
        ),
    ),
    unverified=("the HTTP status of errors", "the fields of /v2/users/me"),
)


#: Every service, in the order they are described above.
SERVICES = (
    GITHUB,
    GITLAB,
    MICROSOFT,
    GOOGLE,
    AUTH0,
    OKTA,
    KEYCLOAK,
    ZITADEL,
    AUTHENTIK,
    ORY,
    HUGGING_FACE,
    TWITCH,
    AMAZON,
    YANDEX,
    ZOOM,
)
