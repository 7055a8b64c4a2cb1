"""Names of the objects a RayCluster becomes, and the one rule that keeps them within limits.

DESIGN.md fixes the names (``<cluster>-head``, ``<cluster>-head-svc``, ``<cluster>-workers``,
``<cluster>-<group>-worker``, ``<cluster>``). When one would be longer than its kind allows it is
shortened by ``child_name``: the fixed suffix that says what the object is stays, the variable
part is cut, and an 8-character hash of the full name goes between them, so two long clusters
never collide and the same input always gives the same name. Nothing is ever cut blindly.

Which names are shortened and which are errors (validation reports the errors):

- The RayCluster name itself is the value of the ``ray.io/cluster`` label that the Ray autoscaler
  selects pods by, and it is the name of the autoscaler's ServiceAccount/Role/RoleBinding; it
  cannot be hashed, so it must be a DNS-1035 label of at most 63 characters (an error
  otherwise). Services need DNS-1035 (a leading letter), which is why 1035 and not 1123.
- A worker group name is the value of the ``ray.io/group`` label, which the autoscaler matches
  against ``groupName``; it must be a DNS-1123 label of at most 63 characters (an error otherwise).
- Every derived object name is shortened when needed, and validation reports it as a warning so
  the user learns the real name.

Limits per kind: a StatefulSet's name is at most 52 characters, because the controller stamps
``controller-revision-hash: <name>-<10-char hash>`` on its pods and label values stop at 63.
Worker Deployments get the same limit so a group keeps its name when its kind changes (and its
HPA shares the name). Services are DNS-1035 labels, at most 63.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = [
    "DNS_LABEL_MAX",
    "STATEFULSET_NAME_MAX",
    "autoscaler_rbac_name",
    "child_name",
    "head_service_name",
    "head_statefulset_name",
    "hpa_name",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_label_key",
    "is_label_value",
    "worker_service_name",
    "worker_workload_name",
]

DNS_LABEL_MAX: Final = 63
STATEFULSET_NAME_MAX: Final = 52
_HASH_LENGTH: Final = 8

_DNS1123_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL: Final = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN: Final = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_NAME: Final = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
#: The regular expression the CRD uses for group names (kept here so the two cannot differ).
DNS1123_LABEL_PATTERN: Final = _DNS1123_LABEL.pattern


def child_name(base: str, suffix: str, *, max_length: int = DNS_LABEL_MAX) -> str:
    """``<base>-<suffix>``, or ``<base cut>-<hash>-<suffix>`` when that is too long.

    The hash is the first 8 hex digits of SHA-256 over the full name, so the result is stable and
    distinct for distinct inputs. ``base`` must start with a letter or digit (callers pass names
    that validation has checked), so the result is a DNS label whenever ``base`` is one.
    """
    full = f"{base}-{suffix}"
    if len(full) <= max_length:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:_HASH_LENGTH]
    keep = max_length - len(suffix) - _HASH_LENGTH - 2
    if keep < 1:
        raise ValueError(f"suffix {suffix!r} leaves no room for a name in {max_length} characters")
    return f"{base[:keep].rstrip('-.')}-{digest}-{suffix}"


def head_statefulset_name(cluster: str) -> str:
    """The head StatefulSet, ``<cluster>-head`` (its pod is ``<that>-0``)."""
    return child_name(cluster, "head", max_length=STATEFULSET_NAME_MAX)


def head_service_name(cluster: str) -> str:
    """The head Service, ``<cluster>-head-svc``."""
    return child_name(cluster, "head-svc")


def worker_service_name(cluster: str) -> str:
    """The headless Service governing the worker StatefulSets, ``<cluster>-workers``."""
    return child_name(cluster, "workers")


def worker_workload_name(cluster: str, group: str) -> str:
    """A worker group's StatefulSet or Deployment, ``<cluster>-<group>-worker``."""
    return child_name(f"{cluster}-{group}", "worker", max_length=STATEFULSET_NAME_MAX)


def hpa_name(cluster: str, group: str) -> str:
    """A worker group's HorizontalPodAutoscaler: the same name as the workload it scales."""
    return worker_workload_name(cluster, group)


def autoscaler_rbac_name(cluster: str) -> str:
    """The Ray autoscaler's ServiceAccount, Role and RoleBinding: the cluster's own name."""
    return cluster


def is_dns1123_label(value: str) -> bool:
    """Lower-case letters, digits and '-', starting and ending alphanumeric, at most 63."""
    return len(value) <= DNS_LABEL_MAX and bool(_DNS1123_LABEL.match(value))


def is_dns1035_label(value: str) -> bool:
    """A DNS-1123 label that starts with a letter (what Service names need)."""
    return len(value) <= DNS_LABEL_MAX and bool(_DNS1035_LABEL.match(value))


def is_label_value(value: str) -> bool:
    """A valid Kubernetes label value: empty, or at most 63 of [-A-Za-z0-9_.] alphanumeric-bounded."""
    return value == "" or (len(value) <= DNS_LABEL_MAX and bool(_LABEL_NAME.match(value)))


def is_label_key(key: str) -> bool:
    """A valid Kubernetes label key: an optional DNS subdomain prefix and '/', then a name."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= DNS_LABEL_MAX and bool(_LABEL_NAME.match(name))
