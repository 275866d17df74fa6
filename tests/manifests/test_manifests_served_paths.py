"""The linter's table of paths the storefront serves must be the storefront's real routes,
or a probe on a real path would be flagged (or a 404 path passed) after a route changes."""

import pytest
from starlette.routing import Route

from labhelpers.manifests.lint import SERVED_PATHS
from storefront.backend.app import create_app as backend_app
from storefront.cart.app import create_app as cart_app
from storefront.config import Settings


def route_paths(app) -> tuple[set[str], set[str]]:
    """Fixed paths, and the static prefixes of parameterised ones (up to the first '{')."""
    fixed, prefixes = set(), set()
    for route in app.routes:
        assert isinstance(route, Route)
        if "{" in route.path:
            prefixes.add(route.path.split("{", 1)[0])
        else:
            fixed.add(route.path)
    return fixed, prefixes


@pytest.mark.parametrize(("role", "factory"), [("backend", backend_app), ("cart", cart_app)])
def test_lint_table_matches_storefront_routes(role, factory):
    fixed, prefixes = route_paths(factory(Settings.from_env({})))
    table_exact, table_prefixes = SERVED_PATHS[("storefront", role)]
    assert set(table_exact) == fixed - {p for p in fixed if p.startswith(table_prefixes)}
    for prefix in prefixes:
        assert prefix.startswith(table_prefixes) or prefix.rstrip("/") in table_exact, prefix
