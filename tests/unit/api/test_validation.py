"""Each validation rule reports its exact field path and sentence; all problems come at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from controller.api import Problem, parse_raycluster

Manifest = dict[str, Any]
Edit = Callable[[Manifest], object]

W0 = "spec.workerGroupSpecs[0]"


def _group(obj: Manifest, index: int = 0) -> dict[str, Any]:
    group: dict[str, Any] = obj["spec"]["workerGroupSpecs"][index]
    return group


def _head(obj: Manifest) -> dict[str, Any]:
    head: dict[str, Any] = obj["spec"]["headGroupSpec"]
    return head


def _head_container(obj: Manifest) -> dict[str, Any]:
    container: dict[str, Any] = _head(obj)["template"]["spec"]["containers"][0]
    return container


def _add_second_group(obj: Manifest) -> None:
    import copy

    obj["spec"]["workerGroupSpecs"].append(copy.deepcopy(_group(obj)))


def _autoscale(obj: Manifest, **options: Any) -> None:
    obj["spec"]["enableInTreeAutoscaling"] = True
    if options:
        obj["spec"]["autoscalerOptions"] = options


PROBLEMS: list[tuple[str, Edit, list[Problem]]] = [
    (
        "name-not-dns-label",
        lambda o: o["metadata"].update(name="Ray_Cluster"),
        [
            Problem(
                "metadata.name",
                "'Ray_Cluster' must be a DNS label of at most 63 characters: lower-case letters, "
                "digits and '-', starting with a letter and ending with a letter or digit (it is "
                "the ray.io/cluster label the Ray autoscaler selects pods by, and it names "
                "Services).",
            )
        ],
    ),
    (
        "name-too-long",
        lambda o: o["metadata"].update(name="a" * 64),
        [
            Problem(
                "metadata.name",
                f"'{'a' * 64}' must be a DNS label of at most 63 characters: lower-case letters, "
                "digits and '-', starting with a letter and ending with a letter or digit (it is "
                "the ray.io/cluster label the Ray autoscaler selects pods by, and it names "
                "Services).",
            )
        ],
    ),
    (
        "group-name-too-long",
        lambda o: _group(o).update(groupName="g" * 64),
        [Problem(f"{W0}.groupName", "must be at most 63 characters long.")],
    ),
    (
        "group-name-not-dns-label",
        lambda o: _group(o).update(groupName="Small_Group"),
        [
            Problem(
                f"{W0}.groupName",
                "'Small_Group' must be a DNS label: lower-case letters, digits and '-', starting "
                "and ending with a letter or digit (it names the group's objects and is the "
                "ray.io/group label).",
            )
        ],
    ),
    (
        "duplicate-group-names",
        _add_second_group,
        [
            Problem(
                "spec.workerGroupSpecs[1].groupName",
                "'small' is already the name of spec.workerGroupSpecs[0]; group names must be "
                "unique.",
            )
        ],
    ),
    (
        "min-above-max",
        lambda o: _group(o).update(minReplicas=5, maxReplicas=3, replicas=3),
        [Problem(f"{W0}.minReplicas", "5 must not be greater than maxReplicas (3).")],
    ),
    (
        "negative-replicas",
        lambda o: _group(o).update(replicas=-1),
        [Problem(f"{W0}.replicas", "must be at least 0, not -1.")],
    ),
    (
        "negative-max",
        lambda o: _group(o).update(maxReplicas=-2),
        [Problem(f"{W0}.maxReplicas", "must be at least 0, not -2.")],
    ),
    (
        "negative-idle-timeout",
        lambda o: _autoscale(o, idleTimeoutSeconds=-5),
        [Problem("spec.autoscalerOptions.idleTimeoutSeconds", "must be at least 0, not -5.")],
    ),
    (
        "worker-without-containers",
        lambda o: _group(o)["template"]["spec"].update(containers=[]),
        [
            Problem(
                f"{W0}.template.spec.containers",
                "must list at least one container; the first one is the Ray container.",
            )
        ],
    ),
    (
        "head-template-without-spec",
        lambda o: _head(o).update(template={"metadata": {"labels": {"a": "b"}}}),
        [
            Problem(
                "spec.headGroupSpec.template.spec",
                "must be an object with the pod's containers.",
            )
        ],
    ),
    (
        "sidecar-without-name",
        lambda o: _group(o)["template"]["spec"]["containers"].append({"image": "busybox"}),
        [Problem(f"{W0}.template.spec.containers[1].name", "is required.")],
    ),
    (
        "no-image-no-ray-version",
        lambda o: (o["spec"].pop("rayVersion"), _head_container(o).pop("image")),
        [
            Problem(
                "spec.headGroupSpec.template.spec.containers[0].image",
                "is required when spec.rayVersion is not set (the default image is "
                "rayproject/ray:<rayVersion>).",
            )
        ],
    ),
    (
        "hpa-with-in-tree-autoscaling",
        lambda o: (
            _autoscale(o),
            _group(o).update(minReplicas=1, horizontalPodAutoscaler={}, workloadKind="Deployment"),
        ),
        [
            Problem(
                f"{W0}.horizontalPodAutoscaler",
                "cannot be combined with spec.enableInTreeAutoscaling: the Ray autoscaler and the "
                "HorizontalPodAutoscaler would both set this group's size.",
            )
        ],
    ),
    (
        "hpa-scale-to-zero",
        lambda o: _group(o).update(horizontalPodAutoscaler={}),
        [
            Problem(
                f"{W0}.minReplicas",
                "must be at least 1 with a horizontalPodAutoscaler (a HorizontalPodAutoscaler "
                "cannot scale to zero).",
            )
        ],
    ),
    (
        "volumes-on-explicit-deployment",
        lambda o: _group(o).update(
            workloadKind="Deployment", volumeClaimTemplates=[{"metadata": {"name": "data"}}]
        ),
        [
            Problem(
                f"{W0}.volumeClaimTemplates",
                "need a StatefulSet-backed group, but workloadKind is Deployment.",
            )
        ],
    ),
    (
        "volumes-on-autoscaled-group",
        lambda o: (
            _autoscale(o),
            _group(o).update(volumeClaimTemplates=[{"metadata": {"name": "data"}}]),
        ),
        [
            Problem(
                f"{W0}.volumeClaimTemplates",
                "need a StatefulSet-backed group, but this group runs as a Deployment because "
                "in-tree autoscaling is on (set workloadKind: StatefulSet to keep them; "
                "scale-down then removes the highest-numbered pods rather than the ones the "
                "autoscaler chose).",
            )
        ],
    ),
    (
        "resources-and-num-cpus",
        lambda o: _group(o).update(resources={"CPU": "2"}, rayStartParams={"num-cpus": "2"}),
        [
            Problem(
                f"{W0}.resources",
                "cannot be combined with rayStartParams num-cpus: both set the node's Ray "
                "resources; use one of them.",
            )
        ],
    ),
    (
        "ray-start-labels",
        lambda o: _head(o).update(rayStartParams={"labels": "a=b"}),
        [
            Problem(
                "spec.headGroupSpec.rayStartParams.labels",
                "is not allowed; set Ray node labels with the group's labels field.",
            )
        ],
    ),
    (
        "bad-label",
        lambda o: _group(o).update(labels={"bad key!": "ok", "zone": "not ok!"}),
        [
            Problem(f"{W0}.labels", "'bad key!' is not a valid label key."),
            Problem(f"{W0}.labels.zone", "'not ok!' is not a valid label value."),
        ],
    ),
    (
        "group-idle-timeout-without-v2",
        lambda o: (_autoscale(o), _group(o).update(idleTimeoutSeconds=30)),
        [
            Problem(
                f"{W0}.idleTimeoutSeconds",
                "needs spec.autoscalerOptions.version v2 (autoscaler v1 only has the "
                "cluster-wide spec.autoscalerOptions.idleTimeoutSeconds).",
            )
        ],
    ),
    (
        "priority-on-old-ray",
        lambda o: (_autoscale(o, version="v2"), _group(o).update(priority=5)),
        [
            Problem(
                f"{W0}.priority",
                "needs spec.autoscalerOptions.version v2 and spec.rayVersion 2.56.0 or later.",
            )
        ],
    ),
    (
        "suspend-group-under-autoscaler",
        lambda o: (_autoscale(o), _group(o).update(suspend=True)),
        [
            Problem(
                f"{W0}.suspend",
                "cannot be true with in-tree autoscaling: the Ray autoscaler owns the group's "
                "size.",
            )
        ],
    ),
    (
        "v2-restart-policy",
        lambda o: (
            _autoscale(o, version="v2"),
            _group(o)["template"]["spec"].update(restartPolicy="OnFailure"),
        ),
        [
            Problem(
                f"{W0}.template.spec.restartPolicy",
                "must be Never or unset with autoscaler v2, not 'OnFailure' (a Ray node that "
                "restarts in place confuses the v2 autoscaler).",
            )
        ],
    ),
    (
        "autoscaler-v2-env-without-autoscaling",
        lambda o: _head_container(o).update(
            env=[{"name": "RAY_enable_autoscaler_v2", "value": "1"}]
        ),
        [
            Problem(
                "spec.headGroupSpec.template.spec.containers[0].env[0]",
                "sets RAY_enable_autoscaler_v2 but spec.enableInTreeAutoscaling is not true.",
            )
        ],
    ),
    (
        "autoscaler-version-and-env",
        lambda o: (
            _autoscale(o, version="v1"),
            _head_container(o).update(env=[{"name": "RAY_enable_autoscaler_v2", "value": "0"}]),
        ),
        [
            Problem(
                "spec.autoscalerOptions.version",
                "cannot be combined with the RAY_enable_autoscaler_v2 env var of the head's Ray "
                "container; keep one of them.",
            )
        ],
    ),
    (
        "autoscaler-start-cmd-env",
        lambda o: _autoscale(o, env=[{"name": "KUBERAY_GEN_AUTOSCALER_START_CMD", "value": "x"}]),
        [
            Problem(
                "spec.autoscalerOptions.env[0]",
                "must not set KUBERAY_GEN_AUTOSCALER_START_CMD; rayop sets it.",
            )
        ],
    ),
    (
        "autoscaler-cannot-detect-cpu",
        lambda o: (_autoscale(o), _group(o)["template"]["spec"]["containers"][0].pop("resources")),
        [
            Problem(
                f"{W0}.template.spec.containers[0].resources",
                "must set a cpu limit or request (or set rayStartParams num-cpus): the Ray "
                "autoscaler cannot size this group otherwise.",
            )
        ],
    ),
    (
        "redis-address-env-without-ft",
        lambda o: _head_container(o).update(env=[{"name": "RAY_REDIS_ADDRESS", "value": "r:6379"}]),
        [
            Problem(
                "spec.headGroupSpec.template.spec.containers[0].env[0]",
                "sets RAY_REDIS_ADDRESS without GCS fault tolerance; use "
                "spec.gcsFaultToleranceOptions.redisAddress.",
            )
        ],
    ),
    (
        "ft-annotation-and-options",
        lambda o: (
            o["metadata"].update(annotations={"ray.io/ft-enabled": "true"}),
            o["spec"].update(gcsFaultToleranceOptions={"redisAddress": "redis:6379"}),
        ),
        [
            Problem(
                "metadata.annotations[ray.io/ft-enabled]",
                "cannot be combined with spec.gcsFaultToleranceOptions; remove the annotation.",
            )
        ],
    ),
    (
        "ft-redis-password-param",
        lambda o: (
            o["spec"].update(gcsFaultToleranceOptions={"redisAddress": "redis:6379"}),
            _head(o).update(rayStartParams={"redis-password": "x"}),
        ),
        [
            Problem(
                "spec.headGroupSpec.rayStartParams.redis-password",
                "is not allowed with spec.gcsFaultToleranceOptions; use "
                "spec.gcsFaultToleranceOptions.redisPassword.",
            )
        ],
    ),
    (
        "ft-without-address",
        lambda o: o["spec"].update(gcsFaultToleranceOptions={"backend": "redis"}),
        [
            Problem(
                "spec.gcsFaultToleranceOptions.redisAddress",
                "is required for the redis backend.",
            )
        ],
    ),
    (
        "ft-env-and-annotation-clashes",
        lambda o: (
            o["metadata"].update(annotations={"ray.io/external-storage-namespace": "x"}),
            o["spec"].update(gcsFaultToleranceOptions={"redisAddress": "r:6379", "storage": {}}),
            _head_container(o).update(
                env=[
                    {"name": "REDIS_PASSWORD", "value": "p"},
                    {"name": "REDIS_USERNAME", "value": "u"},
                ]
            ),
            _head(o).update(rayStartParams={"redis-username": "u"}),
        ),
        [
            Problem(
                "metadata.annotations[ray.io/external-storage-namespace]",
                "cannot be combined with spec.gcsFaultToleranceOptions; use "
                "spec.gcsFaultToleranceOptions.externalStorageNamespace.",
            ),
            Problem(
                "spec.headGroupSpec.template.spec.containers[0].env[0]",
                "must not set REDIS_PASSWORD with spec.gcsFaultToleranceOptions; use "
                "spec.gcsFaultToleranceOptions.redisPassword.",
            ),
            Problem(
                "spec.headGroupSpec.template.spec.containers[0].env[1]",
                "must not set REDIS_USERNAME; use spec.gcsFaultToleranceOptions.redisUsername.",
            ),
            Problem(
                "spec.headGroupSpec.rayStartParams.redis-username",
                "is not allowed; use spec.gcsFaultToleranceOptions.redisUsername.",
            ),
            Problem("spec.gcsFaultToleranceOptions.storage", "is only for the rocksdb backend."),
        ],
    ),
    (
        "tls-unsupported",
        lambda o: o["spec"].update(tlsOptions={"enabled": True}),
        [
            Problem(
                "spec.tlsOptions.enabled",
                "mTLS between Ray nodes is not supported by rayop; remove tlsOptions.",
            )
        ],
    ),
    (
        "token-auth-unsupported",
        lambda o: o["spec"].update(authOptions={"mode": "token"}),
        [
            Problem(
                "spec.authOptions.mode",
                "token authentication is not supported by rayop; remove authOptions (the cluster "
                "would otherwise run without the authentication you asked for).",
            )
        ],
    ),
    (
        "network-policy-unsupported",
        lambda o: o["spec"].update(networkPolicy={"mode": "DenyAll"}),
        [
            Problem(
                "spec.networkPolicy",
                "rayop does not create NetworkPolicies; remove networkPolicy and create the "
                "policies you need yourself.",
            )
        ],
    ),
    (
        "wrong-types",
        lambda o: _group(o).update(replicas="2", suspend="yes", rayStartParams=["a"]),
        [
            Problem(
                f"{W0}.rayStartParams",
                "must be an object (a mapping of keys to values), not a list.",
            ),
            Problem(f"{W0}.replicas", 'must be an integer, not "2".'),
            Problem(f"{W0}.suspend", 'must be true or false, not "yes".'),
        ],
    ),
    (
        "non-string-map-key",
        lambda o: _head(o).update(rayStartParams={1: "x"}),
        [Problem("spec.headGroupSpec.rayStartParams[1]", "must be a string, not 1.")],
    ),
    (
        "bad-enum",
        lambda o: _group(o).update(workloadKind="DaemonSet"),
        [Problem(f"{W0}.workloadKind", 'must be one of StatefulSet, Deployment, not "DaemonSet".')],
    ),
    (
        "missing-group-name",
        lambda o: _group(o).pop("groupName"),
        [Problem(f"{W0}.groupName", "is required.")],
    ),
]


@pytest.mark.parametrize(
    ("edit", "expected"), [c[1:] for c in PROBLEMS], ids=[c[0] for c in PROBLEMS]
)
def test_rule_reports_exact_problem(
    manifest: Callable[..., Manifest], edit: Edit, expected: list[Problem]
) -> None:
    """A manifest breaking one rule gets exactly that rule's problem(s) and no cluster."""
    result = parse_raycluster(manifest(edit))
    assert result.cluster is None
    assert sorted(result.problems) == sorted(expected)


def test_all_problems_are_reported_at_once(manifest: Callable[..., Manifest]) -> None:
    """Several broken rules in one manifest are all reported together, in document order."""

    def edit(o: Manifest) -> None:
        o["metadata"]["name"] = "Bad"
        _group(o).update(minReplicas=4, maxReplicas=2, replicas=2)
        o["spec"]["authOptions"] = {"mode": "token"}

    result = parse_raycluster(manifest(edit))
    assert [p.field for p in result.problems] == [
        "metadata.name",
        f"{W0}.minReplicas",
        "spec.authOptions.mode",
    ]


def test_type_errors_and_rule_errors_come_together(manifest: Callable[..., Manifest]) -> None:
    """A type error in the spec and a bad metadata name are both reported."""

    def edit(o: Manifest) -> None:
        o["metadata"]["name"] = 7
        _group(o).update(maxReplicas="many")

    result = parse_raycluster(manifest(edit))
    assert result.problems == [
        Problem("metadata.name", "must be a string, not 7."),
        Problem(f"{W0}.maxReplicas", 'must be an integer, not "many".'),
    ]


WARNINGS: list[tuple[str, Edit, list[Problem]]] = [
    (
        "replicas-above-max",
        lambda o: _group(o).update(replicas=9),
        [Problem(f"{W0}.replicas", "replicas 9 is above maxReplicas 3; the group runs 3.")],
    ),
    (
        "replicas-below-min",
        lambda o: _group(o).update(replicas=1, minReplicas=2),
        [Problem(f"{W0}.replicas", "replicas 1 is below minReplicas 2; the group runs 2.")],
    ),
    (
        "statefulset-under-autoscaler",
        lambda o: (_autoscale(o), _group(o).update(workloadKind="StatefulSet")),
        [
            Problem(
                f"{W0}.workloadKind",
                "is StatefulSet under in-tree autoscaling: a StatefulSet removes its "
                "highest-numbered pods, so scale-down may remove other pods than the ones the "
                "Ray autoscaler named in workersToDelete.",
            )
        ],
    ),
    (
        "long-names-are-shortened",
        lambda o: (
            o["metadata"].update(name="c" * 50),
            _group(o).update(groupName="small-group"),
        ),
        [
            Problem(
                "metadata.name",
                f"the head StatefulSet would be named '{'c' * 50}-head', longer than 52 "
                f"characters; it is named '{'c' * 38}-ec36e9aa-head' instead.",
            ),
            Problem(
                "spec.workerGroupSpecs[0].groupName",
                f"the worker workload would be named '{'c' * 50}-small-group-worker', longer "
                f"than 52 characters; it is named '{'c' * 36}-68dc228f-worker' instead.",
            ),
        ],
    ),
    (
        "unknown-field",
        lambda o: _group(o).update(minReplica=1),
        [
            Problem(
                f"{W0}.minReplica",
                "is not a RayCluster field; it is ignored (check the spelling).",
            )
        ],
    ),
    (
        "unquoted-ray-start-param",
        lambda o: _group(o).update(rayStartParams={"num-gpus": 0}),
        [
            Problem(
                f"{W0}.rayStartParams.num-gpus",
                'must be a string; 0 is read as "0" (quote it in YAML).',
            )
        ],
    ),
    (
        "hpa-utilization-without-requests",
        lambda o: (
            _group(o)["template"]["spec"]["containers"][0].pop("resources"),
            _group(o).update(minReplicas=1, horizontalPodAutoscaler={}),
        ),
        [
            Problem(
                f"{W0}.horizontalPodAutoscaler",
                "targets cpu utilization, but container 'ray-worker' sets no cpu request or "
                "limit: the HorizontalPodAutoscaler cannot compute utilization and will not scale.",
            )
        ],
    ),
    (
        "legacy-head-replicas",
        lambda o: _head(o).update(replicas=1),
        [
            Problem(
                "spec.headGroupSpec.replicas",
                "is from old KubeRay versions and is ignored: the head is always one pod.",
            )
        ],
    ),
    (
        "legacy-ft-annotation",
        lambda o: o["metadata"].update(annotations={"ray.io/ft-enabled": "true"}),
        [
            Problem(
                "metadata.annotations[ray.io/ft-enabled]",
                "is KubeRay's legacy switch, which rayop does not implement; use "
                "spec.gcsFaultToleranceOptions for GCS fault tolerance.",
            )
        ],
    ),
    (
        "history-server-unsupported",
        lambda o: o["spec"].update(historyServerOptions={"collectorOptions": {}}),
        [
            Problem(
                "spec.historyServerOptions",
                "the Ray history server collector is not supported by rayop; no collector "
                "sidecar is added.",
            )
        ],
    ),
    (
        "retention-without-volumes",
        lambda o: _head(o).update(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"}),
        [
            Problem(
                "spec.headGroupSpec.persistentVolumeClaimRetentionPolicy",
                "has no effect without volumeClaimTemplates.",
            )
        ],
    ),
    (
        "ingress-unsupported",
        lambda o: _head(o).update(enableIngress=True),
        [
            Problem(
                "spec.headGroupSpec.enableIngress",
                "rayop does not create an Ingress for the dashboard; expose the head Service "
                "yourself (for example with an Ingress of your own).",
            )
        ],
    ),
    (
        "autoscaler-options-without-autoscaling",
        lambda o: o["spec"].update(autoscalerOptions={"idleTimeoutSeconds": 30}),
        [
            Problem(
                "spec.autoscalerOptions",
                "has no effect because spec.enableInTreeAutoscaling is not true.",
            )
        ],
    ),
    (
        "malformed-status-is-ignored",
        lambda o: o.update(status={"desiredWorkerReplicas": "three"}),
        [
            Problem(
                "status.desiredWorkerReplicas",
                'must be an integer, not "three". The status is ignored.',
            )
        ],
    ),
]


@pytest.mark.parametrize(
    ("edit", "expected"), [c[1:] for c in WARNINGS], ids=[c[0] for c in WARNINGS]
)
def test_rule_reports_exact_warning(
    manifest: Callable[..., Manifest], edit: Edit, expected: list[Problem]
) -> None:
    """A manifest that is usable but surprising gets exactly that warning, and a cluster."""
    result = parse_raycluster(manifest(edit))
    assert result.problems == []
    assert result.cluster is not None
    assert sorted(result.warnings) == sorted(expected)


def test_replicas_are_clamped_into_range(manifest: Callable[..., Manifest]) -> None:
    """replicas above maxReplicas runs maxReplicas; unset replicas start at minReplicas."""
    above = parse_raycluster(manifest(lambda o: _group(o).update(replicas=9))).cluster
    unset = parse_raycluster(
        manifest(lambda o: (_group(o).pop("replicas"), _group(o).update(minReplicas=2)))
    ).cluster
    assert above is not None
    assert unset is not None
    assert above.spec.worker_group_specs[0].replicas == 3
    assert unset.spec.worker_group_specs[0].replicas == 2


def test_null_fields_are_absent_fields(manifest: Callable[..., Manifest]) -> None:
    """YAML nulls (an empty `rayStartParams:`) count as absent, as the API server treats them."""

    def edit(o: Manifest) -> None:
        _group(o).update(rayStartParams=None, replicas=None, scaleStrategy=None)
        o["metadata"]["namespace"] = None

    result = parse_raycluster(manifest(edit))
    assert result.problems == []
    assert result.cluster is not None
    assert result.cluster.metadata.namespace == "default"
    group = result.cluster.spec.worker_group_specs[0]
    assert group.replicas == 0
    assert group.scale_strategy.workers_to_delete == []


def test_out_of_range_float_bound_reads_naturally(seed: Manifest) -> None:
    """A bound in a message is written as the user would (0, not 0.0)."""
    seed["spec"]["autoscalerOptions"] = {"upscalingSpeed": 0}
    result = parse_raycluster(seed)
    assert result.problems == [
        Problem("spec.autoscalerOptions.upscalingSpeed", "must be greater than 0, not 0.")
    ]


def test_hpa_group_gets_the_default_cpu_metric(manifest: Callable[..., Manifest]) -> None:
    """A group asking for an HPA without metrics gets CPU utilization at 80%, with no warning."""
    result = parse_raycluster(
        manifest(lambda o: _group(o).update(minReplicas=1, horizontalPodAutoscaler={}))
    )
    assert result.warnings == []
    assert result.cluster is not None
    hpa = result.cluster.spec.worker_group_specs[0].horizontal_pod_autoscaler
    assert hpa is not None
    assert hpa.metrics == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
