"""`kubesim serve --authorization`: the two modes, and a clear error for anything else."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import yaml

from kubesim import KubeSim
from tests.component.kubesim.auth.conftest import Identity


async def test_an_unknown_mode_is_one_line() -> None:
    """argparse names the flag and the choices; kubesim does not start."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubesim", "serve", "--no-controllers", "--authorization", "abac",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 2
    assert (
        "argument --authorization: invalid choice: 'abac' (choose from 'rbac', 'always-allow')"
        in err.decode()
    )
    assert "Traceback" not in err.decode()


async def test_the_kubeconfig_carries_the_admin_token(tmp_path: Path) -> None:
    """The kubeconfig kubesim writes holds `sim.admin_token`, which is the admin."""
    async with KubeSim(controllers=False, kubeconfig_path=tmp_path / "kc.yaml") as sim:
        config = yaml.safe_load(sim.kubeconfig_path.read_text())
        assert config["users"][0]["user"]["token"] == sim.admin_token
        code, answer = await Identity(sim, sim.admin_token).post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews", {}
        )
        assert (code, answer["status"]["userInfo"]["username"]) == (201, "kubesim-admin")
