"""Imported first by the package, before anything imports ``kubernetes`` or ``jsonschema``.

``import kubernetes`` loads ``kubernetes.dynamic``, which imports ``kubernetes_validate`` and
so ``jsonschema``; jsonschema imports the optional ``rfc3987_syntax`` when it is installed
(``jupyter-events`` pulls it in), and that module builds a Lark grammar at import time:
about 3 s of CPU in every notebook kernel (and in the labcluster server) on a 2-core machine,
for the ``iri``/``iri-reference`` format checks of jsonschema's FormatChecker, which nothing
here uses (kubernetes_validate validates without a format checker). Marking the module
absent makes jsonschema skip those two checks; if something imported it for real already,
this leaves it alone.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
