"""The shipped policy files (package data: `argo-admission serve` reads default.yaml)."""
