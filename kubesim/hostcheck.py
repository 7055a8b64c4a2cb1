"""Can this host run kubesim's process runtime, and which runtime should a command use?

Stdlib only, so the CLIs (`kubesim serve --runtime process`, `rayop dev --runtime auto`) can
decide, and refuse in one line, before anything imports the process runtime or touches the
network. `choose_runtime` is the one place the `auto` rule lives.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

__all__ = [
    "ProcessRuntimeUnavailable",
    "choose_runtime",
    "default_image_map",
    "missing_prerequisite",
    "ray_importable",
]


class ProcessRuntimeUnavailable(RuntimeError):
    """This host cannot run the process runtime; the message says what is missing."""


def missing_prerequisite() -> str | None:
    """What this host lacks for the process runtime, as one phrase; None when nothing is."""
    if os.geteuid() != 0:
        return "root (pods get their own network and mount namespaces)"
    if shutil.which("ip") is None:
        return "the `ip` command (install iproute2)"
    return None


def ray_importable() -> bool:
    """Whether this Python environment has Ray (`pip install -e '.[ray]'`, `make install-ray`)."""
    return importlib.util.find_spec("ray") is not None


def choose_runtime(requested: str) -> tuple[str, str]:
    """The runtime to use for `requested` (auto, process or simulated) and, if simulated, why.

    `auto` picks the process runtime when the host can run it and Ray is installed (the pods
    rayop makes run `ray start`); otherwise the simulated one, with the reason.
    Raises `ProcessRuntimeUnavailable` when `process` was asked for and the host cannot.
    """
    missing = missing_prerequisite()
    if requested == "process":
        if missing is not None:
            raise ProcessRuntimeUnavailable(f"the process runtime needs {missing}")
        return "process", ""
    if requested == "simulated":
        return "simulated", "asked for with --runtime simulated"
    if missing is not None:
        return "simulated", f"the process runtime needs {missing}"
    if not ray_importable():
        return "simulated", "Ray is not installed here (make install-ray)"
    return "process", ""


def default_image_map() -> dict[str, str]:
    """Every `rayproject/ray*` image runs from this Python environment, when it has Ray."""
    return {"rayproject/ray*": sys.prefix} if ray_importable() else {}
