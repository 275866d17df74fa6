"""`nginx:*`: the real nginx when installed, else labcluster's built-in subset server.

The image's paths are mapped, not emulated: /usr/share/nginx/html and /etc/nginx/conf.d
are the container's host dirs (the pod's mounts, or per-container defaults holding the
stock image's index.html and default.conf). We generate the main nginx.conf in the run
dir (pid, temp paths, logs to stdout/stderr) and include rewritten copies of the
conf.d files, in which every container path under a mount becomes its host path and
`listen 80` becomes `listen <pod IP>:80` (so it works with or without the C shim).
Upstream names are resolved by nginx itself through getaddrinfo (the shim answers); with
the Python-only shim they are rewritten to IPs from the hosts table at start.
As root, workers also run as root: the content lives in run dirs other users cannot read.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from labcluster.node.binaries import system_tool, version_of
from labcluster.node.dns import HostsTable, NXDomain
from labcluster.node.imagebase import (
    STOCK_TAG,
    TOOLBOX_BOOT,
    ImageHandler,
    ImagePullError,
    ImageRef,
    NodeConfig,
)
from labcluster.node.launch import ContainerLaunch, ProcessSpec
from labcluster.node.netshim import SHIM_VARS
from labcluster.node.ports import node_ports

DEFAULT_CONF = """server {
    listen       80;
    server_name  localhost;
    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""
DEFAULT_INDEX = "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n" \
    "<body><h1>Welcome to nginx!</h1></body></html>\n"
ENTRYPOINTS = ("/docker-entrypoint.sh", "docker-entrypoint.sh")
LISTEN = re.compile(r"^(\s*listen\s+)(?:(?:0\.0\.0\.0|\*|127\.0\.0\.1):)?(\d+)([^;]*;)", re.M)
LISTEN_V6 = re.compile(r"^\s*listen\s+\[[^\]]*\]:\d+[^;]*;\s*$", re.M)
PROXY_HOST = re.compile(r"(proxy_pass\s+https?://)([A-Za-z0-9.-]+)")
PROXY_PORT = re.compile(r"(proxy_pass\s+https?://127\.(?!0\.)[0-9.]+:)(\d+)")


def nginx_binary() -> str | None:
    """The real nginx, unless LABCLUSTER_NGINX=builtin asks for minginx (tests, Binder)."""
    if os.environ.get("LABCLUSTER_NGINX") == "builtin":
        return None
    return system_tool("nginx")


#: What the built-in stand-in leaves out, for whoever reads why a pod behaves differently.
STAND_IN_DIFFERS = ("an nginx.conf subset (no regex locations, rewrite, if, gzip or "
                    "HTTP/2; unsupported directives are listed in the pod's log at start), "
                    "one Python process instead of master + workers")


def describe_nginx() -> str:
    """One line: what an `nginx:*` pod runs on this node."""
    real = nginx_binary()
    if real:
        return f"nginx: pods of image nginx:* run the real nginx ({real}, {version_of(real, '-v')})"
    why = ("LABCLUSTER_NGINX=builtin" if os.environ.get("LABCLUSTER_NGINX") == "builtin"
           else "nginx is not installed: apt-get install nginx, or ./scripts/lab as root")
    return (f"nginx: pods of image nginx:* run labcluster's built-in stand-in, minginx ({why}); "
            f"it differs: {STAND_IN_DIFFERS}")


@dataclass
class NginxImage(ImageHandler):
    @staticmethod
    def matches(ref: ImageRef) -> bool:
        return ref.name == "nginx"

    @classmethod
    def create(cls, ref: ImageRef, node: NodeConfig | None) -> NginxImage:
        if not STOCK_TAG.match(ref.tag):
            raise ImagePullError(ref.raw)
        return cls(ref, node, entrypoint=["/docker-entrypoint.sh"],
                   cmd=["nginx", "-g", "daemon off;"], workdir="/")

    def commands(self) -> dict[str, list[str]]:
        table = {"sh": ["/bin/sh"], **self.toolbox("sleep", "cat", "env", "hostname", "wget")}
        real = nginx_binary()
        table["nginx"] = [real] if real else self._builtin()
        table["curl"] = self.client("curl", system_tool("curl"))
        return table

    def _builtin(self) -> list[str]:
        python = self.node.python if self.node else __import__("sys").executable
        return [python, "-c", TOOLBOX_BOOT, "labcluster.node.minginx"]  # this labcluster's

    def image_id(self) -> str:
        real = nginx_binary()
        if real:
            version = version_of(real, "-v").rsplit("/", 1)[-1]
            return f"labcluster://nginx@{version} ({real}; asked for {self.ref.raw})"
        return (f"labcluster://nginx@builtin (labcluster's stand-in minginx, not nginx: an "
                f"nginx.conf subset; asked for {self.ref.raw})")

    def runs(self) -> str:
        """The tag's nginx version is not checked: the real nginx here is whatever the
        system has (Debian 12: 1.22, Ubuntu 24.04: 1.24), whose configuration language
        is the one the course's 1.27 manifests use; the stand-in is said to be one."""
        real = nginx_binary()
        if real:
            return f"nginx {version_of(real, '-v').rsplit('/', 1)[-1]} from {real}"
        return "its stand-in minginx, not nginx (an nginx.conf subset)"

    def main_spec(self, launch: ContainerLaunch) -> ProcessSpec:
        argv = self.argv_for(launch)
        if argv and argv[0] in ENTRYPOINTS:
            argv = argv[1:]
        if not argv or argv[0].rsplit("/", 1)[-1] != "nginx":
            return super().main_spec(launch)
        env = self.environment(launch)
        conf = self.write_config(launch, python_shim=env.get("LABCLUSTER_SHIM") != "labnet.so")
        prefix = launch.run_dir / "nginx"
        if nginx_binary():
            argv = [*self.commands()["nginx"], "-p", str(prefix), "-c", str(conf), "-e", "stderr"]
        else:
            argv = [*self._builtin(), "-c", str(conf)]
        # The official image's STOPSIGNAL is SIGQUIT: graceful, lets open requests finish.
        return ProcessSpec(argv, env, self.working_dir(launch), self.image_id(),
                           stop_signal=signal.SIGQUIT)

    def write_config(self, launch: ContainerLaunch, python_shim: bool = False) -> Path:
        """Materialise the image's defaults and our main nginx.conf; return its path."""
        html = launch.host_path("/usr/share/nginx/html")
        if launch.mount_for("/usr/share/nginx/html") is None and not html.exists():
            html.mkdir(parents=True)
            (html / "index.html").write_text(DEFAULT_INDEX)
            (html / "50x.html").write_text("<h1>An error occurred.</h1>\n")
        conf_d = launch.host_path("/etc/nginx/conf.d")
        if launch.mount_for("/etc/nginx/conf.d") is None and not conf_d.exists():
            conf_d.mkdir(parents=True)
            (conf_d / "default.conf").write_text(DEFAULT_CONF)
        prefix = launch.run_dir / "nginx"
        rewritten = prefix / "conf.d"
        rewritten.mkdir(parents=True, exist_ok=True)
        for old in rewritten.glob("*.conf"):
            old.unlink()
        for source in sorted(conf_d.glob("*.conf")) if conf_d.is_dir() else []:
            text = self.rewrite(source.read_text(), launch, python_shim)
            (rewritten / source.name).write_text(text)
        temp = prefix / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        mime = Path("/etc/nginx/mime.types")
        # a root master runs its workers as root (the node's user); a contained one as itself
        user = "user root root;\n" if os.getuid() == 0 and launch.host_user is None else ""
        main = prefix / "nginx.conf"
        main.write_text(
            f"daemon off;\n{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\n"
            # workers keep only TZ of the environment unless told: keep the shim's view
            + "".join(f"env {name};\n" for name in SHIM_VARS)
            + "error_log stderr notice;\nevents { worker_connections 1024; }\nhttp {\n"
            + (f"    include {mime};\n" if mime.exists() else "")
            + "    default_type application/octet-stream;\n"
            "    access_log /dev/stdout;\n    sendfile on;\n    keepalive_timeout 65;\n"
            + "".join(f"    {kind}_temp_path {temp / kind};\n"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"    include {rewritten}/*.conf;\n}}\n"
        )
        return main

    def rewrite(self, text: str, launch: ContainerLaunch, python_shim: bool) -> str:
        """Container paths → host paths; wildcard listens → the pod IP (see docstring)."""
        paths = ["/usr/share/nginx/html", *(m.container_path for m in launch.mounts)]
        for path in sorted(set(paths), key=len, reverse=True):
            pattern = re.compile(r"(?<![\w/.-])" + re.escape(path.rstrip("/")) + r"(?=[/;\s\"']|$)")
            text = pattern.sub(lambda _m, p=path: str(launch.host_path(p)), text)
        text = LISTEN_V6.sub("", text)
        host_port = node_ports().host_port  # privileged ports when not root (ports.py)
        text = LISTEN.sub(lambda m: f"{m.group(1)}{launch.pod_ip}:{host_port(int(m.group(2)))}"
                          f"{m.group(3)}", text)
        if python_shim and self.node is not None:
            table = HostsTable(self.node.hosts_file)

            def to_ip(match: re.Match[str]) -> str:
                try:
                    answer = table.lookup(match.group(2), launch.dns_search)
                except NXDomain:
                    return match.group(0)  # nginx then fails: "host not found in upstream"
                return match.group(1) + (answer.addresses[0] if answer else match.group(2))

            text = PROXY_HOST.sub(to_ip, text)
            text = PROXY_PORT.sub(lambda m: f"{m.group(1)}{host_port(int(m.group(2)))}", text)
        return text
