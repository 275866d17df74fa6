"""`labcluster up | down | status | serve`."""

from __future__ import annotations

import argparse
import sys

from . import lifecycle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labcluster", description=(
        "An embedded single-node cluster that speaks the Kubernetes API."))
    parser.add_argument("--home", help="state dir (default $LABCLUSTER_HOME or ~/.labcluster)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start in the background (idempotent)")
    sub.add_parser("down", help="stop; every object is kept for the next up")
    sub.add_parser("status", help="is it running, and where")
    serve = sub.add_parser("serve", help="run in the foreground (what `up` starts)")
    serve.add_argument("--home", dest="serve_home")
    args = parser.parse_args(argv)
    home = getattr(args, "serve_home", None) or args.home
    if args.command == "serve":
        from .server import main_serve

        main_serve(lifecycle.home_dir(home))
        return 0
    if args.command == "up":
        try:
            path = lifecycle.ensure_running(home)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"labcluster is up. kubeconfig: {path}")
        print(f"  export KUBECONFIG={path}")
        print(f"  kubectl --kubeconfig {path} get pods -A")
        return 0
    if args.command == "down":
        was = lifecycle.stop(home)
        print("labcluster stopped" if was else "labcluster was not running")
        return 0
    st = lifecycle.status(home)
    print(st)
    return 0 if st.running else 3


if __name__ == "__main__":
    sys.exit(main())


