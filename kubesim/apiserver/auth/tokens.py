"""Bearer tokens: the admin token of kubesim's kubeconfig and ServiceAccount JWTs.

A real API server authenticates a request with a chain of authenticators; kubesim keeps the two
every rayop test needs: one static token (the kubeconfig's admin, group `system:masters`) and
ServiceAccount tokens, which are JWTs signed (ES256) with a key each kubesim generates. They are
the tokens TokenRequest (`kubectl create token`) returns and the kubelet mounts into pods
(`TokenIssuer.issue_token`). A JWT is verified once (signature, issuer) and cached; expiry and
the existence of its ServiceAccount (and bound pod), matched by uid, are checked on every request,
so a token stops working when its account or pod is deleted.
"""

from __future__ import annotations

import base64
import datetime
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from kubesim.apiserver.errors import StatusError
from kubesim.apiserver.store import Store

__all__ = [
    "ADMIN",
    "ANONYMOUS",
    "API_AUDIENCE",
    "AUTHENTICATED",
    "MASTERS",
    "TokenIssuer",
    "UserInfo",
    "service_account_user",
    "unauthorized",
]

#: The issuer (and default audience) of ServiceAccount tokens, as a kubeadm cluster sets it.
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"
_SA_PREFIX = "system:serviceaccount:"
_MIN_EXPIRATION = 600
_DEFAULT_EXPIRATION = 3600
_CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class UserInfo:
    """Who a request is from, as authentication found it."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """`authentication.k8s.io/v1` UserInfo."""
        out: dict[str, Any] = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


ADMIN = UserInfo("kubesim-admin", (MASTERS, AUTHENTICATED))
ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))


def unauthorized() -> StatusError:
    """401 with upstream's body: message and reason `Unauthorized`, no details."""
    return StatusError(401, "Unauthorized", "Unauthorized")


def service_account_user(namespace: str, name: str, *, uid: str = "") -> UserInfo:
    """The user a ServiceAccount authenticates as, with upstream's three groups."""
    return UserInfo(
        f"{_SA_PREFIX}{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
        uid,
    )


def _epoch(timestamp: str) -> float:
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class _Claims:
    namespace: str
    account: str
    account_uid: str
    pod: tuple[str, str] | None
    audiences: tuple[str, ...]
    expires: float


class TokenIssuer:
    """Signs and verifies ServiceAccount tokens of one cluster; knows the admin token."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._key_id = _b64(secrets.token_bytes(12))
        #: The kubeconfig's token: the cluster admin (`system:masters`).
        self.admin_token = secrets.token_urlsafe(32)
        self._verified: dict[str, _Claims | None] = {}

    def issue_token(
        self,
        namespace: str,
        service_account: str,
        *,
        audiences: Iterable[str] = (),
        expiration_seconds: int = _DEFAULT_EXPIRATION,
        bound_pod: tuple[str, str] | None = None,
    ) -> tuple[str, float]:
        """A signed token for an existing ServiceAccount (404 if missing); returns it and the
        expiry (epoch seconds). `bound_pod` is the pod's (name, uid): the token dies with it."""
        account = self._store.get("serviceaccounts", namespace, service_account)
        now = self._clock()
        expires = now + max(int(expiration_seconds), _MIN_EXPIRATION)
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": service_account, "uid": account["metadata"]["uid"]},
        }
        if bound_pod is not None:
            private["pod"] = {"name": bound_pod[0], "uid": bound_pod[1]}
        claims = {
            "aud": list(audiences) or [API_AUDIENCE],
            "exp": int(expires),
            "iat": int(now),
            "iss": API_AUDIENCE,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": int(now),
            "sub": f"{_SA_PREFIX}{namespace}:{service_account}",
        }
        header = {"alg": "ES256", "kid": self._key_id}
        signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
        r, s = decode_dss_signature(
            self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64(signature)}", int(expires)

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        """The pod a token is to be bound to (404 when it does not exist)."""
        return self._store.get("pods", namespace, name)

    def authenticate(self, token: str, *, audiences: Iterable[str] = (API_AUDIENCE,)) -> UserInfo:
        """The user of a bearer token; 401 Unauthorized when it is not a valid one."""
        if token == self.admin_token:
            return ADMIN
        claims = self._claims(token)
        if claims is None or claims.expires <= self._clock():
            raise unauthorized()
        if not set(claims.audiences) & set(audiences):
            raise unauthorized()
        if not self._alive(claims):
            raise unauthorized()
        return service_account_user(claims.namespace, claims.account, uid=claims.account_uid)

    def _alive(self, claims: _Claims) -> bool:
        found = self._store.by_uid(claims.account_uid)
        if found is None or found[1]["metadata"]["name"] != claims.account:
            return False
        if claims.pod is not None:
            pod = self._store.by_uid(claims.pod[1])
            if pod is None:
                return False
            # A terminating pod keeps its token until its deletion time has passed (its
            # containers may still call the API while they shut down), as upstream.
            deleting = pod[1]["metadata"].get("deletionTimestamp")
            if deleting and _epoch(str(deleting)) < self._clock():
                return False
        return True

    def _claims(self, token: str) -> _Claims | None:
        if token in self._verified:
            return self._verified[token]
        claims = self._verify(token)
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> _Claims | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = orjson.loads(_unb64(parts[0]))
            payload = orjson.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
            if header.get("alg") != "ES256" or len(signature) != 64:
                return None
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            self._key.public_key().verify(
                der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256())
            )
            if payload.get("iss") != API_AUDIENCE:
                return None
            private = payload["kubernetes.io"]
            pod = private.get("pod")
            audiences = payload["aud"]
            return _Claims(
                namespace=str(private["namespace"]),
                account=str(private["serviceaccount"]["name"]),
                account_uid=str(private["serviceaccount"]["uid"]),
                pod=(str(pod["name"]), str(pod["uid"])) if pod else None,
                audiences=tuple([audiences] if isinstance(audiences, str) else audiences),
                expires=float(payload["exp"]),
            )
        except (InvalidSignature, ValueError, KeyError, TypeError, AttributeError):
            return None
