"""The files the offline commands read: manifests, template sources, the build's version."""
