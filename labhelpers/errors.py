"""The root of every error labhelpers raises on purpose.

Why: a notebook (or a course tool) can catch "anything labhelpers refused or could not do"
with one ``except labhelpers.LabError``, while each error keeps its builtin base
(``ValueError`` for bad input, ``RuntimeError`` for a cluster that is not as expected,
``AssertionError`` for a failed check, …) so existing ``except ValueError`` still work.
This module imports nothing, so every labhelpers module can import it without a circle.
"""

from __future__ import annotations

__all__ = ["LabError"]


class LabError(Exception):
    """Base of labhelpers' exceptions; subclasses also inherit a builtin exception."""
