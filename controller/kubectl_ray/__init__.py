"""``kubectl ray``: the KubeRay kubectl plugin's everyday commands, for clusters run by rayop.

Installed as the console script ``kubectl-ray``, so ``kubectl ray ...`` finds it on PATH.
Command names, flags, table columns and messages follow KubeRay's plugin where the two overlap,
so its users' habits and scripts carry over. A small package of its own: it talks to the API
server with rayop's client (``controller.kube``) and reads RayClusters as plain objects; it
never imports the operator.

Modules: ``cli`` (arguments, the one-line error contract), ``connect`` (kubeconfig, namespace,
the error type), ``generate`` (a RayCluster from flags or a KubeRay config file), ``tables``
(the ``get`` tables), ``commands`` (what each command does).
"""
