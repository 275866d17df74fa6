"""`ecommerce-lab/course-runner:<version>`: this checkout's course (labhelpers, labcourse,
the notebooks) on the node's interpreter — what a classroom's single-user pod runs.

A JupyterHub classroom gives each learner a pod (kubespawner) whose image carries the
course and Jupyter; labhelpers in it finds the cluster through the pod's ServiceAccount
folder and KUBERNETES_SERVICE_HOST/PORT. This image stands for that one: its default
command is `labcourse run --cluster in-cluster` (every notebook, headless), and `python`
runs anything else (a kernel, a script). The image exists in one tag only, the installed
distribution's version; labcluster starts the course as a process by name and never
imports it.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata

from labcluster.node.imagebase import (
    PACKAGE_ROOT,
    ImageHandler,
    ImagePullError,
    ImageRef,
    NodeConfig,
)

NAME = "ecommerce-lab/course-runner"
DISTRIBUTION = "ecommerce-k8s-lab"
LAUNCHER = ("import sys; sys.argv[0] = 'labcourse'; from labcourse.cli import main; "
            "sys.exit(main())")


@cache
def course_version() -> str | None:
    with contextlib.suppress(metadata.PackageNotFoundError):
        return metadata.version(DISTRIBUTION)
    return None


@dataclass
class CourseRunnerImage(ImageHandler):
    @staticmethod
    def matches(ref: ImageRef) -> bool:
        return ref.name == NAME

    @classmethod
    def create(cls, ref: ImageRef, node: NodeConfig | None) -> CourseRunnerImage:
        version = course_version()
        if version is None:
            raise ImagePullError(ref.raw, f"not found (the {DISTRIBUTION} package is not "
                                 "installed)")
        if ref.tag != version:
            raise ImagePullError(ref.raw, f"not found (the course-runner image is tagged "
                                 f"{version})")
        # jupyter/docker-stacks' user: jovyan 1000:100, home /home/jovyan
        return cls(ref, node, entrypoint=["labcourse"], cmd=["run", "--cluster", "in-cluster"],
                   workdir="/home/jovyan", user=(1000, 100),
                   default_env={"PYTHONUNBUFFERED": "1", "PYTHONPATH": PACKAGE_ROOT,
                                "MPLBACKEND": "Agg", "NB_USER": "jovyan"})

    def commands(self) -> dict[str, list[str]]:
        python = self.node.python if self.node else sys.executable
        return {"labcourse": [python, "-c", LAUNCHER], "python": [python],
                "python3": [python], "sh": ["/bin/sh"],
                **self.toolbox("sleep", "cat", "env", "hostname")}

    def image_id(self) -> str:
        import platform

        return (f"labcluster://{NAME}@{self.ref.tag} "
                f"(this checkout's course on Python {platform.python_version()})")
