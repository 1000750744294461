"""argo-admission: an admission webhook that enforces Argo Workflows' template referencing rules."""

__version__ = "0.1.0"
