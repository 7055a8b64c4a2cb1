"""Table responses for `kubectl get`: columns, cells, ages, CRD printer columns."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim.apiserver.tables import age, human_duration, jsonpath_find, to_table

NOW = "2026-11-25T17:00:00Z"
POD = SimpleNamespace(group="", kind="Pod")
STS = SimpleNamespace(group="apps", kind="StatefulSet")
RAY = SimpleNamespace(group="ray.io", kind="RayCluster")


def meta(name: str, created: str = "2026-11-25T16:55:00Z") -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": created, "uid": "u-" + name}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-1.5, "0s"),
        (-3, "<invalid>"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (9 * 3600, "9h"),
        (47 * 3600, "47h"),
        (50 * 3600, "2d2h"),
        (9 * 86400, "9d"),
        (800 * 86400, "2y70d"),
        (3000 * 86400, "8y"),
    ],
)
def test_human_duration_matches_kubectl(seconds: float, text: str) -> None:
    """Ages are printed with apimachinery's HumanDuration rules."""
    assert human_duration(seconds) == text


def test_age_of_missing_timestamp_is_unknown() -> None:
    """An unset or unparsable timestamp prints `<unknown>`."""
    assert age(None, NOW) == "<unknown>"
    assert age("2026-11-25T16:59:55Z", NOW) == "5s"


def running_pod() -> dict[str, Any]:
    return {
        "metadata": meta("web-0"),
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "podIPs": [{"ip": "10.0.0.5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "a", "ready": True, "restartCount": 0, "state": {"running": {}}},
                {
                    "name": "b",
                    "ready": False,
                    "restartCount": 2,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"finishedAt": "2026-11-25T16:58:00Z"}},
                },
            ],
        },
    }


def test_pod_table_has_kubectl_columns_and_cells() -> None:
    """Pods show NAME READY STATUS RESTARTS AGE, plus wide IP/NODE/NOMINATED NODE/READINESS GATES."""
    table = to_table(POD, [running_pod()], now=NOW, resource_version="42")
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    names = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert names == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]
    row = table["rows"][0]
    assert row["cells"] == [
        "web-0",
        "1/2",
        "CrashLoopBackOff",
        "2 (2m ago)",
        "5m",
        "10.0.0.5",
        "node-1",
        "<none>",
        "<none>",
    ]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["uid"] == "u-web-0"


def test_pod_status_reasons() -> None:
    """Pending, init progress, terminating and completed pods read as kubectl shows them."""
    pending = {
        "metadata": meta("p"),
        "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Pending"},
    }
    assert to_table(POD, [pending], now=NOW)["rows"][0]["cells"][1:3] == ["0/1", "Pending"]
    init = {
        "metadata": meta("i"),
        "spec": {"initContainers": [{"name": "x"}, {"name": "y"}], "containers": [{"name": "a"}]},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [
                {"name": "x", "state": {"terminated": {"exitCode": 0}}},
                {"name": "y", "state": {"running": {}}},
            ],
        },
    }
    assert to_table(POD, [init], now=NOW)["rows"][0]["cells"][2] == "Init:1/2"
    deleting = running_pod()
    deleting["metadata"]["deletionTimestamp"] = NOW
    assert to_table(POD, [deleting], now=NOW)["rows"][0]["cells"][2] == "Terminating"
    done = {
        "metadata": meta("d"),
        "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Succeeded"},
    }
    row = to_table(POD, [done], now=NOW)["rows"][0]
    assert row["cells"][2] == "Succeeded"
    assert row["conditions"][0]["type"] == "Completed"


def test_statefulset_and_deployment_rows() -> None:
    """StatefulSets show READY x/y; Deployments also UP-TO-DATE/AVAILABLE and the selector."""
    template = {"spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.9"}]}}
    sts = {
        "metadata": meta("head"),
        "spec": {"replicas": 3, "template": template},
        "status": {"readyReplicas": 2},
    }
    assert to_table(STS, [sts], now=NOW)["rows"][0]["cells"] == [
        "head",
        "2/3",
        "5m",
        "ray",
        "rayproject/ray:2.9",
    ]
    deploy = {
        "metadata": meta("w"),
        "spec": {
            "replicas": 2,
            "template": template,
            "selector": {"matchLabels": {"b": "2", "a": "1"}},
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 1},
    }
    cells = to_table(SimpleNamespace(group="apps", kind="Deployment"), [deploy], now=NOW)["rows"][
        0
    ]["cells"]
    assert cells == ["w", "2/2", 2, 1, "5m", "ray", "rayproject/ray:2.9", "a=1,b=2"]


def test_service_row() -> None:
    """Services show type, cluster IP, external IP, port/protocol list and selector."""
    svc = {
        "metadata": meta("head-svc"),
        "spec": {
            "type": "NodePort",
            "clusterIPs": ["10.96.0.10"],
            "ports": [
                {"port": 6379, "protocol": "TCP", "nodePort": 30001},
                {"port": 8265, "protocol": "TCP"},
            ],
            "selector": {"ray.io/cluster": "c"},
        },
    }
    cells = to_table(SimpleNamespace(group="", kind="Service"), [svc], now=NOW)["rows"][0]["cells"]
    assert cells == [
        "head-svc",
        "NodePort",
        "10.96.0.10",
        "<none>",
        "6379:30001/TCP,8265/TCP",
        "5m",
        "ray.io/cluster=c",
    ]


def test_hpa_targets_column() -> None:
    """HPA targets read `cpu: <current>/<target>` like kubectl 1.32."""
    hpa = {
        "metadata": meta("h"),
        "spec": {
            "scaleTargetRef": {"kind": "StatefulSet", "name": "w"},
            "maxReplicas": 5,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                }
            ],
        },
        "status": {"currentReplicas": 1},
    }
    cells = to_table(
        SimpleNamespace(group="autoscaling", kind="HorizontalPodAutoscaler"), [hpa], now=NOW
    )["rows"][0]["cells"]
    assert cells == ["h", "StatefulSet/w", "cpu: <unknown>/80%", "<unset>", 5, 1, "5m"]


COLUMNS = [
    {"name": "Desired", "type": "integer", "jsonPath": ".status.desiredWorkerReplicas"},
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {"name": "Status", "type": "string", "jsonPath": ".status.state", "priority": 1},
    {"name": "CPUs", "type": "number", "jsonPath": ".status.desiredCPU"},
    {"name": "Suspended", "type": "boolean", "jsonPath": ".spec.suspend"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def test_crd_printer_columns_are_evaluated_and_typed() -> None:
    """CRD columns: Name first, then each JSONPath formatted by type; missing values are null."""
    cr = {
        "metadata": meta("raycluster-a", "2026-11-23T15:00:00Z"),
        "spec": {"suspend": False},
        "status": {
            "desiredWorkerReplicas": 3,
            "desiredCPU": 4,
            "conditions": [
                {"type": "Other", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
        },
    }
    table = to_table(RAY, [cr], now=NOW, crd_columns=COLUMNS)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        *(c["name"] for c in COLUMNS),
    ]
    assert table["columnDefinitions"][3]["priority"] == 1
    assert table["columnDefinitions"][1]["description"] == (
        "Custom resource definition column (in JSONPath format): .status.desiredWorkerReplicas"
    )
    assert table["rows"][0]["cells"] == ["raycluster-a", 3, "True", None, 4.0, False, "2d2h"]


def test_crd_without_columns_gets_default_age_and_other_kinds_created_at() -> None:
    """A CRD with no printer columns shows Name/Age; unknown built-ins show Name/Created At."""
    cr = {"metadata": meta("x")}
    table = to_table(RAY, [cr], now=NOW, crd_columns=[])
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["x", "5m"]
    role = to_table(SimpleNamespace(group="rbac.authorization.k8s.io", kind="Role"), [cr], now=NOW)
    assert [c["name"] for c in role["columnDefinitions"]] == ["Name", "Created At"]
    assert role["rows"][0]["cells"] == ["x", "2026-11-25T16:55:00Z"]


def test_include_object_and_headers_options() -> None:
    """includeObject=Object embeds the object, None nulls it; watch events after the first omit headers."""
    pod = running_pod()
    assert to_table(POD, [pod], now=NOW, include_object="Object")["rows"][0]["object"] == pod
    assert to_table(POD, [pod], now=NOW, include_object="None")["rows"][0]["object"] is None
    assert to_table(POD, [pod], now=NOW, include_headers=False)["columnDefinitions"] is None


@pytest.mark.parametrize(
    ("path", "found"),
    [
        (".spec.groups[0].name", ["a"]),
        (".spec.groups[*].name", ["a", "b"]),
        (".spec.groups[-1].size", [2]),
        (".spec.groups[?(@.size==2)].name", ["b"]),
        (".metadata.labels['app.kubernetes.io/name']", ["ray"]),
        (".metadata.labels.app\\.kubernetes\\.io/name", ["ray"]),
        ("{.spec.missing}", []),
        (".spec.groups[", []),
    ],
)
def test_jsonpath_subset(path: str, found: list[Any]) -> None:
    """The JSONPath subset printer columns use selects what kubectl's JSONPath would."""
    obj = {
        "metadata": {"labels": {"app.kubernetes.io/name": "ray"}},
        "spec": {"groups": [{"name": "a", "size": 1}, {"name": "b", "size": 2}]},
    }
    assert jsonpath_find(obj, path) == found


def kind(group: str, name: str) -> SimpleNamespace:
    return SimpleNamespace(group=group, kind=name)


def cells(group: str, name: str, obj: dict[str, Any]) -> list[Any]:
    return to_table(kind(group, name), [obj], now=NOW)["rows"][0]["cells"]


def test_node_row() -> None:
    """Nodes show Ready/NotReady (+SchedulingDisabled), roles from labels, kubelet version, IPs."""
    node = {
        "metadata": {
            **meta("n1"),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "gpu"},
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Linux"},
        },
    }
    assert cells("", "Node", node) == [
        "n1",
        "NotReady,SchedulingDisabled",
        "control-plane,gpu",
        "5m",
        "v1.32.0",
        "10.0.0.2",
        "<none>",
        "Linux",
        "<unknown>",
        "<unknown>",
    ]


def test_event_rows_for_both_event_apis() -> None:
    """core/v1 and events.k8s.io/v1 events print the same columns from their own field names."""
    core = {
        "metadata": meta("e1"),
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
        "type": "Warning",
        "reason": "BackOff",
        "message": " Back-off restarting failed container ",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-25T16:50:00Z",
        "lastTimestamp": "2026-11-25T16:59:00Z",
        "count": 7,
    }
    assert cells("", "Event", core) == [
        "60s",
        "Warning",
        "BackOff",
        "pod/p",
        "spec.containers{c}",
        "kubelet, node-1",
        "Back-off restarting failed container",
        "10m",
        7,
        "e1",
    ]
    new = {
        "metadata": meta("e2"),
        "regarding": {"kind": "RayCluster", "name": "rc"},
        "type": "Normal",
        "reason": "Created",
        "note": "created head",
        "reportingController": "rayop",
        "eventTime": "2026-11-25T16:58:00Z",
    }
    assert cells("events.k8s.io", "Event", new) == [
        "2m",
        "Normal",
        "Created",
        "raycluster/rc",
        "",
        "rayop",
        "created head",
        "2m",
        1,
        "e2",
    ]


def test_config_and_identity_kinds() -> None:
    """ConfigMaps/Secrets count data keys, ServiceAccounts secrets, Leases show the holder."""
    assert cells(
        "", "ConfigMap", {"metadata": meta("c"), "data": {"a": "1"}, "binaryData": {"b": ""}}
    ) == ["c", 2, "5m"]
    assert cells("", "Secret", {"metadata": meta("s"), "type": "Opaque", "data": {"a": ""}}) == [
        "s",
        "Opaque",
        1,
        "5m",
    ]
    assert cells("", "ServiceAccount", {"metadata": meta("sa")}) == ["sa", 0, "5m"]
    lease = {"metadata": meta("l"), "spec": {"holderIdentity": "rayop-1"}}
    assert cells("coordination.k8s.io", "Lease", lease) == ["l", "rayop-1", "5m"]


def test_pvc_revision_and_binding_rows() -> None:
    """PVCs show binding details only once bound; revisions their controller; bindings subjects."""
    pvc = {
        "metadata": meta("data-0"),
        "spec": {"volumeMode": "Filesystem"},
        "status": {"phase": "Pending"},
    }
    assert cells("", "PersistentVolumeClaim", pvc) == [
        "data-0",
        "Pending",
        "",
        "",
        "",
        "",
        "<unset>",
        "5m",
        "Filesystem",
    ]
    owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": True}
    rev = {"metadata": {**meta("web-1"), "ownerReferences": [owner]}, "revision": 3}
    assert cells("apps", "ControllerRevision", rev) == ["web-1", "statefulset.apps/web", 3, "5m"]
    binding = {
        "metadata": meta("b"),
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
            {"kind": "User", "name": "u"},
        ],
    }
    assert cells("rbac.authorization.k8s.io", "RoleBinding", binding) == [
        "b",
        "Role/r",
        "5m",
        "u",
        "",
        "ns:sa",
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.dictionaries(
            st.sampled_from(
                ["name", "labels", "creationTimestamp", "deletionTimestamp", "ownerReferences"]
            ),
            json_values,
        ),
        "spec": st.dictionaries(
            st.sampled_from(
                ["containers", "replicas", "selector", "ports", "metrics", "template", "type"]
            ),
            json_values,
        ),
        "status": st.dictionaries(
            st.sampled_from(
                ["phase", "conditions", "containerStatuses", "podIPs", "addresses", "nodeInfo"]
            ),
            json_values,
        ),
    },
)
KINDS = [
    ("", "Pod"),
    ("apps", "StatefulSet"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("", "Service"),
    ("", "Node"),
    ("", "Event"),
    ("", "PersistentVolumeClaim"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("apps", "ControllerRevision"),
]


@settings(max_examples=60, deadline=None)
@given(obj=shaped, which=st.sampled_from(KINDS))
def test_printers_never_raise_on_malformed_objects(
    obj: dict[str, Any], which: tuple[str, str]
) -> None:
    """Whatever shape an object has, its table row renders (one cell per column) instead of crashing."""
    table = to_table(kind(*which), [obj], now=NOW, crd_columns=None)
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])
    crd = to_table(RAY, [obj], now=NOW, crd_columns=COLUMNS)
    assert len(crd["rows"][0]["cells"]) == len(COLUMNS) + 1
