"""Configuration comes from the environment only, and bad values are one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from storefront.config import ConfigError, Settings


def test_defaults_are_the_labs_names():
    s = Settings.from_env({"POD_NAME": "p"})
    assert (s.database_host, s.database_port, s.database_name, s.database_user) == (
        "postgres", 5432, "ecomdb", "ecomuser")
    assert (s.redis_host, s.redis_port) == ("redis", 6379)
    assert s.cart_service_url == "http://cart-service:8080"
    assert (s.cache_ttl_seconds, s.log_level, s.host, s.port) == (60, "INFO", "0.0.0.0", None)


def test_pod_name_defaults_to_the_hostname():
    import socket

    assert Settings.from_env({}).pod_name == socket.gethostname()


@pytest.mark.parametrize(("name", "value", "words"), [
    ("DATABASE_PORT", "abc", "DATABASE_PORT='abc' is not a number"),
    ("REDIS_PORT", "70000", "out of range"),
    ("CACHE_TTL_SECONDS", "-1", "out of range"),
    ("CART_SERVICE_URL", "cart-service:8080", "not an http(s) URL"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
])
def test_bad_values_are_refused_by_name(name, value, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({name: value})


def test_service_link_style_ports_are_understood():
    s = Settings.from_env({"REDIS_PORT": "tcp://10.96.0.5:6379", "DATABASE_PORT": "tcp://10.0.0.1:5433"})
    assert (s.redis_port, s.database_port) == (6379, 5433)


def test_repr_never_shows_the_password():
    s = Settings.from_env({"DATABASE_PASSWORD": "hunter2-secret"})
    assert "hunter2-secret" not in repr(s) and "hunter2-secret" not in str(s)


def test_cli_exits_with_one_line_on_bad_config():
    env = dict(os.environ, DATABASE_PORT="five")
    out = subprocess.run([sys.executable, "-m", "storefront", "backend"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines == ["storefront: configuration error: DATABASE_PORT='five' is not a number"]


def test_cli_refuses_an_unknown_service():
    out = subprocess.run([sys.executable, "-m", "storefront", "frontend"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "invalid choice" in out.stderr
