"""Every known difference between kubesim and kube-apiserver, one constant each.

A step marked ``differs=known.X`` asserts the difference is still there, so fixing it in
kubesim fails that step until the marker and this entry go (docs/kubesim.md lists the same).
Reference: kube-apiserver v1.37.2 built by ``make controlplane``; kubesim models v1.32.
"""

from __future__ import annotations

NULL_QUOTED = "1.37 prints a null value bare (Invalid value: null); kubesim quotes it as 1.32 did"
CEL_VALUE = 'failed CEL rule: kubesim prints 1.32\'s type (Invalid value: "object"/"string"), 1.37 a scalar\'s value and nothing for objects'
SSA_TYPE_ERROR = "apply with a wrongly typed field: upstream 500 'failed to create typed patch object', kubesim 422 Invalid"
FIELD_SELECTOR = "unknown field selector: kubesim answers 'field label not supported: data.k'"
CONTINUE_TOKEN = "bad continue token: a different message"
SSA_PATCH_DIRECTIVE = "apply with a $patch directive: upstream 500 '.$patch: field not declared in schema', kubesim applies it"
