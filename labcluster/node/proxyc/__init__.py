"""The kube-proxy for host clients in C (`labproxy.c`), compiled on first use.

Why C: the Python proxy (kubeproxy.py) spends 0.5–0.8 ms of CPU per new connection in
its event loop, so a client that opens a connection per request gets ~0.6 of the direct
rate through it (bench/labcluster_kubeproxy_bench.py). The C one does the same job with
an epoll loop and plain syscalls. It reads the plain-text table `write_proxy_text` writes.

`build()` compiles it like the netshim's library: once per source hash into the same
per-user cache dir, renamed into place atomically; None when there is no C compiler, and
then network.py runs the Python proxy.
"""

from __future__ import annotations

from pathlib import Path

from labcluster.node.netshim import compile_cached

SOURCE = Path(__file__).with_name("labproxy.c")
# What the process is called (argv[0]): tools find the kube-proxy by the word
# "labcluster.node.kubeproxy" in its command line (test_e2e_crash, bench/binder_memory),
# whichever implementation runs; the C one is told apart by its executable.
ARGV0 = "labcluster.node.kubeproxy"


class ProxyBuildError(RuntimeError):
    pass


def build(cache_dir: Path | None = None) -> Path | None:
    """Compile labproxy once per source version; None when there is no C compiler."""
    return compile_cached(SOURCE, "labproxy", ["-O2", "-Wall", "-Wextra"], [],
                          ProxyBuildError, cache_dir)


def command(text_table: Path, binary: Path, json_table: Path | None = None,
            ) -> tuple[list[str], str]:
    """(args, executable) for subprocess.Popen: argv[0] is ARGV0, the file is `binary`.

    `json_table`, the JSON table the text one mirrors, only names the process: tools
    and tests find the node's kube-proxy by that path in its command line, as they do the
    Python one's. labproxy ignores it.
    """
    extra = [str(json_table)] if json_table is not None else []
    return [ARGV0, str(text_table), *extra], str(binary)
