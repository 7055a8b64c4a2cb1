"""rayop's operator: CLI, RayCluster API models, desired-state builders, reconciler, status,
events, leader election, metrics and health server, and the wiring that joins them."""
