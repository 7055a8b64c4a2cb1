"""A real Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler) for tests.

kubesim claims to behave like Kubernetes; with the binaries `make controlplane` builds from the
Go modules pinned in ``tools/controlplane/go.mod``, that claim becomes a test. This module
starts them on free loopback ports with a throwaway PKI (CA, serving certificate, client
certificates per identity, a service-account signing key), RBAC authorization and upstream's
default admission plugins, waits for ``/readyz`` within a bound, and writes a kubeconfig.

Every process gets PR_SET_PDEATHSIG and its own session, and is stopped by ``stop()``, by an
atexit hook and by the kernel if this process dies, so a failed or interrupted run leaves
nothing behind. ``python -m tests.controlplane`` (``make realk8s``) starts one for people.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "controlplane" / "build.sh"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
READY_WITHIN = 45.0  # seconds: 3-7 s here under load; below pytest-timeout's 60 s, so the logs show
ISSUER = "https://kubernetes.default.svc.cluster.local"
WORKDIR_PREFIX = "rayop-realk8s-"


class ControlPlaneUnavailable(Exception):
    """The binaries are not built and cannot be (no Go): tests skip with this message."""


class ControlPlaneFailed(Exception):
    """The control plane did not start; the message carries the last lines of every log."""


def bin_dir() -> Path:
    """Where ``make controlplane`` puts the binaries for the versions pinned in go.mod."""
    out = subprocess.run([str(BUILD_SCRIPT), "--bin-dir"], capture_output=True, text=True)
    return Path(out.stdout.strip())


def find_binaries() -> Path:
    """The bin directory, or ControlPlaneUnavailable naming what is missing."""
    directory = bin_dir()
    if (directory / ".complete").exists():
        return directory
    check = subprocess.run([str(BUILD_SCRIPT), "--check"], capture_output=True, text=True)
    if check.returncode != 0:
        raise ControlPlaneUnavailable(check.stderr.strip())
    raise ControlPlaneFailed(
        f"Go is installed but the control plane is not built in {directory}: run `make controlplane`"
    )


# ---------------------------------------------------------------------------- PKI


def _name(common_name: str, *organizations: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class Pki:
    """A throwaway CA that signs the serving certificate and one client certificate per user."""

    ca_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def __post_init__(self) -> None:
        self.ca_cert = (
            self._builder(_name("rayop-realk8s-ca"), self.ca_key.public_key())
            .issuer_name(_name("rayop-realk8s-ca"))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_pem = self.ca_cert.public_bytes(serialization.Encoding.PEM)

    @staticmethod
    def _builder(
        subject: x509.Name, public_key: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=7))
        )

    def issue(self, subject: x509.Name, *, server: bool) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for `subject`, for serving 127.0.0.1 or as a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._builder(subject, key.public_key()).issuer_name(self.ca_cert.subject)
        if server:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        cert = builder.sign(self.ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


# ---------------------------------------------------------------------------- processes


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Run in the child before exec: the kernel SIGKILLs it when the test process dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return f"--- {path.name}: (no log)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last {len(text)} lines of {path.name}:\n" + "\n".join(text)


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver (+ controller-manager and scheduler) on loopback."""

    workdir: Path
    url: str
    kubeconfig: Path
    pki: Pki
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def kubeconfig_for(self, user: str, *groups: str) -> Path:
        """A kubeconfig authenticating as `user` in `groups` (a client certificate)."""
        cert, key = self.pki.issue(_name(user, *groups), server=False)
        path = self.workdir / f"kubeconfig-{user.replace(':', '_')}.yaml"
        _write_kubeconfig(path, url=self.url, ca=self.pki.ca_pem, cert=cert, key=key)
        return path

    def logs(self) -> str:
        """The last lines of every component's log."""
        return "\n".join(_tail(self.workdir / f"{name}.log") for name in BINARIES)

    def stop(self) -> None:
        """SIGTERM every component in reverse start order (etcd last), SIGKILL one that is
        still there after 10 s; then remove the work directory."""
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _spawn(self, binary: Path, args: list[str]) -> None:
        name = binary.name
        log = (self.workdir / f"{name}.log").open("wb")
        with log:
            self.processes[name] = subprocess.Popen(
                [str(binary), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def _wait_ready(self, within: float) -> None:
        context = ssl.create_default_context(cadata=self.pki.ca_pem.decode())
        context.load_cert_chain(str(self.workdir / "admin.crt"), str(self.workdir / "admin.key"))
        deadline = time.monotonic() + within
        last = "no answer"
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise ControlPlaneFailed(
                        f"{name} exited with {process.returncode}\n{self.logs()}"
                    )
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", context=context, timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last = str(error)
            time.sleep(0.3)
        raise ControlPlaneFailed(f"/readyz not ready within {within:.0f} s ({last})\n{self.logs()}")


def _write_kubeconfig(path: Path, *, url: str, ca: bytes, cert: bytes, key: bytes) -> None:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "realk8s", "cluster": {"server": url, "certificate-authority-data": b64(ca)}}
        ],
        "users": [
            {
                "name": "user",
                "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
            }
        ],
        "contexts": [{"name": "realk8s", "context": {"cluster": "realk8s", "user": "user"}}],
        "current-context": "realk8s",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _prepare_files(workdir: Path, pki: Pki) -> dict[str, Path]:
    """The CA, serving and client certificates and the service-account key pair, as files."""
    files = {"ca": _write(workdir / "ca.crt", pki.ca_pem)}
    files["serving.crt"], files["serving.key"] = (
        _write(workdir / f"serving.{ext}", pem)
        for ext, pem in zip(
            ("crt", "key"), pki.issue(_name("kube-apiserver"), server=True), strict=True
        )
    )
    cert, key = pki.issue(_name("rayop-admin", "system:masters"), server=False)
    files["admin.crt"], files["admin.key"] = (
        _write(workdir / "admin.crt", cert),
        _write(workdir / "admin.key", key),
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files["sa.key"] = _write(workdir / "sa.key", _pem_key(sa_key))
    files["sa.pub"] = _write(
        workdir / "sa.pub",
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return files


def start(*, controllers: bool = True, within: float = READY_WITHIN) -> ControlPlane:
    """Start etcd, kube-apiserver and (with `controllers`) kube-controller-manager; return once
    /readyz answers. Raises ControlPlaneUnavailable (no Go) or ControlPlaneFailed (with logs)."""
    binaries = find_binaries()
    sweep_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    (workdir / "owner.pid").write_text(str(os.getpid()))
    pki = Pki()
    files = _prepare_files(workdir, pki)
    port, etcd_client, etcd_peer = free_port(), free_port(), free_port()
    plane = ControlPlane(workdir, f"https://127.0.0.1:{port}", workdir / "kubeconfig.yaml", pki)
    atexit.register(plane.stop)
    _write_kubeconfig(
        plane.kubeconfig,
        url=plane.url,
        ca=pki.ca_pem,
        cert=files["admin.crt"].read_bytes(),
        key=files["admin.key"].read_bytes(),
    )
    try:
        plane._spawn(binaries / "etcd", _etcd_args(workdir, etcd_client, etcd_peer))
        plane._spawn(binaries / "kube-apiserver", _apiserver_args(files, port, etcd_client))
        plane._wait_ready(within)
        if controllers:
            kcm = plane.kubeconfig_for("system:kube-controller-manager")
            plane._spawn(binaries / "kube-controller-manager", _kcm_args(files, kcm))
            scheduler = plane.kubeconfig_for("system:kube-scheduler")
            plane._spawn(binaries / "kube-scheduler", _component_args(scheduler))
    except ControlPlaneFailed:
        discard(plane)
        raise
    except Exception as error:
        logs = plane.logs()
        discard(plane)
        raise ControlPlaneFailed(f"{error}\n{logs}") from error
    except BaseException:
        discard(plane)
        raise
    return plane


def discard(plane: ControlPlane) -> None:
    """Stop `plane` and forget its atexit hook."""
    plane.stop()
    atexit.unregister(plane.stop)


def sweep_stale_workdirs() -> None:
    """Remove the work directories of test processes that died without cleaning up (SIGKILL:
    their components died with them, by PR_SET_PDEATHSIG, but the files stayed)."""
    for workdir in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            owner = int((workdir / "owner.pid").read_text())
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(workdir, ignore_errors=True)
        except (OSError, ValueError):
            continue  # not ours to judge (no pid file yet, or another user's)


def _etcd_args(workdir: Path, client: int, peer: int) -> list[str]:
    return [
        f"--data-dir={workdir / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{client}",
        f"--advertise-client-urls=http://127.0.0.1:{client}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=default=http://127.0.0.1:{peer}",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def _apiserver_args(files: dict[str, Path], port: int, etcd: int) -> list[str]:
    return [
        f"--etcd-servers=http://127.0.0.1:{etcd}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={files['serving.crt']}",
        f"--tls-private-key-file={files['serving.key']}",
        f"--client-ca-file={files['ca']}",
        f"--service-account-key-file={files['sa.pub']}",
        f"--service-account-signing-key-file={files['sa.key']}",
        f"--service-account-issuer={ISSUER}",
        "--authorization-mode=RBAC",
        # Upstream's default plugins are on; these two are what kubeadm adds.
        "--enable-admission-plugins=NodeRestriction,DefaultStorageClass",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--allow-privileged=true",
        # The kubernetes Service cannot point at a loopback address: no endpoint reconciler.
        "--endpoint-reconciler-type=none",
        "--v=1",
    ]


def _component_args(kubeconfig: Path) -> list[str]:
    """What kube-controller-manager and kube-scheduler share: their identity for the API and
    for delegated authn/authz of their own (loopback) endpoints, no leader election."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={free_port()}",
        "--leader-elect=false",
        "--v=1",
    ]


def _kcm_args(files: dict[str, Path], kubeconfig: Path) -> list[str]:
    return [
        *_component_args(kubeconfig),
        f"--root-ca-file={files['ca']}",
        f"--service-account-private-key-file={files['sa.key']}",
        "--use-service-account-credentials=true",
        "--controllers=*",
    ]


@contextlib.contextmanager
def running(*, controllers: bool = True) -> Iterator[ControlPlane]:
    """A control plane for the duration of the block."""
    plane = start(controllers=controllers)
    try:
        yield plane
    finally:
        discard(plane)


def main() -> None:
    """``make realk8s``: start one, print the kubeconfig, run until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig-out", type=Path, default=Path("kubeconfig-realk8s.yaml"))
    args = parser.parse_args()
    try:
        with running() as plane:
            shutil.copy(plane.kubeconfig, args.kubeconfig_out)
            print(f"real control plane at {plane.url}; kubeconfig: {args.kubeconfig_out.resolve()}")
            print("Ctrl-C stops it")
            signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly on TERM too
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
    except (ControlPlaneUnavailable, ControlPlaneFailed) as error:
        raise SystemExit(f"realk8s: {error}") from None


if __name__ == "__main__":
    main()
