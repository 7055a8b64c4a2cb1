"""Child object names: DESIGN.md's names, shortened with a stable hash only when too long."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.api import names

DNS_LABELS = st.from_regex(r"\A[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")


def test_short_names_are_design_names() -> None:
    """A short cluster gets exactly the names DESIGN.md lists."""
    assert names.head_statefulset_name("rc") == "rc-head"
    assert names.head_service_name("rc") == "rc-head-svc"
    assert names.worker_service_name("rc") == "rc-workers"
    assert names.worker_workload_name("rc", "gpu") == "rc-gpu-worker"
    assert names.hpa_name("rc", "gpu") == "rc-gpu-worker"
    assert names.autoscaler_rbac_name("rc") == "rc"


def test_shortened_names_are_pinned() -> None:
    """The hash of a shortened name never changes between releases (it would rename live objects)."""
    assert names.head_service_name("c" * 60) == f"{'c' * 45}-039f1ca5-head-svc"
    assert names.head_statefulset_name("c" * 50) == f"{'c' * 38}-ec36e9aa-head"


@given(cluster=DNS_LABELS, group=DNS_LABELS)
def test_derived_names_fit_and_keep_their_suffix(cluster: str, group: str) -> None:
    """Every derived name is a DNS label within its kind's limit and ends with its kind's suffix."""
    workload = names.worker_workload_name(cluster, group)
    assert names.is_dns1035_label(workload)
    assert len(workload) <= names.STATEFULSET_NAME_MAX
    assert workload.endswith("-worker")
    service = names.head_service_name(cluster)
    assert names.is_dns1035_label(service)
    assert service.endswith("-head-svc")
    assert len(names.head_statefulset_name(cluster)) <= names.STATEFULSET_NAME_MAX


@given(cluster=DNS_LABELS, a=DNS_LABELS, b=DNS_LABELS)
def test_distinct_groups_never_share_a_workload_name(cluster: str, a: str, b: str) -> None:
    """Two different groups of one cluster always get different workload names."""
    if a != b:
        assert names.worker_workload_name(cluster, a) != names.worker_workload_name(cluster, b)


def test_label_rules() -> None:
    """Label keys may carry a DNS prefix; values are at most 63 characters of the label alphabet."""
    assert names.is_label_key("ray.io/group")
    assert not names.is_label_key("/group")
    assert not names.is_label_key("Bad Key")
    assert names.is_label_value("")
    assert names.is_label_value("a.b_c-d")
    assert not names.is_label_value("x" * 64)
    assert not names.is_label_value("-x")
