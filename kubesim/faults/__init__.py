"""Fault injection, from tests, HTTP and the CLI.

API faults (errors, latency, dropped watches) are injected by the API server itself
(`kubesim.apiserver.faults.Faults`, re-exported here); cluster chaos (crashed containers,
failing probes, lost nodes) acts on the kubelets and nodes (`chaos`).
"""

from kubesim.apiserver.faults import Faults

__all__ = ["Faults"]
