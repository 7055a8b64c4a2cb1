"""Server-side defaults of built-in kinds, as the real API server fills them in.

Clients see these fields on every object they read back, so they change what `kubectl get -o
yaml`, SSA diffs and `kubectl rollout status` see (it refuses a StatefulSet without
`updateStrategy.type: RollingUpdate`). The rules follow `pkg/apis/*/v1/defaults.go` of Kubernetes
1.32 and, for Pods only, the admission plugins every real cluster runs (ServiceAccount's
`serviceAccountName: default`, DefaultTolerationSeconds' not-ready/unreachable tolerations,
Priority's `priority: 0` and `preemptionPolicy`). The projected `kube-api-access-*` token volume
is not added (its name is random).

`apply_defaults` is idempotent and never overrides a value the client set. Pod templates get the
PodSpec defaults but not the Pod-only ones (requests copied from limits, `enableServiceLinks`,
admission), exactly like the real server. `initial_pod_status` is what the Pod strategy sets on
create (phase Pending and the QoS class).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

__all__ = ["apply_defaults", "image_pull_policy", "initial_pod_status", "qos_class"]

Obj = dict[str, Any]

_PERCENT_25 = "25%"
_SECRET_DEFAULT_MODE = 0o644  # 420: secret, configMap, projected and downwardAPI volumes


def apply_defaults(group: str, version: str, kind: str, obj: Obj) -> Obj:
    """Return a copy of `obj` with the API server's defaults for `group/version, kind` applied.

    Unknown kinds (custom resources included) come back as an unchanged copy."""
    result = copy.deepcopy(obj)
    defaulter = _DEFAULTERS.get((group, kind))
    if (group, version, kind) == ("autoscaling", "v1", "HorizontalPodAutoscaler"):
        defaulter = _hpa_v1
    if defaulter is not None:
        defaulter(result)
    return result


# ---------------------------------------------------------------- helpers


def _dict(parent: Obj, key: str) -> Obj:
    """`parent[key]` as a dict, created when missing or null."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = {}
        parent[key] = value
    return value


def _sub(parent: Obj, key: str) -> Obj:
    """`parent[key]` when it is a dict, else an empty dict (read-only use)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _dicts(parent: Any, key: str) -> list[Obj]:
    """The dict items of the list `parent[key]` (empty when absent or malformed)."""
    if not isinstance(parent, dict):
        return []
    items = parent.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _set(obj: Obj, key: str, value: Any) -> None:
    """Set `obj[key]` unless the client gave a value (None and "" count as unset, as in Go)."""
    if obj.get(key) in (None, ""):
        obj[key] = value


# ---------------------------------------------------------------- pods


def image_pull_policy(image: str) -> str:
    """`Always` for `:latest` or an untagged image without digest, else `IfNotPresent`."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    _set(probe, "timeoutSeconds", 1)
    _set(probe, "periodSeconds", 10)
    _set(probe, "successThreshold", 1)
    _set(probe, "failureThreshold", 3)
    _http_get(probe)


def _http_get(handler: Any) -> None:
    if isinstance(handler, dict) and isinstance(handler.get("httpGet"), dict):
        _set(handler["httpGet"], "path", "/")
        _set(handler["httpGet"], "scheme", "HTTP")


def _field_ref(holder: Any) -> None:
    if isinstance(holder, dict) and isinstance(holder.get("fieldRef"), dict):
        _set(holder["fieldRef"], "apiVersion", "v1")


def _container(container: Obj) -> None:
    image = container.get("image")
    if isinstance(image, str):
        _set(container, "imagePullPolicy", image_pull_policy(image))
    _set(container, "terminationMessagePath", "/dev/termination-log")
    _set(container, "terminationMessagePolicy", "File")
    _dict(container, "resources")
    for port in _dicts(container, "ports"):
        _set(port, "protocol", "TCP")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(container.get(key))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        _http_get(lifecycle.get("postStart"))
        _http_get(lifecycle.get("preStop"))
    for env in _dicts(container, "env"):
        _field_ref(env.get("valueFrom"))


def _volume(volume: Obj) -> None:
    sources = set(volume) - {"name"}
    if not sources:
        volume["emptyDir"] = {}
    for key in ("secret", "configMap", "projected", "downwardAPI"):
        source = volume.get(key)
        if isinstance(source, dict):
            _set(source, "defaultMode", _SECRET_DEFAULT_MODE)
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")
    for item in _dicts(volume.get("downwardAPI"), "items"):
        _field_ref(item)
    for projection in _dicts(volume.get("projected"), "sources"):
        for item in _dicts(projection.get("downwardAPI"), "items"):
            _field_ref(item)


def _pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and everything nested (containers, volumes, probes)."""
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "restartPolicy", "Always")
    _dict(spec, "securityContext")
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "schedulerName", "default-scheduler")
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in _dicts(spec, key):
            _container(container)
    for volume in _dicts(spec, "volumes"):
        _volume(volume)
    if spec.get("hostNetwork") is True:
        for key in ("containers", "initContainers"):
            for container in _dicts(spec, key):
                for port in _dicts(container, "ports"):
                    _set(port, "hostPort", port.get("containerPort"))


def _pod_template(template: Any) -> None:
    if isinstance(template, dict):
        _pod_spec(_dict(template, "spec"))


def _requests_from_limits(container: Obj) -> None:
    resources = container.get("resources")
    if not isinstance(resources, dict) or not isinstance(resources.get("limits"), dict):
        return
    requests = _dict(resources, "requests")
    for name, quantity in resources["limits"].items():
        requests.setdefault(name, quantity)


_DEFAULT_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", 300),
    ("node.kubernetes.io/unreachable", 300),
)


def _pod(pod: Obj) -> None:
    spec = _dict(pod, "spec")
    _pod_spec(spec)
    for key in ("containers", "initContainers"):
        for container in _dicts(spec, key):
            _requests_from_limits(container)
    _set(spec, "enableServiceLinks", True)
    # Admission plugins every real cluster runs.
    _set(spec, "serviceAccountName", spec.get("serviceAccount") or "default")
    _set(spec, "serviceAccount", spec["serviceAccountName"])
    _set(spec, "priority", 0)
    _set(spec, "preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = spec["tolerations"] = []
    for key, seconds in _DEFAULT_TOLERATIONS:
        if not any(_tolerates(t, key) for t in tolerations):
            tolerations.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": seconds,
                }
            )


def _tolerates(toleration: Any, key: str) -> bool:
    """Whether an existing toleration already covers the NoExecute taint `key` (an empty key
    or effect matches everything, as DefaultTolerationSeconds checks)."""
    if not isinstance(toleration, dict):
        return False
    return toleration.get("key") in (key, "", None) and toleration.get("effect") in (
        "NoExecute",
        "",
        None,
    )


def qos_class(pod: Obj) -> str:
    """The Pod's QoS class: Guaranteed, Burstable or BestEffort (cpu and memory only)."""
    spec = _sub(pod, "spec")
    containers = _dicts(spec, "containers") + _dicts(spec, "initContainers")
    any_set = False
    guaranteed = bool(containers)
    for container in containers:
        resources = _sub(container, "resources")
        requests, limits = _sub(resources, "requests"), _sub(resources, "limits")
        any_set = any_set or any(k in requests or k in limits for k in ("cpu", "memory"))
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def initial_pod_status(pod: Obj) -> Obj:
    """The status the Pod strategy sets on create: phase Pending and the QoS class."""
    return {"phase": "Pending", "qosClass": qos_class(pod)}


# ---------------------------------------------------------------- workloads


def _volume_claim_spec(spec: Any) -> None:
    if isinstance(spec, dict):
        _set(spec, "volumeMode", "Filesystem")


def _statefulset(sts: Obj) -> None:
    spec = _dict(sts, "spec")
    _set(spec, "replicas", 1)
    _set(spec, "podManagementPolicy", "OrderedReady")
    _set(spec, "revisionHistoryLimit", 10)
    strategy = _dict(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _set(_dict(strategy, "rollingUpdate"), "partition", 0)
    policy = _dict(spec, "persistentVolumeClaimRetentionPolicy")
    _set(policy, "whenDeleted", "Retain")
    _set(policy, "whenScaled", "Retain")
    _pod_template(spec.get("template"))
    for claim in _dicts(spec, "volumeClaimTemplates"):
        _volume_claim_spec(_dict(claim, "spec"))
        _set(_dict(claim, "status"), "phase", "Pending")


def _deployment(deploy: Obj) -> None:
    spec = _dict(deploy, "spec")
    _set(spec, "replicas", 1)
    strategy = _dict(spec, "strategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", _PERCENT_25)
        _set(rolling, "maxSurge", _PERCENT_25)
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _pod_template(spec.get("template"))


def _replicaset(rs: Obj) -> None:
    spec = _dict(rs, "spec")
    _set(spec, "replicas", 1)
    _pod_template(spec.get("template"))


def _daemonset(ds: Obj) -> None:
    spec = _dict(ds, "spec")
    strategy = _dict(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", 1)
        _set(rolling, "maxSurge", 0)
    _set(spec, "revisionHistoryLimit", 10)
    _pod_template(spec.get("template"))


def _job(job: Obj) -> None:
    spec = _dict(job, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _set(spec, "parallelism", 1)
    _set(spec, "backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    template_labels = (spec.get("template") or {}).get("metadata", {}).get("labels")
    meta = job.get("metadata")
    if template_labels and isinstance(meta, dict) and not meta.get("labels"):
        meta["labels"] = dict(template_labels)
    _set(spec, "completionMode", "NonIndexed")
    _set(spec, "suspend", False)
    _set(
        spec,
        "podReplacementPolicy",
        "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed",
    )
    _set(spec, "manualSelector", False)
    _pod_template(spec.get("template"))


def _cronjob(cronjob: Obj) -> None:
    spec = _dict(cronjob, "spec")
    _set(spec, "concurrencyPolicy", "Allow")
    _set(spec, "suspend", False)
    _set(spec, "successfulJobsHistoryLimit", 3)
    _set(spec, "failedJobsHistoryLimit", 1)
    # SetObjectDefaults_CronJob defaults the template's pod spec, not the template as a Job.
    job_spec = _dict(_dict(spec, "jobTemplate"), "spec")
    _pod_template(job_spec.get("template"))


# ---------------------------------------------------------------- services and others


def _service(svc: Obj) -> None:
    spec = _dict(svc, "spec")
    _set(spec, "type", "ClusterIP")
    _set(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        client_ip = _dict(_dict(spec, "sessionAffinityConfig"), "clientIP")
        _set(client_ip, "timeoutSeconds", 10800)
    for port in _dicts(spec, "ports"):
        _set(port, "protocol", "TCP")
        if port.get("targetPort") in (None, "", 0):
            port["targetPort"] = port.get("port")
    kind = spec["type"]
    if kind == "ExternalName":
        return
    if kind in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)
    _set(spec, "internalTrafficPolicy", "Cluster")
    # The registry fills these while allocating the cluster IP; kubesim is single-stack IPv4.
    _set(spec, "ipFamilyPolicy", "SingleStack")
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = ["IPv4"]


def _endpoints(endpoints: Obj) -> None:
    for subset in _dicts(endpoints, "subsets"):
        for port in _dicts(subset, "ports"):
            _set(port, "protocol", "TCP")


def _namespace(ns: Obj) -> None:
    metadata = _dict(ns, "metadata")
    name = metadata.get("name")
    if isinstance(name, str) and name:
        _dict(metadata, "labels")["kubernetes.io/metadata.name"] = name
    spec = _dict(ns, "spec")
    if not spec.get("finalizers"):
        spec["finalizers"] = ["kubernetes"]


def _secret(secret: Obj) -> None:
    _set(secret, "type", "Opaque")


def _pvc(pvc: Obj) -> None:
    _volume_claim_spec(_dict(pvc, "spec"))


def _pod_template_object(template: Obj) -> None:
    _pod_template(template.get("template"))


def _rbac_binding(binding: Obj) -> None:
    for subject in _dicts(binding, "subjects"):
        if subject.get("kind") in ("User", "Group"):
            _set(subject, "apiGroup", "rbac.authorization.k8s.io")
        elif subject.get("kind") == "ServiceAccount":
            subject.setdefault("apiGroup", "")


_SCALE_UP_POLICIES = (
    {"type": "Pods", "value": 4, "periodSeconds": 15},
    {"type": "Percent", "value": 100, "periodSeconds": 15},
)
_SCALE_DOWN_POLICIES = ({"type": "Percent", "value": 100, "periodSeconds": 15},)


def _scaling_rules(behavior: Obj, key: str, window: int, policies: tuple[Obj, ...]) -> None:
    rules = _dict(behavior, key)
    _set(rules, "stabilizationWindowSeconds", window)
    _set(rules, "selectPolicy", "Max")
    if rules.get("policies") is None:
        rules["policies"] = [dict(p) for p in policies]


def _hpa(hpa: Obj) -> None:
    spec = _dict(hpa, "spec")
    _set(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]
    behavior = spec.get("behavior")
    # The server fills a behavior's missing rules only when the client gave a behavior.
    if isinstance(behavior, dict):
        _scaling_rules(behavior, "scaleUp", 0, _SCALE_UP_POLICIES)
        _scaling_rules(behavior, "scaleDown", 300, _SCALE_DOWN_POLICIES)


def _hpa_v1(hpa: Obj) -> None:
    """autoscaling/v1 has targetCPUUtilizationPercentage instead of metrics and behavior."""
    _set(_dict(hpa, "spec"), "minReplicas", 1)


_DEFAULTERS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("", "Pod"): _pod,
    ("", "PodTemplate"): _pod_template_object,
    ("", "ReplicationController"): _replicaset,
    ("", "Service"): _service,
    ("", "Endpoints"): _endpoints,
    ("", "Namespace"): _namespace,
    ("", "Secret"): _secret,
    ("", "PersistentVolumeClaim"): _pvc,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "Deployment"): _deployment,
    ("apps", "ReplicaSet"): _replicaset,
    ("apps", "DaemonSet"): _daemonset,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _cronjob,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
    ("rbac.authorization.k8s.io", "RoleBinding"): _rbac_binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _rbac_binding,
}
