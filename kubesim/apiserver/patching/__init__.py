"""kubesim's patch and apply engine: pure functions KS-CORE's `Cluster` calls on every write.

    apply_merge_patch            JSON merge patch (RFC 7386)
    apply_json_patch             JSON patch (RFC 6902) with kube-apiserver's leniency
    apply_strategic_merge_patch  strategic merge patch for built-in types, schema driven
    server_side_apply            server-side apply with managedFields, prune and conflicts
    track_update                 managedFields after a create, update or non-apply patch

Nothing here does I/O or reads a clock (``now`` is passed in), and no function modifies its
inputs, so callers need not copy stored objects before calling. Errors are `PatchError`
(400/413/422/500) and `ApplyConflict` (409, with the wire-ready ``causes``); the caller turns
them into ``Status`` bodies. Patch and apply results share nothing with their inputs;
`track_update` returns `new` with a new top level and metadata.

Modules: `merge_patch`, `json_patch`, `strategic` (the three patch types); `fieldsets`
(field paths and FieldsV1), `diff` (what changed between two objects), `managed`
(managedFields entries and Update ownership), `apply` (server-side apply), `lastapplied`
(kubectl's client-side to server-side migration), `errors`.
"""

from kubesim.apiserver.patching.apply import server_side_apply
from kubesim.apiserver.patching.errors import ApplyConflict, PatchError
from kubesim.apiserver.patching.json_patch import apply_json_patch
from kubesim.apiserver.patching.managed import track_update
from kubesim.apiserver.patching.merge_patch import apply_merge_patch, create_merge_patch
from kubesim.apiserver.patching.strategic import apply_strategic_merge_patch

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
