"""labcluster's node runtime: runs a pod's containers as real processes on this machine.

A library for the kubelet (see README.md in this folder): image catalog (`images`),
process supervision with logs and limits (`supervisor`, `logs`), pod IPs and cluster DNS
for every process (`loopback`, `dns`, `netshim`), probes, exec and metrics.
"""
