"""Can this host run kubesim's process runtime, and which runtime should a command use?

The CLIs (`kubesim serve --runtime process`, `rayop dev --runtime auto`) decide here, and
refuse in one line, before anything touches the network. What the process runtime needs is
its own to say (`kubesim.kubelet.process.cleanup.require_host`); `choose_runtime` is the one
place the `auto` rule lives.
"""

from __future__ import annotations

import importlib.util

from kubesim.kubelet.process.cleanup import HostUnavailable, require_host

__all__ = ["HostUnavailable", "choose_runtime", "missing_prerequisite", "ray_importable"]

_ADVICE = "; use the simulated runtime"


def missing_prerequisite() -> str | None:
    """`the process runtime needs ...` when this host cannot run it; None when it can."""
    try:
        require_host()
    except HostUnavailable as exc:
        return str(exc).removesuffix(_ADVICE)
    return None


def ray_importable() -> bool:
    """Whether this Python environment has Ray (`make install-ray`)."""
    return importlib.util.find_spec("ray") is not None


def choose_runtime(requested: str) -> tuple[str, str]:
    """The runtime to use for `requested` (auto, process or simulated) and, if simulated, why.

    `auto` picks the process runtime when the host can run it and Ray is installed (the pods
    rayop makes run `ray start`); otherwise the simulated one, with the reason.
    Raises `HostUnavailable` when `process` was asked for and the host cannot run it.
    """
    missing = missing_prerequisite()
    if requested == "process":
        if missing is not None:
            raise HostUnavailable(missing)
        return "process", ""
    if requested == "simulated":
        return "simulated", "asked for with --runtime simulated"
    if missing is not None:
        return "simulated", missing
    if not ray_importable():
        return "simulated", "Ray is not installed in this environment (make install-ray)"
    return "process", ""
