"""kubesim's kubelet: runs the pods bound to simulated nodes and reports them like a real one.

`runtime.ContainerRuntime` is the seam between the kubelet (restart policy, CrashLoopBackOff,
graceful termination, pod status, events) and whatever runs containers. `SimulatedRuntime` is
the one implementation: containers are state machines on event-loop timers. A later mode can run
real local processes behind the same Protocol.
"""
