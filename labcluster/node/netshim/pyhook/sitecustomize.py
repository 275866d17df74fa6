"""The network shim for Python processes where labnet.so cannot be built (no C compiler).

Python imports `sitecustomize` at start-up from sys.path; labcluster puts this folder on
PYTHONPATH of pod processes. It applies the same rules as labnet.c (see
labcluster/node/dns.py): bind 0.0.0.0/127.0.0.1 to the pod IP, connect 127.0.0.1 to
the pod IP, shift privileged ports when the node says so, DNAT TCP connections and UDP
datagrams to Services, resolve names through the cluster hosts table, and report the
pod's hostname. It enforces the NetworkPolicy table as labnet.c does
(labcluster/node/netpol.py): a denied TCP/UDP connect goes where the node drops it, a
denied UDP sendto() is dropped.
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

    udp_path = os.environ.get("LABCLUSTER_SERVICES_UDP", "")
    udp = {"stamp": None, "table": {}, "nat": {}}
    real_sendto = socket.socket.sendto
    real_recvfrom = socket.socket.recvfrom

    def udp_dnat(address):
        """A datagram to a UDP Service → one endpoint; the translation is remembered so
        replies come from the address the program asked (labnet.c's udp_dnat, conntrack)."""
        if not (isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], str)
                and address[0].startswith("127.") and not address[0].startswith("127.0.")):
            return address
        original = address[:2]
        address = shifted(address, True)
        try:
            st = os.stat(udp_path) if udp_path else None
        except OSError:
            st = None
        stamp = st and (st.st_mtime_ns, st.st_ino, st.st_size)
        if stamp != udp["stamp"]:
            table = {}
            if st:
                with open(udp_path) as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) >= 2 and parts[1].isdigit():
                            table[(parts[0], int(parts[1]))] = [
                                (e.rsplit(":", 1)[0], int(e.rsplit(":", 1)[1]))
                                for e in parts[2:]]
            udp.update(stamp=stamp, table=table)
        eps = udp["table"].get((address[0], address[1]))
        if eps is not None:
            if not eps:
                raise ConnectionRefusedError(111, "Connection refused")
            address = (*eps[services["rr"] % len(eps)], *address[2:])
            services["rr"] += 1
        if tuple(address[:2]) != tuple(original):
            udp["nat"][tuple(address[:2])] = tuple(original)
        return address

    def recvfrom(self, *args):
        data, address = real_recvfrom(self, *args)
        if udp["nat"] and isinstance(address, tuple):
            address = udp["nat"].get(tuple(address[:2]), address)
        return data, address

    netpol_path = os.environ.get("LABCLUSTER_NETPOL", "")
    netpol = {"stamp": None, "table": None}

    def policy():
        """The node's NetworkPolicy table, re-read when its stat changes."""
        from labcluster.node.netpol import PolicyTable

        try:
            st = os.stat(netpol_path)
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        if stamp != netpol["stamp"]:
            with open(netpol_path) as f:
                netpol.update(stamp=stamp, table=PolicyTable.parse(f.read()))
        return netpol["table"]

    def protocol(sock):
        if sock.type == socket.SOCK_STREAM:
            return "TCP"
        return "UDP" if sock.type == socket.SOCK_DGRAM else ""

    def denied(sock, address):
        """True when the policies drop this pod's traffic to `address` (after DNAT)."""
        if not (netpol_path and pod_ip and isinstance(address, tuple) and len(address) >= 2
                and isinstance(address[0], str) and isinstance(address[1], int)):
            return False
        proto = protocol(sock)
        table = policy() if proto else None
        if table is None:
            return False
        port = address[1]
        if below and address[0].startswith("127.") and not address[0].startswith("127.0.") \
                and offset < port < offset + below:
            port -= offset  # policies speak the API's port numbers
        return not table.allows(pod_ip, address[0], port, proto)

    def dropped(sock, connector):
        """Connect where the node drops traffic (netpol.DropSink): a TCP connect then times
        out as a dropped SYN does, after the table's timeout or the caller's own."""
        table = netpol["table"]
        target = table.drop_udp if sock.type == socket.SOCK_DGRAM else table.drop_tcp
        if sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, table.timeout_ms)
        if target is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            raise TimeoutError(110, "Connection timed out")
        if sock.family == socket.AF_INET6:
            target = ("::ffff:" + target[0], target[1])
        return connector(sock, target)

    def connect(self, address):
        if self.family == socket.AF_INET and self.type == socket.SOCK_DGRAM:
            address = udp_dnat(local(address, False))
        else:
            address = outgoing(self, address)
        if denied(self, address):
            return dropped(self, real_connect)
        return real_connect(self, address)

    def connect_ex(self, address):
        try:
            address = outgoing(self, address)
        except ConnectionRefusedError as exc:
            return exc.errno
        if denied(self, address):
            try:
                return dropped(self, real_connect_ex)
            except TimeoutError as exc:
                return exc.errno
        return real_connect_ex(self, address)

    def sendto(self, data, *args):
        if self.type == socket.SOCK_DGRAM and args:
            target = args[-1]
            if self.family == socket.AF_INET:
                target = udp_dnat(target)
            if denied(self, target):
                return len(memoryview(data).cast("B"))  # dropped on the way
            args = (*args[:-1], target)
        return real_sendto(self, data, *args)

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
    socket.socket.sendto = sendto
    socket.socket.recvfrom = recvfrom
    socket.socket.connect_ex = connect_ex


def _no_uvloop() -> None:
    """uvloop resolves names and opens sockets in libuv's C code, past every function
    `_install` patches: a uvicorn server on uvloop (the storefront's) could not resolve
    `redis` or `postgres`. Make it unimportable, so uvicorn's `loop="auto"` (and anyone
    who tries `import uvloop`) falls back to asyncio's loop, whose getaddrinfo and
    connect are the socket module's. (labnet.so, below libuv, needs none of this.)"""
    import sys

    sys.modules["uvloop"] = None  # `import uvloop` now raises ImportError


if os.environ.get("LABCLUSTER_SHIM") == "python":
    _install()
    _no_uvloop()


def _nodump() -> None:
    """labnet.c's labnet_nodump for Python processes (a root node's pods: see security.py)."""
    if os.environ.get("LABCLUSTER_NODUMP") == "1":
        try:
            import ctypes

            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
        except (OSError, AttributeError):
            pass


_nodump()
