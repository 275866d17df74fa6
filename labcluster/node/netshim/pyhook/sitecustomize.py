"""The network shim for Python processes where labnet.so cannot be built (no C compiler).

Python imports `sitecustomize` at start-up from sys.path; labcluster puts this folder on
PYTHONPATH of pod processes. It applies the same rules as labnet.c (see
labcluster/node/dns.py): bind 0.0.0.0/127.0.0.1 to the pod IP, connect 127.0.0.1 to
the pod IP, shift privileged ports when the node says so, resolve names through the cluster hosts table, and report the pod's hostname.
It only acts when LABCLUSTER_SHIM=python, so an inherited PYTHONPATH changes nothing else.
"""

import os


def _install() -> None:
    import socket

    from labcluster.node.dns import HostsTable, NXDomain

    pod_ip = os.environ.get("LABCLUSTER_POD_IP", "")
    table = HostsTable(os.environ.get("LABCLUSTER_HOSTS", "/nonexistent"))
    search = os.environ.get("LABCLUSTER_SEARCH", "").split()
    hostname = os.environ.get("LABCLUSTER_HOSTNAME", "")
    real_getaddrinfo = socket.getaddrinfo
    real_bind = socket.socket.bind
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    try:  # privileged ports for unprivileged pods, as labnet.c (labcluster/node/ports.py)
        below, offset = (int(x) for x in os.environ["LABCLUSTER_PORT_REMAP"].split(":"))
    except (KeyError, ValueError):
        below = offset = 0

    def shifted(address, to_cluster_only):
        if not below or not isinstance(address, tuple) or len(address) < 2:
            return address
        host, port = address[0], address[1]
        if not isinstance(port, int) or not 0 < port < below:
            return address
        if to_cluster_only and not (isinstance(host, str) and host.startswith("127.")
                                    and not host.startswith("127.0.")):
            return address
        return (host, port + offset, *address[2:])

    def cluster(host):
        """Addresses for a cluster name, None to ask the real resolver."""
        if not isinstance(host, str) or not host:
            return None
        try:
            real_getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
            return None
        except socket.gaierror:
            pass
        if hostname and pod_ip and host.lower().rstrip(".") == hostname.lower():
            return [pod_ip]
        try:
            answer = table.lookup(host, search)
        except NXDomain:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return list(answer.addresses) if answer else None

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        addresses = cluster(host)
        if addresses is None:
            return real_getaddrinfo(host, port, family, type, proto, flags)
        results = []
        for address in addresses:
            results += real_getaddrinfo(
                address, port, family, type, proto, flags | socket.AI_NUMERICHOST
            )
        return results

    def gethostbyname(host):
        return getaddrinfo(host, None, socket.AF_INET)[0][4][0]

    def gethostbyname_ex(host):
        ips = list(dict.fromkeys(i[4][0] for i in getaddrinfo(host, None, socket.AF_INET)))
        return host, [], ips

    def local(address, also_any):
        if not pod_ip or not isinstance(address, tuple) or not address:
            return address
        host = address[0]
        targets = {"127.0.0.1", "localhost"} | ({"", "0.0.0.0"} if also_any else set())
        if host in targets:
            return (pod_ip, *address[1:])
        return address

    def bind(self, address):
        if self.family == socket.AF_INET:
            address = shifted(local(address, True), False)
        elif self.family == socket.AF_INET6:
            address = shifted(address, False)
        return real_bind(self, address)

    services_path = os.environ.get("LABCLUSTER_SERVICES", "")
    services = {"stamp": None, "table": {}, "rr": int.from_bytes(os.urandom(4), "little")}

    def service_endpoint(address):
        """ClusterIP:port → a ready endpoint, round robin from a random start (labnet.c's DNAT)."""
        try:
            st = os.stat(services_path)
        except OSError:
            return address
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        if stamp != services["stamp"]:
            table = {}
            with open(services_path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2 and parts[1].isdigit():
                        eps = [(e.rsplit(":", 1)[0], int(e.rsplit(":", 1)[1])) for e in parts[2:]]
                        table[(parts[0], int(parts[1]))] = eps
            services.update(stamp=stamp, table=table)
        eps = services["table"].get((address[0], address[1]))
        if eps is None:
            return address
        if not eps:
            raise ConnectionRefusedError(111, "Connection refused")
        services["rr"] += 1
        return (*eps[services["rr"] % len(eps)], *address[2:])

    def outgoing(self, address):
        if self.family != socket.AF_INET:
            return address
        address = local(address, False)
        if self.type != socket.SOCK_STREAM:
            return address
        address = shifted(address, True)
        if services_path and isinstance(address, tuple) and isinstance(address[0], str) \
                and address[0].startswith("127.") and not address[0].startswith("127.0."):
            address = service_endpoint(address)
        return address

    def connect(self, address):
        return real_connect(self, outgoing(self, address))

    def connect_ex(self, address):
        try:
            address = outgoing(self, address)
        except ConnectionRefusedError as exc:
            return exc.errno
        return real_connect_ex(self, address)

    if hostname:
        real_uname = os.uname

        def uname():
            u = real_uname()
            return os.uname_result((u.sysname, hostname, u.release, u.version, u.machine))

        os.uname = uname
        socket.gethostname = lambda: hostname
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex
    socket.socket.bind = bind
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex


if os.environ.get("LABCLUSTER_SHIM") == "python":
    _install()


def _nodump() -> None:
    """labnet.c's labnet_nodump for Python processes (a root node's pods: see security.py)."""
    if os.environ.get("LABCLUSTER_NODUMP") == "1":
        try:
            import ctypes

            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
        except (OSError, AttributeError):
            pass


_nodump()
