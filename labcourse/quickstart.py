"""The whole lab in one command: ``python -m labcourse.quickstart``.

Connects (labcluster unless told otherwise), deploys every tier with progress, prints the
pods, Services and the success criteria, and says how to open the storefront. Exit code:
0 when every criterion passes, 1 when one fails, 2 when it could not deploy at all.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

import labhelpers
from labhelpers.cluster import CLUSTERS, DEFAULT_NAMESPACE


def storefront_hint(lab: labhelpers.Lab) -> str:
    """How to open the frontend: through the API server's service proxy, which needs the
    cluster's credentials — so via ``kubectl proxy`` (or a port-forward) from a browser."""
    path = f"/api/v1/namespaces/{lab.namespace}/services/ecommerce-frontend/proxy/"
    server = lab.api.configuration.host.rstrip("/")
    kc = f"--kubeconfig {lab.target.kubeconfig} " if lab.target.kubeconfig else ""
    ns = lab.namespace
    return "\n".join([
        f"storefront (API server service proxy): {server}{path}",
        "  it needs the cluster's token, so from a browser go through kubectl:",
        f"  kubectl {kc}proxy --port 8001   then open http://127.0.0.1:8001{path}",
        f"  or: kubectl {kc}-n {ns} port-forward svc/ecommerce-frontend 8080:80"
        "   then open http://127.0.0.1:8080/",
        f"  kubectl {kc}-n {ns} get pods   (export KUBECONFIG={lab.target.kubeconfig or '...'})",
    ])


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m labcourse.quickstart", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cluster", choices=CLUSTERS, default="labcluster")
    p.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    p.add_argument("--context")
    p.add_argument("--kubeconfig")
    p.add_argument("--allow-production", action="store_true")
    p.add_argument("--adopt", action="store_true",
                   help="deploy into an existing namespace labhelpers did not create")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        lab = labhelpers.connect(args.namespace, args.cluster, args.context, args.kubeconfig,
                                 args.allow_production)
        lab.deploy("all", adopt=args.adopt)
    except (labhelpers.ProductionRefused, labhelpers.NotOurs, labhelpers.TierNotReady,
            labhelpers.ApplyError, ValueError) as exc:
        print(f"quickstart: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 200, "display.max_colwidth", 90):
        print("\n" + lab.pods().to_string(index=False))
        print("\n" + lab.services().to_string(index=False))
        result = lab.check()
        print("\n" + result.to_string(index=False))
    print("\n" + storefront_hint(lab))
    failed = int((result["ok"] == "❌").sum())
    print(f"\n{len(result) - failed}/{len(result)} criteria pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
