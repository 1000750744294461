"""The cluster adapters: every call to the Kubernetes API server (watches, leases, listings)."""
