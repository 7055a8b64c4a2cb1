"""kubesim's patch and apply engine: pure functions KS-CORE's `Cluster` calls on every write.

    apply_merge_patch            JSON merge patch (RFC 7386)
    apply_json_patch             JSON patch (RFC 6902) with kube-apiserver's leniency
    apply_strategic_merge_patch  strategic merge patch for built-in types, schema driven
    server_side_apply            server-side apply with managedFields, prune and conflicts
    track_update                 managedFields after a create, update or non-apply patch

Nothing here does I/O or reads a clock (``now`` is passed in). Errors are `PatchError`
(400/422) and `ApplyConflict` (409); the caller turns them into ``Status`` bodies.
Returned objects are new at the top level and in ``metadata``; patch results share no mutable
state with their inputs except where a docstring says so.
"""

from kubesim.patching.apply import server_side_apply
from kubesim.patching.errors import ApplyConflict, PatchError
from kubesim.patching.json_patch import apply_json_patch
from kubesim.patching.managed import track_update
from kubesim.patching.merge_patch import apply_merge_patch, create_merge_patch
from kubesim.patching.strategic import apply_strategic_merge_patch

__all__ = [
    "ApplyConflict",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "create_merge_patch",
    "server_side_apply",
    "track_update",
]
