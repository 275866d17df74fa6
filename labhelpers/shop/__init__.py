"""The lab text's step 8: port-forward the frontend, open the shop, add to cart, check out.

``shop = lab.open_shop()`` waits for a Ready frontend pod, starts a port-forward to
``service/ecommerce-frontend`` on 127.0.0.1 (:mod:`labhelpers.shop.portforward`) and shows a
link the learner's browser can open:

- the kernel was started by a Jupyter server that has jupyter-server-proxy (Binder,
  JupyterHub, and ``./scripts/lab --jupyter``, which install it): ``<base_url>proxy/<port>/``,
  a path on the Jupyter server itself. The browser already talks to that server, wherever
  it runs, so the link works where 127.0.0.1 would be the browser's own machine;
- otherwise (papermill, nbval, a plain Python, a server without the proxy):
  ``http://127.0.0.1:<port>/``, which works when the browser runs on this machine.

The site calls its API by paths relative to the page (``api/products``), so it works below
such a prefix. ``shop.visit()`` then does, through the same forwarded port with real HTTP,
what the learner does in the browser (load the page, add a product, check out), and
``shop.order_in_database(id)`` shows the order where the backend wrote it: psql in the
database pod (``kubectl exec``).

A subpackage because the port-forward under it (``portforward.py``: ``kubectl
port-forward`` in the kernel, over the client's websocket) is plumbing a learner reading
``Lab`` need not read; a load test's port-forward mode (``labhelpers.loadtest``) uses it
too. Importing this package loads httpx, so ``lab.py`` imports it on first use.
"""

from __future__ import annotations

import csv
import html
import importlib.util
import io
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from labhelpers import commands
from labhelpers.protocol import LabLike
from labhelpers.shop.portforward import LOOPBACK, Forward
from labhelpers.styling import LabFrame

FRONTEND = "ecommerce-frontend"
#: The local port the printed ``kubectl port-forward`` line uses (the helper's own forward
#: takes a free port, so the learner can run that line beside it).
KUBECTL_LOCAL_PORT = 8080
CUSTOMER = {"name": "LabLike Learner", "email": "learner@example.com"}
#: What the browser loads with the page (index.html's stylesheet and modules).
PAGE_ASSETS = ("style.css", "app.js", "api.js")


@dataclass(frozen=True)
class JupyterServer:
    """The Jupyter server a kernel runs under: its base URL and whether it proxies."""

    base_url: str        # "/" or "/user/<name>/" (always ends with "/")
    server_proxy: bool   # jupyter-server-proxy is enabled there


def _base(url: str) -> str:
    url = "/" + url.strip("/")
    return url if url.endswith("/") else url + "/"


def server_proxy_enabled() -> bool:
    """Whether jupyter-server-proxy is installed and enabled as a server extension in
    this environment's Jupyter config (how a Jupyter server decides to load it)."""
    if importlib.util.find_spec("jupyter_server_proxy") is None:
        return False
    try:
        from jupyter_core.paths import jupyter_config_path
        from jupyter_server.extension.config import ExtensionConfigManager
    except ImportError:
        return False
    manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
    return bool(manager.get_jpserver_extensions().get("jupyter_server_proxy"))


def this_jupyter_server(env: dict[str, str] | None = None) -> JupyterServer | None:
    """The Jupyter server that started this kernel, or None (papermill, nbval, python).

    A kernel's ``JPY_PARENT_PID`` is its server's pid, and a running server describes
    itself in ``jpserver-<pid>.json`` in the Jupyter runtime folder (base URL, port). In
    a JupyterHub user server (Binder too) ``JUPYTERHUB_SERVICE_PREFIX`` is that base URL.
    Tokens in that file are never read out."""
    env = dict(os.environ) if env is None else env
    base_url = None
    pid = env.get("JPY_PARENT_PID", "")
    if pid.isdigit():
        try:
            from jupyter_core.paths import jupyter_runtime_dir

            runtime = env.get("JUPYTER_RUNTIME_DIR") or jupyter_runtime_dir()
            info = json.loads((Path(runtime) / f"jpserver-{pid}.json").read_text())
            base_url = info.get("base_url") or "/"
        except (ImportError, OSError, ValueError):
            base_url = None
    if base_url is None and env.get("JUPYTERHUB_SERVICE_PREFIX"):
        base_url = env["JUPYTERHUB_SERVICE_PREFIX"]
    if base_url is None:
        return None
    return JupyterServer(_base(base_url), server_proxy_enabled())


def link(port: int, server: JupyterServer | None) -> str:
    """The URL a learner's browser opens for a forward on 127.0.0.1:``port``: through the
    Jupyter server's ``proxy/<port>/`` when it has jupyter-server-proxy (a path on the
    server the browser already uses), else the loopback address itself."""
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1..65535, not {port}")
    if server is not None and server.server_proxy:
        return f"{server.base_url}proxy/{port}/"
    return f"http://{LOOPBACK}:{port}/"


@dataclass
class Visit:
    """What a shopper did through the forwarded port: each request (``steps``) and the
    order the checkout answered."""

    steps: LabFrame
    order: dict[str, Any]
    session: str

    def _repr_html_(self) -> str:
        return self.steps._repr_html_()

    def __repr__(self) -> str:
        return self.steps.to_string(index=False)


@dataclass
class Shop:
    """The storefront through a port-forward: ``url`` (this machine), ``link`` (the
    learner's browser), :meth:`visit`, :meth:`order_in_database`, :meth:`stop`."""

    lab: LabLike
    forward: Forward
    link: str
    server: JupyterServer | None
    visits: list[Visit] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The forward's address on this machine (what :meth:`visit` requests)."""
        return self.forward.url

    @property
    def port(self) -> int:
        return self.forward.port

    def stop(self) -> None:
        """Stop the forward (the link stops working; ``lab.open_shop()`` opens it again)."""
        self.forward.stop()

    def __repr__(self) -> str:
        state = "open" if self.forward.active else "stopped"
        via = ("via the Jupyter server's proxy" if self.link != self.url
               else "on this machine's loopback")
        return (f"shop ({state}): {self.link}  ({via}; forward {LOOPBACK}:{self.port} → "
                f"service/{self.forward.service}:{self.forward.service_port}, pod "
                f"{self.forward.pod})")

    def _repr_html_(self) -> str:
        if not self.forward.active:
            return f"<p>shop: stopped ({html.escape(self.link)})</p>"
        href = html.escape(self.link, quote=True)
        where = ("through JupyterLab's server (jupyter-server-proxy), so it opens wherever "
                 "this JupyterLab runs" if self.link != self.url else
                 "on this machine: your browser must run where this kernel runs")
        return (f'<p style="font-size:1.15em"><a href="{href}" target="_blank" '
                f'rel="noopener">🛒 Open the shop: {html.escape(self.link)}</a></p>'
                f"<p>A port-forward from {LOOPBACK}:{self.port} to "
                f"<code>service/{html.escape(self.forward.service)}:"
                f"{self.forward.service_port}</code> (pod <code>"
                f"{html.escape(self.forward.pod)}</code>), {where}. It stops with "
                "<code>shop.stop()</code>, <code>lab.cleanup()</code> or the kernel.</p>")

    # ------------------------------------------------------------------ the shopper
    def visit(self, product_id: int | None = None, quantity: int = 1,
              customer: dict[str, str] | None = None, timeout: float = 30) -> Visit:
        """Through the forward, what the browser does: load the page and its files, list
        products, add one to the cart (cart-service → Redis), check out (backend →
        cart-service → PostgreSQL) and load the confirmation. Raises ``AssertionError``
        naming the step that did not answer as a shop should."""
        if not 1 <= quantity <= 99:
            raise ValueError(f"quantity must be 1..99 (the cart's limit), not {quantity}")
        session = "shop-" + secrets.token_hex(8)  # what the site keeps in localStorage
        rows: list[dict[str, Any]] = []

        def step(what: str, method: str, path: str, want: int, result: Any = None,
                 **kw: Any) -> httpx.Response:
            r = browser.request(method, path, **kw)
            served = r.headers.get("x-served-by") or f"{self.forward.pod} (nginx)"
            rows.append({"step": what, "request": f"{method} /{path}", "HTTP": r.status_code,
                         "answered by": served, "result": ""})
            if r.status_code != want:
                raise AssertionError(f"{what}: {method} /{path} answered HTTP {r.status_code}"
                                     f" (expected {want}): {r.text[:200]}")
            rows[-1]["result"] = result(r) if result else ""
            return r

        with httpx.Client(base_url=self.url, timeout=timeout) as browser:
            page = step("open the shop", "GET", "", 200, lambda r: "title: " + _title(r.text))
            for asset in PAGE_ASSETS:
                step(f"load {asset}", "GET", asset, 200,
                     lambda r: f"{len(r.content)} bytes")
            listed = step("list products", "GET", "api/products?limit=12&offset=0", 200,
                          lambda r: f"{len(r.json())} of {r.headers.get('x-total-count')}")
            products = listed.json()
            if product_id is None:
                product = next((p for p in products if p.get("stock", 0) >= quantity), None)
                if product is None:
                    raise AssertionError(f"no product on the first page has {quantity} in stock")
                product_id = product["id"]
            step("add to cart", "POST", f"api/cart/{session}/items", 200,
                 lambda r: f"{r.json()['count']} item(s) in the cart",
                 json={"product_id": product_id, "quantity": quantity})
            step("open the cart", "GET", f"api/cart/{session}", 200,
                 lambda r: ", ".join(f"{i['quantity']} × product {i['product_id']}"
                                     for i in r.json()["items"]))
            placed = step("check out", "POST", "api/orders", 201,
                          lambda r: f"order {r.json()['id']}: {r.json()['status']}, "
                                    f"total {r.json()['total']}",
                          json={"session_id": session, "customer": customer or CUSTOMER},
                          headers={"Idempotency-Key": secrets.token_hex(16)})
            order = placed.json()
            step("confirmation page", "GET", f"api/orders/{order['id']}", 200,
                 lambda r: f"order {r.json()['id']} is {r.json()['status']}")
            step("cart after checkout", "GET", f"api/cart/{session}", 200,
                 lambda r: f"{r.json()['count']} item(s): emptied by the checkout")
        assert "<html" in page.text.lower(), "the shop's page is not HTML"
        steps = LabFrame(rows, columns=["step", "request", "HTTP", "answered by", "result"])
        steps.attrs["nowrap"] = ["request", "answered by"]
        done = Visit(steps, order, session)
        self.visits.append(done)
        return done

    def order_in_database(self, order_id: int) -> LabFrame:
        """The order's rows in PostgreSQL, read by psql inside the database pod over its
        local socket, as the image's own user (no password sent or shown; user and
        database come from the pod's env) — ``kubectl exec sts/postgres -- psql ...``."""
        if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id < 1:
            raise ValueError(f"order_id must be a positive int, not {order_id!r}")
        # order_id is a checked int (above), so it cannot carry SQL; psql -c has no bind
        # parameters, and the printed kubectl line must be one a learner can read
        sql = ("SELECT o.id AS order_id, o.status, i.name AS product, i.quantity, "  # noqa: S608
               "round(i.unit_price_cents / 100.0, 2) AS unit_price, "
               "round(o.total_cents / 100.0, 2) AS order_total, o.pod AS written_by, "
               "o.created_at::timestamp(0) AS created "
               "FROM orders o JOIN order_items i ON i.order_id = o.id "
               f"WHERE o.id = {order_id} ORDER BY i.product_id")
        out = self.lab.exec("sts/postgres", [
            "sh", "-c", f'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" --csv -c "{sql}"'])
        if out.returncode != 0:
            raise RuntimeError(f"psql in postgres-0 failed (exit {out.returncode}): "
                               f"{(out.stderr or out.stdout).strip()[:300]}")
        rows = [{**row, "order_id": int(row["order_id"]), "quantity": int(row["quantity"]),
                 "unit_price": float(row["unit_price"]),
                 "order_total": float(row["order_total"])}
                for row in csv.DictReader(io.StringIO(out.stdout))]
        table = LabFrame(rows, columns=["order_id", "status", "product", "quantity",
                                        "unit_price", "order_total", "written_by",
                                        "created"])
        table.attrs["kubectl"] = commands.exec_in(self.lab.namespace, "sts/postgres",
                                                  out.command)
        table.attrs["nowrap"] = ["written_by", "created"]
        table.attrs["formats"] = {"unit_price": "{:.2f}", "order_total": "{:.2f}"}
        return table


def _title(text: str) -> str:
    m = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
    return html.unescape(m.group(1).strip()) if m else "?"


def kubectl_lines(namespace: str, selector: str, timeout: float) -> list[str]:
    """What open_shop stands for: wait for Ready frontend pods, then port-forward."""
    return [commands.kubectl("wait", "--for=condition=Ready", "pod", "-l", selector,
                             "-n", namespace, f"--timeout={int(timeout)}s"),
            commands.kubectl("port-forward", "-n", namespace, f"service/{FRONTEND}",
                             f"{KUBECTL_LOCAL_PORT}:80")
            + f"   # then open http://localhost:{KUBECTL_LOCAL_PORT}/ (Ctrl+C stops it)"]


def open_shop(lab: LabLike, local_port: int = 0, timeout: float = 60,
              server: JupyterServer | None | str = "auto") -> Shop:
    """Wait for a Ready frontend pod, forward 127.0.0.1:``local_port`` (0: a free port) to
    ``service/ecommerce-frontend:80``, and return the :class:`Shop` (its link shows in
    Jupyter). ``server``: "auto" finds the Jupyter server of this kernel; None forces the
    loopback link; a :class:`JupyterServer` is used as given."""
    svc = lab.core.read_namespaced_service(FRONTEND, lab.namespace)
    selector = ",".join(f"{k}={v}" for k, v in sorted((svc.spec.selector or {}).items()))
    if lab.show_kubectl:
        for line in kubectl_lines(lab.namespace, selector, timeout):
            print(f"$ {line}")
    forward = Forward(lab.core, lab.namespace, FRONTEND, 80, local_port, timeout).start()
    where = this_jupyter_server() if server == "auto" else server
    if isinstance(where, str):
        raise ValueError(f'server must be "auto", None or a JupyterServer, not {where!r}')
    return Shop(lab, forward, link(forward.port, where), where)
