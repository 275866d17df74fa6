"""labcluster: an embedded single-node cluster that speaks the Kubernetes API.

It exists so that the course runs where no real cluster can (a laptop without Docker,
Binder, CI); the notebooks talk to it with the official client exactly as to EKS.
"""
