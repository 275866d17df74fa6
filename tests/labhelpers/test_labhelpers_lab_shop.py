"""The lab text's step 8 (issue 15): ``lab.open_shop()`` port-forwards the frontend to
127.0.0.1 and builds the link a learner's browser opens — the loopback address, or, under a
Jupyter server with jupyter-server-proxy, ``<base_url>proxy/<port>/`` — and ``visit()``
shops through it. Against the session's deployed lab (after test_labhelpers_lab_observe,
before test_labhelpers_lab_teardown); the proxy case through a real ``jupyter server``
with a base URL, as JupyterHub and Binder run it."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from procs import stop_process

from labhelpers import shop
from labhelpers.shop import portforward

pytestmark = [pytest.mark.timeout(300)]


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def forward_threads(port: int) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"port-forward-{port}")]


# ---------------------------------------------------------------------- link building
def test_link_is_loopback_without_a_proxying_jupyter_server() -> None:
    assert shop.link(43817, None) == "http://127.0.0.1:43817/"
    assert shop.link(43817, shop.JupyterServer("/user/ada/", server_proxy=False)) == \
        "http://127.0.0.1:43817/"
    assert shop.link(43817, shop.JupyterServer("/user/ada/", server_proxy=True)) == \
        "/user/ada/proxy/43817/"
    assert shop.link(80, shop.JupyterServer("/", server_proxy=True)) == "/proxy/80/"
    with pytest.raises(ValueError, match="1..65535"):
        shop.link(0, None)


def test_the_kernels_server_is_found_by_its_pid_or_hub_prefix(tmp_path: Path) -> None:
    (tmp_path / "jpserver-4242.json").write_text(json.dumps(
        {"base_url": "/user/grace/", "port": 8888, "token": "not-read-out", "pid": 4242}))
    found = shop.this_jupyter_server({"JPY_PARENT_PID": "4242",
                                      "JUPYTER_RUNTIME_DIR": str(tmp_path)})
    assert found is not None and found.base_url == "/user/grace/"
    assert found.server_proxy == shop.server_proxy_enabled()
    # papermill / nbval: the parent is no Jupyter server (no info file) → None
    assert shop.this_jupyter_server({"JPY_PARENT_PID": "4243",
                                     "JUPYTER_RUNTIME_DIR": str(tmp_path)}) is None
    assert shop.this_jupyter_server({}) is None
    hub = shop.this_jupyter_server({"JUPYTERHUB_SERVICE_PREFIX": "/user/linus"})
    assert hub is not None and hub.base_url == "/user/linus/"


# ---------------------------------------------------------------------- against the lab
@pytest.mark.cluster
def test_open_shop_forwards_on_loopback_and_a_visit_places_an_order(deployed, capsys,
                                                                      monkeypatch) -> None:
    lab, _ = deployed
    for name in ("JPY_PARENT_PID", "JUPYTERHUB_SERVICE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    lab.show_kubectl = True
    try:
        opened = lab.open_shop()
    finally:
        lab.show_kubectl = False
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"$ kubectl wait --for=condition=Ready pod -l app=ecommerce-frontend -n "
        f"{lab.namespace} --timeout=60s",
        f"$ kubectl port-forward -n {lab.namespace} service/ecommerce-frontend 8080:80"
        "   # then open http://localhost:8080/ (Ctrl+C stops it)"]
    port = opened.port
    assert opened.forward.server.getsockname() == ("127.0.0.1", port)  # loopback only
    assert opened.link == opened.url == f"http://127.0.0.1:{port}/"
    assert opened.forward.pod.startswith("ecommerce-frontend-")
    assert f'href="http://127.0.0.1:{port}/"' in opened._repr_html_()

    visit = opened.visit(quantity=2)
    steps = visit.steps
    assert list(steps["step"]) == [
        "open the shop", "load style.css", "load app.js", "load api.js",
        "list products", "add to cart", "open the cart",
        "check out", "confirmation page", "cart after checkout"]
    assert steps.set_index("step").loc["check out", "HTTP"] == 201
    served = steps.set_index("step")["answered by"]
    assert served["add to cart"].startswith("cart-service-")
    assert served["check out"].startswith("ecommerce-backend-")
    assert "0 item(s)" in steps.set_index("step").loc["cart after checkout", "result"]
    order = visit.order
    assert order["status"] == "confirmed" and order["items"][0]["quantity"] == 2

    rows = opened.order_in_database(order["id"])
    assert len(rows) == 1, rows
    row = rows.iloc[0]
    assert (row["order_id"], row["status"], row["product"], row["quantity"]) == (
        order["id"], "confirmed", order["items"][0]["name"], 2)
    assert row["written_by"] == order["pod"]
    assert rows.attrs["kubectl"].startswith(f"kubectl exec -n {lab.namespace} sts/postgres -- ")
    with pytest.raises(ValueError, match="positive int"):
        opened.order_in_database("1; DROP TABLE orders")

    # opening it again replaces the forward; stopping leaves no listener and no thread
    again = lab.open_shop()
    assert not opened.forward.active and refused(port) and forward_threads(port) == []
    assert httpx.get(again.url, timeout=10).status_code == 200
    lab.stop_forwards()
    assert not again.forward.active and refused(again.port)
    assert forward_threads(again.port) == [] and portforward.live() == []


@pytest.fixture
def jupyter_server_with_proxy() -> Iterator[tuple[str, str, Path, subprocess.Popen]]:
    """``jupyter server`` on 127.0.0.1 with base URL /user/learner/ (as JupyterHub runs a
    user's server) and jupyter-server-proxy; (origin, token, runtime dir, process)."""
    assert shop.server_proxy_enabled(), "jupyter-server-proxy is in the lab extra"
    work = Path(tempfile.mkdtemp(prefix="shop-jupyter-"))
    runtime = work / "runtime"
    token = secrets.token_hex(16)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "jupyter_server", "--ip=127.0.0.1", f"--port={port}",
            "--no-browser", "--ServerApp.base_url=/user/learner/",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    log = (work / "jupyter.log").open("w")
    proc = subprocess.Popen(argv, env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)},
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        info = runtime / f"jpserver-{proc.pid}.json"
        deadline = time.monotonic() + 60
        while not info.exists():
            assert proc.poll() is None, (work / "jupyter.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "jupyter server did not start in 60 s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", token, runtime, proc
    finally:
        stop_process(proc)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.cluster
def test_link_through_the_jupyter_servers_proxy(deployed, jupyter_server_with_proxy,
                                                monkeypatch) -> None:
    lab, _ = deployed
    origin, token, runtime, proc = jupyter_server_with_proxy
    # this process plays the server's kernel: what a kernel inherits from its server
    monkeypatch.setenv("JPY_PARENT_PID", str(proc.pid))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    opened = lab.open_shop()
    try:
        assert opened.link == f"/user/learner/proxy/{opened.port}/"
        assert f'href="/user/learner/proxy/{opened.port}/"' in opened._repr_html_()
        # the browser resolves the link against JupyterLab's origin; the site's API calls
        # are relative to the page, so they stay below the prefix (GET and POST)
        auth = {"Authorization": f"token {token}"}
        with httpx.Client(base_url=origin + opened.link, headers=auth, timeout=30) as web:
            page = web.get("")
            assert page.status_code == 200 and "<title>Lab Storefront</title>" in page.text
            assert web.get("app.js").status_code == 200
            products = web.get("api/products?limit=1")
            assert products.status_code == 200 and products.json()[0]["id"] >= 1
            session = "proxy-" + secrets.token_hex(6)
            added = web.post(f"api/cart/{session}/items",
                             json={"product_id": products.json()[0]["id"], "quantity": 1})
            assert added.status_code == 200 and added.json()["count"] == 1
        # without the Jupyter session the proxy answers nothing of the shop
        assert httpx.get(origin + opened.link, timeout=30).status_code in (302, 403)
    finally:
        lab.stop_forwards()
    assert refused(opened.port)
