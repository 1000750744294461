"""The `argo-admission` command line: arguments parsed into options, then the layers below."""
