"""Cluster DNS rules, checked for the Python table and the C shim against the same cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from labcluster.node import netshim
from labcluster.node.dns import HostsTable, NXDomain, candidates, resolve, search_list

SEARCH = search_list("ecommerce-lab")
RECORDS = {
    "postgres.ecommerce-lab.svc.cluster.local": ["127.9.0.10"],
    "postgres-0.postgres.ecommerce-lab.svc.cluster.local": ["127.9.0.10"],
    "redis.ecommerce-lab.svc.cluster.local": ["127.9.0.11"],
    "backend-headless.ecommerce-lab.svc.cluster.local": ["127.9.0.21", "127.9.0.22"],
    "kubernetes.default.svc.cluster.local": ["127.9.0.1"],
}
# name -> expected addresses, or "NX" (cluster DNS says NXDOMAIN), or "REAL" (machine resolver)
CASES = {
    "postgres": ["127.9.0.10"],
    "POSTGRES": ["127.9.0.10"],
    "postgres.ecommerce-lab": ["127.9.0.10"],
    "postgres.ecommerce-lab.svc": ["127.9.0.10"],
    "postgres.ecommerce-lab.svc.cluster.local": ["127.9.0.10"],
    "postgres.ecommerce-lab.svc.cluster.local.": ["127.9.0.10"],
    "postgres-0.postgres": ["127.9.0.10"],
    "kubernetes.default": ["127.9.0.1"],
    "backend-headless": ["127.9.0.21", "127.9.0.22"],
    "postgres-db": "NX",
    "nothing.svc.cluster.local": "NX",
    "localhost": "REAL",
}


@pytest.fixture
def table(tmp_path) -> HostsTable:
    table = HostsTable(tmp_path / "hosts")
    table.write(RECORDS)
    return table


def python_answer(table: HostsTable, name: str):
    try:
        answer = table.lookup(name, SEARCH)
    except NXDomain:
        return "NX"
    return "REAL" if answer is None else sorted(answer.addresses)


def test_search_list_and_ndots_order():
    assert candidates("postgres", SEARCH)[0] == "postgres.ecommerce-lab.svc.cluster.local"
    assert candidates("postgres", SEARCH)[-1] == "postgres"
    assert candidates("a.b.c.d.e.f", SEARCH)[0] == "a.b.c.d.e.f"  # 5 dots: as given first
    assert candidates("postgres.", SEARCH) == ["postgres"]


def test_python_table_answers(table):
    assert {name: python_answer(table, name) for name in CASES} == CASES
    assert resolve("postgres", table, SEARCH) == ["127.9.0.10"]
    with pytest.raises(NXDomain):
        resolve("postgres-db", table, SEARCH)


def test_table_is_reread_after_atomic_replace(table):
    assert python_answer(table, "cart-service") == "NX"
    table.write({**RECORDS, "cart-service.ecommerce-lab.svc.cluster.local": ["127.9.0.30"]})
    assert python_answer(table, "cart-service") == ["127.9.0.30"]
    assert not [p for p in table.path.parent.iterdir() if p.name.startswith(".hosts.")]


PROBE = r"""
import json, socket, sys, time
names = json.loads(sys.argv[1])
def answer(name):
    try:
        infos = socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return "NX" if exc.errno == socket.EAI_NONAME else repr(exc)
    ips = sorted({i[4][0] for i in infos})
    return "REAL" if ips == ["127.0.0.1"] else ips
print(json.dumps({n: answer(n) for n in names}))
sys.stdout.flush()
sys.stdin.readline()  # wait: the table changes under a running process
print(json.dumps(answer("cart-service")))
"""


@pytest.mark.parametrize("mode", ["c", "python"])
def test_shim_answers_match_python_rules_and_follow_updates(table, mode):
    if mode == "c" and netshim.compiler() is None:
        pytest.skip("no C compiler: labnet.so cannot be built (the python mode is tested)")
    env = netshim.shim_env("127.9.0.50", table.path, SEARCH, "web-0",
                           base_env={"PATH": os.environ["PATH"]}, mode=mode)
    assert env["LABCLUSTER_SHIM"] == ("labnet.so" if mode == "c" else "python")
    proc = subprocess.Popen([sys.executable, "-c", PROBE, json.dumps(list(CASES))], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stdout.readline()) == CASES
        table.write({**RECORDS, "cart-service.ecommerce-lab.svc.cluster.local": ["127.9.0.30"]})
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline()) == ["127.9.0.30"]
    finally:
        proc.kill()
        proc.wait()


def test_c_shim_gethostbyname_and_hostname(table):
    if netshim.compiler() is None:
        pytest.skip("no C compiler")
    env = netshim.shim_env("127.9.0.50", table.path, SEARCH, "web-0",
                           base_env={"PATH": os.environ["PATH"]}, mode="c")
    code = r"""
import ctypes, socket, json
libc = ctypes.CDLL(None)
class hostent(ctypes.Structure):
    _fields_ = [("h_name", ctypes.c_char_p), ("h_aliases", ctypes.c_void_p),
                ("h_addrtype", ctypes.c_int), ("h_length", ctypes.c_int),
                ("h_addr_list", ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte * 4)))]
libc.gethostbyname.restype = ctypes.POINTER(hostent)
def ghbn(name):
    he = libc.gethostbyname(name.encode())
    if not he:
        return None
    out, i = [], 0
    while he.contents.h_addr_list[i]:
        out.append(".".join(map(str, he.contents.h_addr_list[i].contents)))
        i += 1
    return sorted(out)
print(json.dumps([ghbn("backend-headless"), ghbn("postgres-db"), ghbn("web-0"),
                  socket.gethostbyname("web-0")]))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=30)
    assert json.loads(out.stdout) == [["127.9.0.21", "127.9.0.22"], None, ["127.9.0.50"],
                                      "127.9.0.50"]


@pytest.mark.parametrize("mode", ["c", "python"])
def test_pod_processes_see_the_pod_name_as_hostname(table, mode):
    if mode == "c" and netshim.compiler() is None:
        pytest.skip("no C compiler: labnet.so cannot be built (the python mode is tested)")
    env = netshim.shim_env("127.9.0.50", table.path, SEARCH, "backend-7d9f-x2",
                           base_env={"PATH": os.environ["PATH"]}, mode=mode)
    code = "import os, socket; print(socket.gethostname(), os.uname().nodename)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.stdout.split() == ["backend-7d9f-x2", "backend-7d9f-x2"]


@pytest.mark.parametrize("mode", ["c", "python"])
def test_a_uvicorn_event_loop_resolves_service_names(table, mode):
    """The storefront serves with uvicorn, whose `loop="auto"` picks uvloop: libuv resolves
    in C, past the Python hook's patches. labnet.so sees libc's getaddrinfo anyway; the
    Python hook makes uvloop unimportable so uvicorn falls back to asyncio's loop (found
    deploying the lab in Python-only mode: the cart could not resolve `redis`)."""
    if mode == "c" and netshim.compiler() is None:
        pytest.skip("no C compiler: labnet.so cannot be built (the python mode is tested)")
    env = netshim.shim_env("127.9.0.50", table.path, SEARCH, "cart-0",
                           base_env={"PATH": os.environ["PATH"]}, mode=mode)
    code = ("import asyncio, json\n"
            "from uvicorn.loops.auto import auto_loop_factory\n"
            "loop = auto_loop_factory()()\n"
            "infos = loop.run_until_complete(loop.getaddrinfo('redis', 6379, type=1))\n"
            "print(json.dumps([type(loop).__module__.split('.')[0],"
            " sorted({i[4][0] for i in infos})]))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [("uvloop" if mode == "c" else "asyncio"),
                                      ["127.9.0.11"]]
