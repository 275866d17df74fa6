"""`labcluster up | down | status | serve`."""

from __future__ import annotations

import argparse
import sys

from . import lifecycle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labcluster", description=(
        "An embedded single-node cluster that speaks the Kubernetes API."))
    parser.add_argument("--home", help="state dir (default $LABCLUSTER_HOME, else "
                        "~/.labcluster, or /var/lib/labcluster as root: labcluster/README.md)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("up", "start in the background (idempotent)"),
                       ("down", "stop; every object is kept for the next up"),
                       ("status", "is it running, and where"),
                       ("serve", "run in the foreground (what `up` starts)")):
        # `labcluster down --home X` as well as `labcluster --home X down`: given after the
        # command it used to be "unrecognized arguments" for all but serve
        sub.add_parser(name, help=text).add_argument(
            "--home", dest="command_home", help="the same as --home before the command")
    args = parser.parse_args(argv)
    try:
        home = lifecycle.home_dir(getattr(args, "command_home", None) or args.home)
    except RuntimeError as exc:  # home.HomeError: the message says what to do
        print(f"labcluster: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        from .server import main_serve

        main_serve(home)
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
    frontend = _nginx_line()
    if frontend:
        print(frontend)
    return 0 if st.running else 3


def _nginx_line() -> str:
    """What `nginx:*`, `postgres:*` and `redis:*` pods run here (the real nginx or the
    stand-in; which PostgreSQL/Redis majors, since a tag of another major is refused)."""
    try:
        from .node.binaries import describe_installs
        from .node.handlers.nginx import describe_nginx
    except ImportError:  # no node parts installed (extra `lab` absent)
        return ""
    return "\n".join([describe_nginx(), *describe_installs()])


if __name__ == "__main__":
    sys.exit(main())


