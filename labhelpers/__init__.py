"""labhelpers: what the notebooks' cells call. It talks to any cluster through the
official kubernetes client only, so the code a test runs on labcluster is the code a
learner runs on a real cluster."""
