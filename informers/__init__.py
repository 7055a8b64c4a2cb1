"""List+watch reflectors, indexed stores and shared informers with client-go's semantics.

This package imports nothing of rayop's: it works for any Kubernetes resource."""
