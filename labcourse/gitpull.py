"""The nbgitpuller link a class clicks to get the course: ``labcourse link --hub URL``.

On a JupyterHub the usual way a course reaches every learner's home is an nbgitpuller
link: ``{hub}/hub/user-redirect/git-pull?repo=…&urlpath=…&branch=…``. Clicking it starts
the learner's server, clones the repository into ``~/<folder>`` (the repository's name
unless ``targetpath`` says otherwise) the first time, and on later clicks merges the
course's new commits while keeping every edit the learner made (nbgitpuller merges with
``-Xours`` and never overwrites a changed file). ``urlpath`` then opens the first notebook.

This builds that link the way nbgitpuller's own link generator does (each value
percent-encoded as JavaScript's ``encodeURIComponent`` does, parameters in its order), so
an instructor need not open the generator page. The single-user image needs the
``nbgitpuller`` server extension (in the ``lab`` extra) and the course's packages; the
notebooks then import ``labhelpers`` from the image, and the pulled folder holds the
notebooks the learner edits.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import quote, urlsplit

from labhelpers.errors import LabError

#: nbgitpuller's HTTP entry point behind JupyterHub's user-redirect.
PULL_PATH = "/hub/user-redirect/git-pull"
#: What the link opens after the pull, inside the pulled folder.
DEFAULT_PATH = "notebooks/01-preflight.ipynb"


class LinkError(LabError, ValueError):
    """A link we refuse to build; the message says which value is wrong and why."""


def _encode(value: str) -> str:
    """Percent-encode like ``encodeURIComponent`` (what nbgitpuller's generator uses)."""
    return quote(value, safe="-_.!~*'()")


def folder_for(repo: str) -> str:
    """The folder nbgitpuller clones into when the link gives no ``targetpath``: the last
    part of the repository URL (its handler's ``repo.rstrip('/').split('/')[-1]``)."""
    name = repo.rstrip("/").split("/")[-1]
    if not name:
        raise LinkError(f"--repo {repo!r}: no repository name at its end")
    return name


def hub_base(hub: str) -> str:
    """The hub's address without a trailing ``/`` or ``/hub`` (both are often pasted)."""
    parts = urlsplit(hub)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LinkError(f"--hub {hub!r}: expected the hub's address, e.g. "
                        "https://hub.example.edu")
    if parts.query or parts.fragment:
        raise LinkError(f"--hub {hub!r}: the hub's address has no ?query or #fragment")
    base = hub.rstrip("/")
    return base.removesuffix("/hub").rstrip("/")


def link(hub: str, repo: str, branch: str | None = None, path: str = DEFAULT_PATH,
         targetpath: str | None = None, app: str = "lab") -> str:
    """The nbgitpuller link that pulls ``repo`` (at ``branch``; its default branch when
    None) into each learner's home and opens ``path`` (relative to the repository) in
    JupyterLab (``app="lab"``) or the classic notebook (``app="tree"``)."""
    if not repo or any(c.isspace() for c in repo):
        raise LinkError(f"--repo {repo!r}: a git URL without spaces")
    if urlsplit(repo).password:  # every learner sees the link: no credentials in it
        raise LinkError("--repo: the URL holds a password or token; a learner's pull needs "
                        "a repository it can read without one")
    if app not in ("lab", "tree"):
        raise LinkError(f"app {app!r}: lab or tree")
    path = path.strip("/")
    if not path or ".." in Path(path).parts:
        raise LinkError(f"--path {path!r}: a file or folder inside the repository")
    folder = targetpath.strip("/") if targetpath else folder_for(repo)
    if not folder or ".." in Path(folder).parts:
        raise LinkError(f"--targetpath {targetpath!r}: a folder inside the learner's home")
    opened = f"{'lab/tree' if app == 'lab' else 'tree'}/{folder}/{path}"
    query = [("repo", repo), ("urlpath", opened)]
    if branch:
        query.append(("branch", branch))
    if targetpath:
        query.append(("targetpath", folder))
    return f"{hub_base(hub)}{PULL_PATH}?" + "&".join(f"{k}={_encode(v)}" for k, v in query)


def origin_of(folder: Path) -> str | None:
    """The ``origin`` remote of the checkout at ``folder`` (the course's own clone), if any:
    the repository a link points at by default."""
    try:
        out = subprocess.run(["git", "-C", str(folder), "remote", "get-url", "origin"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
