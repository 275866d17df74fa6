"""Built-in commands for images labcluster has no binaries for (busybox, curlimages/curl).

Run as `python -m labcluster.node.toolbox <command> [args]`; each image's bin dir has a
wrapper per command. They behave like the busybox applets the lab uses, closely enough
that the lab's cells read the same: `nslookup NAME`, `wget -qO- URL`, `curl -s URL`,
`sleep`, `echo`, `cat`, `env`, `hostname`, and bind's `dig`. nslookup and dig ask the
nameserver of the container's /etc/resolv.conf (kube-dns's ClusterIP) over the wire, and
fall back to the hosts table where the node serves no DNS; wget/curl use getaddrinfo,
which the network shim answers.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from labcluster.node.dns import HostsTable, NXDomain


def _resolver() -> tuple[str | None, list[str], int]:
    """(nameserver, search, ndots) from the container's /etc/resolv.conf (the kubelet
    writes it when the node serves DNS); no nameserver: the hosts table is used."""
    from labcluster.node.containerfs import ContainerFS
    from labcluster.node.dns import NDOTS, read_resolv_conf

    search = os.environ.get("LABCLUSTER_SEARCH", "").split()
    fs = ContainerFS()
    if not fs.mapped:
        return None, search, NDOTS
    try:
        text = fs.host("/etc/resolv.conf").read_text()
    except OSError:
        return None, search, NDOTS
    servers, listed, ndots = read_resolv_conf(text)
    return (servers[0] if servers else None), listed or search, ndots


class DnsTimeout(OSError):
    pass


def dns_query(server: str, name: str, qtype: str = "A", port: int = 53, tcp: bool = False,
              timeout: float = 5.0):
    """One query over the wire (dnslib for the format), as a stub resolver sends it:
    UDP, a reply only from the server asked, TCP again when the reply is truncated."""
    from dnslib import DNSRecord

    request = DNSRecord.question(name, qtype)
    data = request.pack()
    if not tcp:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(data, (server, port))
            deadline = time.monotonic() + timeout
            while True:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    raw, source = sock.recvfrom(65535)
                except TimeoutError:
                    raise DnsTimeout(f"no answer from {server}#{port}") from None
                if source[:2] != (server, port):
                    continue  # not from the server asked: a resolver ignores it
                reply = DNSRecord.parse(raw)
                if reply.header.id == request.header.id:
                    break
        if not reply.header.tc:
            return reply
    with socket.create_connection((server, port), timeout=timeout) as sock:
        sock.sendall(len(data).to_bytes(2, "big") + data)
        head = _read_exact(sock, 2)
        return DNSRecord.parse(_read_exact(sock, int.from_bytes(head, "big")))


def _read_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise DnsTimeout("connection closed")
        out += chunk
    return out


def nslookup(args: list[str]) -> int:
    """bind's nslookup (the storefront image installs bind9-dnsutils): the server line,
    then the A records of the first search-list candidate that has any."""
    names = [a for a in args if not a.startswith("-")]
    if not names:
        print("Usage: nslookup HOST [DNS_SERVER]", file=sys.stderr)
        return 1
    name = names[0]
    server, search, ndots = _resolver()
    if len(names) > 1:
        server = names[1]
    if server is None:
        return _nslookup_table(name, search)
    from dnslib import QTYPE, RCODE

    from labcluster.node.dns import candidates

    print(f"Server:\t\t{server}\nAddress:\t{server}#53\n")
    rcodes = []
    for candidate in candidates(name, search, ndots):
        try:
            reply = dns_query(server, candidate + ".")
        except (OSError, ValueError) as exc:
            print(f";; connection timed out; no servers could be reached ({exc})")
            return 1
        rcodes.append(reply.header.rcode)
        addresses = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
        if reply.header.rcode == RCODE.NOERROR and addresses:
            if not reply.header.aa:
                print("Non-authoritative answer:")
            for address in addresses:
                print(f"Name:\t{candidate}\nAddress: {address}")
            print()
            return 0
        if reply.header.rcode not in (RCODE.NXDOMAIN, RCODE.NOERROR):
            break  # SERVFAIL/REFUSED: a resolver stops there
    last = rcodes[-1] if rcodes else RCODE.NXDOMAIN
    if last == RCODE.NOERROR or RCODE.NOERROR in rcodes:
        print(f"*** Can't find {name}: No answer")
    else:
        print(f"** server can't find {name}: {RCODE.get(last)}\n", file=sys.stderr)
    return 1


def _nslookup_table(name: str, search: list[str]) -> int:
    """No nameserver in the container (a node without the DNS server): the hosts table."""
    table = HostsTable(os.environ.get("LABCLUSTER_HOSTS", "/nonexistent"))
    print("Server:\t\tlabcluster-dns (hosts table)")
    print(f"Address:\t{os.environ.get('LABCLUSTER_HOSTS', '-')}\n")
    try:
        answer = table.lookup(name, search)
    except NXDomain:
        fqdn = f"{name}.{search[0]}" if search and "." not in name else name
        print(f"** server can't find {fqdn}: NXDOMAIN", file=sys.stderr)
        return 1
    if answer is not None:
        for address in answer.addresses:
            print(f"Name:\t{answer.fqdn}\nAddress: {address}")
        return 0
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        print(f"** server can't find {name}: NXDOMAIN", file=sys.stderr)
        return 1
    print("Non-authoritative answer:")
    for address in dict.fromkeys(info[4][0] for info in infos):
        print(f"Name:\t{name}\nAddress: {address}")
    return 0


def dig(args: list[str]) -> int:
    """bind's dig, the forms people type: `dig [@server] name [type] [+short] [+tcp]
    [+search]`; like dig, no search list unless +search."""
    from dnslib import QTYPE

    from labcluster.node.dns import candidates

    server, search, ndots = _resolver()
    names, qtype, short, tcp, use_search = [], "A", False, False, False
    for arg in args:
        if arg.startswith("@"):
            server = arg[1:]
        elif arg in ("+short", "+tcp", "+vc", "+search"):
            short |= arg == "+short"
            tcp |= arg in ("+tcp", "+vc")
            use_search |= arg == "+search"
        elif arg.startswith("+"):
            continue
        elif arg.upper() in QTYPE.reverse and names:
            qtype = arg.upper()
        else:
            names.append(arg)
    if server is None:
        print(";; no nameserver in /etc/resolv.conf", file=sys.stderr)
        return 9
    name = names[0] if names else "."
    tries = candidates(name, search, ndots) if use_search else [name.rstrip(".")]
    started = time.monotonic()
    for fqdn in tries:
        try:
            reply = dns_query(server, fqdn + ".", qtype, tcp=tcp)
        except (OSError, ValueError):
            print(f";; communications error to {server}#53: timed out\n"
                  ";; no servers could be reached")
            return 9
        if reply.header.rcode == 0 and reply.rr:
            break
    elapsed = int((time.monotonic() - started) * 1000)
    if short:
        for rr in reply.rr:
            print(rr.rdata)
        return 0
    print(f"\n; <<>> DiG (labcluster toolbox) <<>> {' '.join(args)}\n;; global options: +cmd")
    print(";; Got answer:")
    print(str(reply).replace(";; ->>HEADER<<-", ";; ->>HEADER<<-", 1))
    print(f"\n;; Query time: {elapsed} msec\n;; SERVER: {server}#53({server}) "
          f"({'TCP' if tcp else 'UDP'})\n;; WHEN: {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}"
          f"\n;; MSG SIZE  rcvd: {len(reply.pack())}\n")
    return 0


def _fetch(
    url: str,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
    follow: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    if "://" not in url:
        url = "http://" + url
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = urllib.request.build_opener(*([] if follow else [_NoRedirect()]))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _host_of(url: str) -> str:
    return urllib.request.urlparse(url if "://" in url else "http://" + url).hostname or url


def wget(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wget", add_help=False)
    parser.add_argument("-q", action="store_true")
    parser.add_argument("-O", dest="output")
    parser.add_argument("-T", dest="timeout", type=float, default=30)
    parser.add_argument("--spider", action="store_true")
    parser.add_argument("-S", action="store_true")
    parser.add_argument("url")
    opts = parser.parse_args(_split_short(args, {"O", "T"}))
    try:
        status, headers, body = _fetch(opts.url, "HEAD" if opts.spider else "GET", timeout=opts.timeout)
    except urllib.error.URLError as exc:
        return _network_error("wget", opts.url, exc)
    except TimeoutError:
        print("wget: download timed out", file=sys.stderr)
        return 1
    if opts.S:
        for key, value in headers.items():
            print(f"  {key}: {value}", file=sys.stderr)
    if status >= 400:
        print(f"wget: server returned error: HTTP/1.1 {status}", file=sys.stderr)
        return 1
    if opts.spider:
        return 0
    if opts.output == "-":
        sys.stdout.buffer.write(body)
    else:
        name = opts.output or (urllib.request.urlparse(opts.url).path.rsplit("/", 1)[-1] or "index.html")
        with open(name, "wb") as f:
            f.write(body)
        if not opts.q:
            print(f"saving to '{name}'", file=sys.stderr)
    return 0


def curl(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="curl", add_help=False)
    for flag in ("-s", "-S", "-f", "-i", "-L", "-v", "-k", "-I"):
        parser.add_argument(flag, action="store_true")
    parser.add_argument("-X", dest="method")
    parser.add_argument("-d", "--data", dest="data")
    parser.add_argument("-H", dest="headers", action="append", default=[])
    parser.add_argument("-o", dest="output")
    parser.add_argument("-w", dest="write_out")
    parser.add_argument("-m", "--max-time", dest="max_time", type=float, default=300)
    parser.add_argument("--connect-timeout", type=float)
    parser.add_argument("url")
    opts = parser.parse_args(_split_short(args, {"X", "d", "H", "o", "w", "m"}))
    headers = dict(h.split(":", 1) for h in opts.headers if ":" in h)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    method = opts.method or ("HEAD" if opts.I else "POST" if opts.data is not None else "GET")
    data = opts.data.encode() if opts.data is not None else None
    if data is not None:
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    try:
        status, response_headers, body = _fetch(
            opts.url, method, data, headers, opts.max_time, follow=opts.L
        )
    except urllib.error.URLError as exc:
        return _network_error("curl", opts.url, exc, quiet=opts.s and not opts.S)
    except TimeoutError:
        if not (opts.s and not opts.S):
            print(f"curl: (28) Operation timed out after {opts.max_time} seconds", file=sys.stderr)
        return 28
    if opts.f and status >= 400:
        if not (opts.s and not opts.S):
            print(f"curl: (22) The requested URL returned error: {status}", file=sys.stderr)
        return 22
    out = sys.stdout.buffer if opts.output in (None, "-") else open(opts.output, "wb")  # noqa: SIM115
    if opts.i or opts.I:
        out.write(f"HTTP/1.1 {status}\r\n".encode())
        out.write("".join(f"{k}: {v}\r\n" for k, v in response_headers.items()).encode() + b"\r\n")
    if not opts.I:
        out.write(body)
    out.flush()
    if opts.write_out:
        sys.stdout.write(opts.write_out.replace("%{http_code}", str(status)).replace("\\n", "\n"))
    return 0


def _network_error(tool: str, url: str, exc: urllib.error.URLError, quiet: bool = False) -> int:
    reason = exc.reason
    if isinstance(reason, socket.gaierror):
        message, code = f"Could not resolve host: {_host_of(url)}", 6
    elif isinstance(reason, ConnectionRefusedError):
        message, code = f"Failed to connect to {_host_of(url)}: Connection refused", 7
    elif isinstance(reason, TimeoutError | socket.timeout):
        message, code = "Operation timed out", 28
    else:
        message, code = str(reason), 7
    if tool == "wget":
        print(f"wget: {'bad address' if code == 6 else 'can' + chr(39) + 't connect to remote host'}"
              f" '{_host_of(url)}'", file=sys.stderr)
        return 1
    if not quiet:
        print(f"curl: ({code}) {message}", file=sys.stderr)
    return code


def _split_short(args: list[str], with_value: set[str]) -> list[str]:
    """Expand busybox/curl style bundles (`-qO-`, `-sS`) into separate flags."""
    out: list[str] = []
    for arg in args:
        if arg.startswith("--") or not arg.startswith("-") or len(arg) <= 2:
            out.append(arg)
            continue
        letters = arg[1:]
        for i, letter in enumerate(letters):
            if letter in with_value:
                out.append("-" + letter)
                if letters[i + 1 :]:
                    out.append(letters[i + 1 :])
                break
            out.append("-" + letter)
    return out


def sleep(args: list[str]) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    for arg in args:
        if arg == "infinity":
            total = float("inf")
            continue
        scale = units.get(arg[-1])
        total += float(arg[:-1]) * scale if scale else float(arg)
    if total == float("inf"):
        while True:
            time.sleep(3600)
    time.sleep(total)
    return 0


def echo(args: list[str]) -> int:
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    sys.stdout.write(" ".join(args) + ("\n" if newline else ""))
    return 0


def cat(args: list[str]) -> int:
    """Paths are the container's (its mount table, containerfs.py), not the machine's."""
    from labcluster.node.containerfs import ContainerFS

    fs = ContainerFS()
    code = 0
    for name in args or ["-"]:
        try:
            if name == "-":
                sys.stdout.buffer.write(sys.stdin.buffer.read())
            else:
                with open(fs.host(fs.absolute(name)), "rb") as f:
                    sys.stdout.buffer.write(f.read())
        except OSError as exc:
            print(f"cat: can't open '{name}': {exc.strerror}", file=sys.stderr)
            code = 1
    return code


HIDDEN_ENV = ("LABCLUSTER_", "LD_PRELOAD", "PYTHONPATH")


def env(args: list[str]) -> int:
    """Print the container's environment (without labcluster's own plumbing)."""
    for key, value in os.environ.items():
        if not key.startswith(HIDDEN_ENV):
            print(f"{key}={value}")
    return 0


def hostname(args: list[str]) -> int:
    print(os.environ.get("LABCLUSTER_HOSTNAME") or os.environ.get("HOSTNAME") or socket.gethostname())
    return 0


def id_(args: list[str]) -> int:
    """busybox `id`: `-u`, `-g`, `-G`, or `uid=1000 gid=1000 groups=1000,2000` (numbers only:
    a container's users are rarely in the host's /etc/passwd)."""
    groups = [os.getegid(), *(g for g in os.getgroups() if g != os.getegid())]
    if args[:1] == ["-u"]:
        print(os.geteuid())
    elif args[:1] == ["-g"]:
        print(os.getegid())
    elif args[:1] == ["-G"]:
        print(" ".join(map(str, groups)))
    elif args:
        print(f"id: unrecognized option: {args[0]}", file=sys.stderr)
        return 1
    else:
        print(f"uid={os.geteuid()} gid={os.getegid()} groups={','.join(map(str, groups))}")
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "nslookup": nslookup,
    "dig": dig,
    "id": id_,
    "wget": wget,
    "curl": curl,
    "sleep": sleep,
    "echo": echo,
    "cat": cat,
    "env": env,
    "hostname": hostname,
    "true": lambda args: 0,
    "false": lambda args: 1,
    "tar": lambda args: _tar_module().tar(args),
    "test": lambda args: _tar_module().test(args),
}


def _tar_module():
    """Imported on use: most toolbox calls (nslookup, curl) need no tarfile."""
    from labcluster.node import toolbox_tar
    return toolbox_tar


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"toolbox: applet not found: {argv[0] if argv else ''}", file=sys.stderr)
        return 127
    try:
        return COMMANDS[argv[0]](argv[1:])
    except SystemExit as exc:  # argparse usage errors
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
