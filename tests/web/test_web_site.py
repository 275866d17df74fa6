"""The static site and its generated ConfigMaps: in sync, valid, local-only, flat."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser

import kubernetes_validate
import pytest
import yaml
from web_helpers import GENERATED, GENERATOR, NGINX_CONF, SITE, load_generator

gen = load_generator()
SERVICE_NAMES = ("ecommerce-backend", "cart-service", "postgres", "redis", "ecommerce-frontend")
LABELS = {
    "app": "ecommerce-frontend",
    "app.kubernetes.io/name": "ecommerce-frontend",
    "app.kubernetes.io/component": "frontend",
    "app.kubernetes.io/part-of": "ecommerce-lab",
}
# What the lab's built-in nginx subset promises to honour (see the web brief).
SUBSET = {
    "server", "listen", "server_name", "root", "index", "location", "try_files", "return",
    "proxy_pass", "proxy_set_header", "add_header",
    "proxy_connect_timeout", "proxy_send_timeout", "proxy_read_timeout",
}


def site_files() -> dict[str, str]:
    return {p.name: p.read_bytes().decode() for p in sorted(SITE.iterdir()) if not p.name.startswith(".")}


def generated_docs() -> list[dict]:
    return list(yaml.safe_load_all(GENERATED.read_text()))


def test_committed_configmap_is_exactly_what_the_script_generates():
    assert GENERATED.read_text() == gen.render(), (
        "manifests/lab/frontend-site.yaml is stale: run python3 scripts/gen-site-configmap"
    )


def test_script_check_mode_agrees(tmp_path):
    ok = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    stale = tmp_path / "frontend-site.yaml"
    stale.write_text(gen.render().replace("Lab Storefront", "Edited By Hand"))
    out = subprocess.run(
        [sys.executable, str(GENERATOR), "--check", "--output", str(stale)],
        capture_output=True, text=True,
    )
    assert out.returncode == 1 and "out of date" in out.stderr


def test_configmaps_hold_the_site_files_and_the_server_block():
    site, nginx = generated_docs()
    assert site["metadata"]["name"] == "ecommerce-frontend-site"
    assert nginx["metadata"]["name"] == "ecommerce-frontend-nginx"
    for doc in (site, nginx):
        assert doc["kind"] == "ConfigMap" and doc["apiVersion"] == "v1"
        assert doc["metadata"]["labels"] == LABELS
        assert "namespace" not in doc["metadata"], "the kustomization sets the namespace"
        assert set(doc) == {"apiVersion", "kind", "metadata", "data"}
    assert site["data"] == site_files(), "every site file, byte for byte, and nothing else"
    assert nginx["data"] == {"default.conf": NGINX_CONF.read_text()}
    assert all("/" not in key for key in site["data"]), "ConfigMap keys cannot contain '/'"


@pytest.mark.parametrize("version", ["1.29", "1.33"])
def test_configmaps_validate_strictly_against_kubernetes_schemas(version):
    for doc in generated_docs():
        kubernetes_validate.validate(doc, version, strict=True)


def test_generated_file_says_how_it_was_made():
    head = GENERATED.read_text().splitlines()[:3]
    assert any("GENERATED" in line and "scripts/gen-site-configmap" in line for line in head)


def test_generator_refuses_a_site_with_folders(tmp_path):
    (tmp_path / "site" / "img").mkdir(parents=True)
    (tmp_path / "site" / "index.html").write_text("<!doctype html>\n")
    (tmp_path / "nginx.conf").write_text("server {}\n")
    with pytest.raises(gen.SiteError, match="cannot contain '/'"):
        gen.render(tmp_path)


@pytest.mark.parametrize(
    "text",
    ["a\nb\n", "no newline", "two\n\n", "  leading space\n", "tab\there\n", "crlf\r\n", "",
     "bell\x07\n", "ünïcode ✓\n", "- looks: like yaml\n# comment\n"],
)
def test_generator_values_round_trip_exactly(tmp_path, text):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<!doctype html>\n")
    (tmp_path / "site" / "odd.txt").write_bytes(text.encode())
    (tmp_path / "nginx.conf").write_bytes(text.encode())
    site, nginx = yaml.safe_load_all(gen.render(tmp_path))
    assert site["data"]["odd.txt"] == text
    assert nginx["data"]["default.conf"] == text


def test_site_is_small_and_flat():
    total = sum(len(v.encode()) for v in site_files().values())
    assert total < 32 * 1024, f"the site is {total} bytes: keep it small (no frameworks)"
    assert not [p for p in SITE.iterdir() if p.is_dir()]


def test_javascript_names_no_service_and_no_absolute_url():
    for name, text in site_files().items():
        if not name.endswith((".js", ".html", ".css")):
            continue
        code = re.sub(r"^\s*//.*$", "", text, flags=re.M)  # comments may explain the rule
        for service in SERVICE_NAMES:
            assert service not in code, f"{name} names the Service {service!r}"
        assert not re.search(r"(https?:)?//[\w.-]+[:/]", code), f"{name} has an absolute URL"
        assert not re.search(r":(5000|8080|6379|5432)\b", code), f"{name} names a service port"


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("src", "href") and value is not None:
                self.refs.append(value)


def test_index_references_only_local_files():
    parser = _Refs()
    parser.feed((SITE / "index.html").read_text())
    assert parser.refs, "index.html references nothing?"
    for ref in parser.refs:
        if ref.startswith("#") or ref == "data:,":
            continue
        assert re.fullmatch(r"[\w.-]+", ref), f"index.html references {ref!r}, not a local file"
        assert (SITE / ref).is_file(), f"index.html references {ref!r}, which does not exist"


def test_module_imports_resolve_to_site_files():
    for path in SITE.glob("*.js"):
        for ref in re.findall(r"""^import .* from ['"]([^'"]+)['"]""", path.read_text(), re.M):
            assert ref.startswith("./") and (SITE / ref[2:]).is_file(), f"{path.name}: {ref}"


def nginx_directives(text: str) -> list[tuple[str, str]]:
    """(name, arguments) of every directive and block opener, quotes respected."""
    out, words, word, quote = [], [], "", None
    text = re.sub(r"^\s*#.*$", "", text, flags=re.M)
    for ch in text:
        if quote:
            word += ch
            quote = None if ch == quote else quote
        elif ch in "\"'":
            word, quote = word + ch, ch
        elif ch.isspace() or ch in ";{}":
            if word:
                words.append(word)
                word = ""
            if ch in ";{" and words:
                out.append((words[0], " ".join(words[1:])))
                words = []
        else:
            word += ch
    return out


def test_nginx_conf_uses_only_the_subset_and_the_real_service_names():
    directives = nginx_directives(NGINX_CONF.read_text())
    names = {name for name, _ in directives}
    assert names <= SUBSET, f"outside the lab's nginx subset: {sorted(names - SUBSET)}"
    locations = [a for n, a in directives if n == "location"]
    assert locations == ["= /health", "/api/cart", "/api/", "/"]
    proxies = [a for n, a in directives if n == "proxy_pass"]
    assert proxies == ["http://cart-service:8080", "http://ecommerce-backend:5000"], (
        "no URI part after host:port, so the request path reaches the service intact"
    )
    assert ("listen", "80") in directives and ("root", "/usr/share/nginx/html") in directives
