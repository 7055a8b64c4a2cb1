"""Client-side apply → server-side apply migration for kubectl, as the real server does it.

When ``kubectl apply --server-side`` (field manager exactly ``kubectl``) meets an object that
client-side ``kubectl apply`` managed, two things happen (``lastappliedmanager.go`` and
``lastappliedupdater.go`` in the real server):

* conflicts on fields named in the ``kubectl.kubernetes.io/last-applied-configuration``
  annotation are forgiven (the apply takes them over as if forced), so switching to
  server-side apply does not conflict with ``kubectl-client-side-apply``;
* the annotation, when present, is rewritten to the configuration just applied, so a later
  client-side apply computes its patch from the right base.

Other managers opt out of both by using a different name.
"""

from __future__ import annotations

import json
from typing import Any, Final

from kubesim.apiserver.patching.fieldsets import FieldPath, flatten
from kubesim.apiserver.schemas import TypeSchema

__all__ = ["LAST_APPLIED", "forgiven_conflicts", "sync_last_applied"]

LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
_KUBECTL: Final = "kubectl"


def _annotations(obj: dict[str, Any] | None) -> dict[str, Any]:
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def forgiven_conflicts(
    live: dict[str, Any] | None, schema: TypeSchema, manager: str
) -> set[FieldPath]:
    """Fields whose conflicts `manager`'s apply may override: the last client-side applied
    configuration's fields, for kubectl only (empty otherwise or when there is none)."""
    if manager != _KUBECTL:
        return set()
    text = _annotations(live).get(LAST_APPLIED)
    if not isinstance(text, str) or not text:
        return set()
    try:
        last_applied = json.loads(text)
    except ValueError:
        return set()
    if not isinstance(last_applied, dict):
        return set()
    return set(flatten(last_applied, schema))


def sync_last_applied(result: dict[str, Any], config: dict[str, Any], manager: str) -> None:
    """Rewrite `result`'s last-applied annotation (in place) to `config`, for kubectl, when
    `result` carries one. `result`'s metadata and annotations must be its own copies."""
    if manager != _KUBECTL or LAST_APPLIED not in _annotations(result):
        return
    applied = dict(config)
    metadata = applied.get("metadata")
    if isinstance(metadata, dict):
        metadata = dict(metadata)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            annotations = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
            if annotations:
                metadata["annotations"] = annotations
            else:
                del metadata["annotations"]
        applied["metadata"] = metadata
    # Go's encoding/json: sorted keys, compact, HTML characters escaped, a trailing newline.
    text = json.dumps(applied, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    result["metadata"]["annotations"] = {**_annotations(result), LAST_APPLIED: text + "\n"}
