"""Images without images: a map from image references to local environments.

The process runtime pulls nothing. An image reference (`rayproject/ray:2.60.0`) or a prefix
ending in `*` (`rayproject/ray*`) maps to a directory whose `bin/` goes first on the
container's PATH, such as a virtualenv. By default every `rayproject/ray*` image maps to the
Python environment that has `ray` installed (this interpreter's, when `import ray` finds it).
An image with no mapping is an image that cannot be pulled: the container waits in
`ErrImagePull`/`ImagePullBackOff` with a message naming the flag that maps it.

When an image's tag names a Ray version and the mapped environment's Ray differs, the runtime
warns once per pod (rayop picks probes by `rayVersion`, so the difference matters).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ImageMap", "ImageNotMapped", "default_image_map", "ray_version_of"]

_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_VERSION = re.compile(r"^(\d+\.\d+\.\d+)")
_DIST_INFO = re.compile(r"^ray-(\d+\.\d+\.\d+[^-]*)\.dist-info$")


class ImageNotMapped(Exception):
    """No local environment stands in for this image."""


def default_image_map() -> dict[str, str]:
    """`rayproject/ray*` → this Python's prefix when it can import ray; else nothing."""
    if importlib.util.find_spec("ray") is None:
        return {}
    return {"rayproject/ray*": sys.prefix}


def _strip_registry(image: str) -> str:
    """`docker.io/rayproject/ray:2` and `docker.io/library/x` → `rayproject/ray:2`, `x`."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/"):
        if image.startswith(prefix):
            return image[len(prefix) :]
    return image


def ray_version_of(env_dir: str) -> str | None:
    """The version of Ray installed in `env_dir` (from its dist-info), None if none."""
    for site in Path(env_dir).glob("lib/python3*/site-packages"):
        for entry in site.iterdir():
            match = _DIST_INFO.match(entry.name)
            if match:
                return match.group(1)
    return None


@dataclass(frozen=True)
class ImageMap:
    """Image reference or `prefix*` → local environment directory."""

    entries: Mapping[str, str]

    @classmethod
    def with_defaults(cls, given: Mapping[str, str] | None = None) -> ImageMap:
        """The default map overlaid with `given` (given entries win)."""
        return cls({**default_image_map(), **(given or {})})

    def resolve(self, image: str) -> str:
        """The environment directory for `image`; ImageNotMapped when there is none."""
        wanted = {image, _strip_registry(image)}
        for key, directory in self.entries.items():
            if key in wanted:
                return directory
        best = ""
        for key in self.entries:
            stem = _strip_registry(key[:-1]) if key.endswith("*") else None
            if (
                stem is not None
                and any(w.startswith(stem) for w in wanted)
                and len(key) > len(best)
            ):
                best = key
        if best:
            return self.entries[best]
        raise ImageNotMapped(
            f'kubesim\'s process runtime has no local environment for image "{image}": map it '
            f"with --image-map {image}=DIR (KubeSim(image_map={{{image!r}: DIR}})), where DIR/bin "
            "holds its programs"
        )

    @staticmethod
    def path(env_dir: str) -> str:
        """The container's PATH: the environment's bin first, then the system's."""
        return f"{Path(env_dir) / 'bin'}:{_SYSTEM_PATH}"

    @staticmethod
    def tag_version(image: str) -> str | None:
        """The version an image tag names (`rayproject/ray:2.6.0-py311` → `2.6.0`)."""
        name = image.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        if ":" not in last:
            return None
        match = _VERSION.match(last.split(":", 1)[1])
        return match.group(1) if match else None
