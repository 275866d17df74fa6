"""The built-in nginx subset (used where nginx is not installed), as a real process."""

from __future__ import annotations

import json
import urllib.error

import pytest
from node_helpers import SERVER, get, wait_port, wait_text

from labcluster import errors
from labcluster.node import podspec
from labcluster.node.launch import Mount
from labcluster.node.minginx import ConfigError, build, parse

VERSION = "0.1.0"
SITE_CONF = """
upstream carts { server cart-service:8080; }
server {
  listen 80;
  listen [::]:80;
  server_name _;
  root /usr/share/nginx/html;
  index index.html;
  add_header X-Served-By minginx;
  location = /health { return 200 "ok"; }
  location = /old { return 301 /new; }
  location /api/cart { proxy_pass http://carts; }
  location /api/ { proxy_pass http://ecommerce-backend:5000; proxy_set_header X-Real-IP $remote_addr; }
  location /v2/ { proxy_pass http://ecommerce-backend:5000/api/; }
  location / { try_files $uri $uri/ /index.html; }
}
"""


def test_parser_reads_blocks_quotes_comments_and_reports_unsupported(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("# c\nhttp { server { listen 8080; location ~ \\.php$ { return 403; }\n"
                    " location / { rewrite ^ /x; return 200 'a;b'; } } }\n")
    config = build(parse(conf))
    server = config.servers[0]
    assert server.listen == [("0.0.0.0", 8080)]
    assert server.match("/anything").settings["return"] == [["200", "a;b"]]
    assert any("regex" in w for w in config.warnings)
    assert any('"rewrite" is not supported' in w for w in config.warnings)
    conf.write_text("server { listen 80; ")
    with pytest.raises(ConfigError):
        build(parse(conf))


def test_labcluster_has_one_config_error() -> None:
    """A config file's error and a container's are the one labcluster.errors.ConfigError."""
    assert ConfigError is podspec.ConfigError is errors.ConfigError
    assert issubclass(ConfigError, ValueError)


@pytest.fixture
def builtin_nginx(monkeypatch):
    monkeypatch.setenv("LABCLUSTER_NGINX", "builtin")


def test_builtin_nginx_serves_site_and_proxies_by_name(builtin_nginx, make_launch, run_container,
                                                       hosts, tmp_path):
    backend = make_launch(f"storefront:{VERSION}", name="backend-m",
                          command=["python", "-c", SERVER], args=["5000"])
    cart = make_launch(f"storefront:{VERSION}", name="cart-m",
                       command=["python", "-c", SERVER], args=["8080"])
    run_container(backend)
    run_container(cart)
    wait_port(backend.pod_ip, 5000)
    wait_port(cart.pod_ip, 8080)
    hosts.write({"ecommerce-backend.ecommerce-lab.svc.cluster.local": [backend.pod_ip],
                 "cart-service.ecommerce-lab.svc.cluster.local": [cart.pod_ip]})
    site, conf = tmp_path / "site", tmp_path / "conf"
    site.mkdir()
    conf.mkdir()
    (site / "index.html").write_text("<h1>Storefront</h1>\n")
    (site / "app.js").write_text("console.log(1)\n")
    (conf / "default.conf").write_text(SITE_CONF)
    launch = make_launch("nginx:1.27.3-alpine", name="frontend-m", mounts=[
        Mount(site, "/usr/share/nginx/html", True), Mount(conf, "/etc/nginx/conf.d", True)])
    proc = run_container(launch)
    assert "minginx" in proc.spec.image_id
    wait_port(launch.pod_ip, 80)
    base = f"http://{launch.pod_ip}"
    assert get(base + "/") == b"<h1>Storefront</h1>\n"
    assert get(base + "/app.js") == b"console.log(1)\n"
    assert get(base + "/some/client/route") == b"<h1>Storefront</h1>\n"  # try_files fallback
    assert get(base + "/health") == b"ok"
    assert json.loads(get(base + "/api/products?x=1")) == {"pod": "backend-m",
                                                           "path": "/api/products?x=1"}
    assert json.loads(get(base + "/v2/orders"))["path"] == "/api/orders"
    assert json.loads(get(base + "/api/cart/42"))["pod"] == "cart-m"
    with pytest.raises(urllib.error.HTTPError) as err:
        get(base + "/api/missing")
    assert err.value.code == 404 and err.value.headers["X-Served-By"] == "minginx"
    wait_text(launch.run_dir / "logs" / "current.log", '"GET /api/products?x=1 HTTP/1.1" 200')


def test_builtin_nginx_fails_like_nginx_on_unknown_upstream(builtin_nginx, make_launch,
                                                            run_container, hosts, tmp_path):
    hosts.write({})
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "default.conf").write_text(
        "server { listen 80; location /api/ { proxy_pass http://backend:5000; } }\n")
    launch = make_launch("nginx:1.27.3-alpine", name="frontend-bad",
                         mounts=[Mount(conf, "/etc/nginx/conf.d", True)])
    proc = run_container(launch)
    assert proc.wait(20).exit_code == 1
    assert 'host not found in upstream "backend:5000"' in (
        launch.run_dir / "logs" / "current.log").read_text()
