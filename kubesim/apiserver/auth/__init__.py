"""Authentication, RBAC authorization and the review APIs of kubesim's HTTP server.

Only HTTP requests are authenticated and authorized: kubesim's own controllers, scheduler and
kubelet call the in-process API and are trusted, as components on a real control plane hold
their own all-powerful credentials. Per request (`Auth.admit`): the bearer token names the user
(the kubeconfig's admin token, a ServiceAccount JWT, or none: `system:anonymous`; a bad token is
401), `Impersonate-*` headers switch to another user if the `impersonate` verb allows it, and
the RBAC authorizer allows the request or answers upstream's 403. The user is also published
in `CURRENT_USER` for the duration of the request, so RBAC's escalation checks (admission) see
who writes a Role or binding.

`--authorization always-allow` keeps authentication and skips RBAC (for experiments).
"""

from __future__ import annotations

import contextvars
import dataclasses
from typing import Any, Literal

from multidict import CIMultiDictProxy

from kubesim.apiserver import errors
from kubesim.apiserver.auth.bootstrap import AggregationController, bootstrap_policy
from kubesim.apiserver.auth.rbac import RbacAuthorizer, forbidden
from kubesim.apiserver.auth.requestinfo import Attributes, request_attributes
from kubesim.apiserver.auth.reviews import REVIEW_RESOURCES, serve_review, serve_token_request
from kubesim.apiserver.auth.tokens import (
    ADMIN,
    ANONYMOUS,
    AUTHENTICATED,
    TokenIssuer,
    UserInfo,
    service_account_user,
)

__all__ = [
    "ADMIN",
    "AUTHORIZATION_MODES",
    "CURRENT_REQUEST",
    "CURRENT_USER",
    "Attributes",
    "Auth",
    "AuthorizationMode",
    "UserInfo",
    "request_attributes",
]

AuthorizationMode = Literal["rbac", "always-allow"]
AUTHORIZATION_MODES: tuple[AuthorizationMode, ...] = ("rbac", "always-allow")

#: The user of the HTTP request being served (None inside kubesim's own components).
CURRENT_USER: contextvars.ContextVar[UserInfo | None] = contextvars.ContextVar(
    "kubesim_current_user", default=None
)
#: What that request asks for: a write made on its behalf by kubesim (the garbage collector
#: runs in callbacks that inherit the request's context) is told apart by these attributes.
CURRENT_REQUEST: contextvars.ContextVar[Attributes | None] = contextvars.ContextVar(
    "kubesim_current_request", default=None
)
_SA_PREFIX = "system:serviceaccount:"
_STREAMS = frozenset({"exec", "attach", "portforward"})
_EXTRA_PREFIX = "impersonate-extra-"


class Auth:
    """The cluster's token issuer and RBAC authorizer, and the per-request checks."""

    def __init__(self, cluster: Any, *, mode: AuthorizationMode = "rbac") -> None:
        self.cluster = cluster
        self.mode: AuthorizationMode = mode
        self.tokens = TokenIssuer(cluster, clock=cluster.store.clock)
        self.rbac = RbacAuthorizer(cluster)
        roles, bindings = bootstrap_policy()
        for plural, objects in (("clusterroles", roles), ("clusterrolebindings", bindings)):
            info = cluster.resource(plural, "rbac.authorization.k8s.io")
            for obj in objects:
                cluster.system_create(info, "", obj, manager="kube-apiserver")
        self.aggregation = AggregationController(cluster)

    @property
    def admin_token(self) -> str:
        """The bearer token of the cluster admin (what kubesim's kubeconfig carries)."""
        return self.tokens.admin_token

    def issue_token(
        self,
        namespace: str,
        service_account: str,
        audiences: list[str] | tuple[str, ...] = (),
        expiration: int = 3600,
        bound_pod: tuple[str, str] | None = None,
    ) -> str:
        """A ServiceAccount token, e.g. for the kubelet to mount into a pod (bound to the pod's
        (name, uid): it stops working when the pod is deleted)."""
        token, _expires = self.tokens.issue_token(
            namespace,
            service_account,
            audiences=audiences,
            expiration_seconds=expiration,
            bound_pod=bound_pod,
        )
        return token

    # ------------------------------------------------------------------ per request

    def authenticate(self, headers: CIMultiDictProxy[str], *, secure: bool = True) -> UserInfo:
        """The user of a request's bearer token; 401 if it is invalid. Without one: anonymous
        over HTTPS, the admin over plain HTTP (see `identify`)."""
        header = headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return ANONYMOUS if secure else ADMIN
        return self.tokens.authenticate(token)

    def identify(self, headers: CIMultiDictProxy[str], *, secure: bool = True) -> UserInfo:
        """Who a request is from: its token's user, or whom it impersonates (401/403).

        kubectl (client-go) never sends credentials over plain HTTP, only `Impersonate-*`
        headers, so a plain-HTTP request without a token is the cluster admin, as on
        kube-apiserver's former insecure port; over HTTPS it is `system:anonymous`."""
        user = self.authenticate(headers, secure=secure)
        if any(k.lower().startswith("impersonate-") for k in headers):
            user = self._impersonate(user, headers)
        return user

    def authorize(self, user: UserInfo, attrs: Attributes) -> None:
        """Raise upstream's 403 unless the authorizer allows the request.

        A WebSocket GET of pods/exec, attach or portforward also needs `create` on it
        (upstream's AuthorizePodWebsocketUpgradeCreatePermission, on since 1.31)."""
        if self.mode != "rbac":
            return
        self.rbac.check(user, attrs)
        if attrs.verb == "get" and attrs.resource == "pods" and attrs.subresource in _STREAMS:
            self.rbac.check(user, dataclasses.replace(attrs, verb="create"))

    def _may(self, user: UserInfo, attrs: Attributes) -> None:
        if self.mode == "rbac" and not self.rbac.allowed(user, attrs):
            raise forbidden(user, attrs)

    def _impersonate(self, user: UserInfo, headers: CIMultiDictProxy[str]) -> UserInfo:
        """Upstream's impersonation filter: each requested identity needs `impersonate`."""
        name = headers.get("Impersonate-User", "")
        groups = tuple(headers.getall("Impersonate-Group", []))
        uid = headers.get("Impersonate-Uid", "")
        extra: dict[str, tuple[str, ...]] = {}
        for key in headers:
            if key.lower().startswith(_EXTRA_PREFIX):
                extra[key[len(_EXTRA_PREFIX) :].lower()] = tuple(headers.getall(key))
        if not name:
            raise errors.StatusError(
                500,
                "InternalError",
                "Internal error occurred: requested impersonation without a user name",
            )
        impersonate = "impersonate"
        if name.startswith(_SA_PREFIX) and name.count(":") == 3:
            namespace, account = name[len(_SA_PREFIX) :].split(":")
            self._may(
                user,
                Attributes(
                    impersonate, True, resource="serviceaccounts", namespace=namespace, name=account
                ),
            )
            base = service_account_user(namespace, account)
            groups = groups or base.groups
        else:
            self._may(user, Attributes(impersonate, True, resource="users", name=name))
        for group in groups:
            self._may(user, Attributes(impersonate, True, resource="groups", name=group))
        for key, values in extra.items():
            for value in values:
                self._may(
                    user,
                    Attributes(
                        impersonate,
                        True,
                        group="authentication.k8s.io",
                        resource="userextras",
                        subresource=key,
                        name=value,
                    ),
                )
        if uid:
            self._may(
                user,
                Attributes(
                    impersonate, True, group="authentication.k8s.io", resource="uids", name=uid
                ),
            )
        if name == ANONYMOUS.name:
            groups = (
                groups
                if "system:unauthenticated" in groups
                else (*groups, "system:unauthenticated")
            )
        elif AUTHENTICATED not in groups:
            groups = (*groups, AUTHENTICATED)
        return UserInfo(name, groups, uid, extra)

    # ------------------------------------------------------------------ review endpoints

    @staticmethod
    def serves(attrs: Attributes) -> bool:
        """Whether the request is a review or a TokenRequest, which `serve` answers."""
        if not attrs.resource_request or attrs.verb != "create":
            return False
        if (attrs.group, attrs.resource) in REVIEW_RESOURCES and not attrs.name:
            return True
        return (
            attrs.resource == "serviceaccounts" and attrs.subresource == "token" and not attrs.group
        )

    def serve(self, attrs: Attributes, body: Any, user: UserInfo) -> tuple[dict[str, Any], int]:
        """The answered review (or TokenRequest) and its HTTP status."""
        if attrs.resource == "serviceaccounts":
            answer = serve_token_request(
                attrs, body, tokens=self.tokens, now=self.cluster.store.clock()
            )
            return answer, 201
        answer = serve_review(attrs, body, user=user, rbac=self.rbac, tokens=self.tokens)
        return answer, 201
