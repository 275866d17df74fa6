"""Load testing the lab's Services: hey's closed model, wrk2's open model, plots and
before/after tables.

    from labhelpers import loadtest
    r = loadtest.run(lab, "ecommerce-backend", "/api/products", requests=10_000, concurrency=50)
    r.summary(); r.plot(); loadtest.compare(before, after)

See ``runner.run`` for the parameters and ``target`` for how a Service is reached.
"""

from labhelpers.loadtest.compare import compare
from labhelpers.loadtest.guard import LoadTargetRefused
from labhelpers.loadtest.plots import cdf, compare_plot, histogram, over_time, overview
from labhelpers.loadtest.result import LoadResult
from labhelpers.loadtest.runner import LoadTestWarning, run

__all__ = ["LoadResult", "LoadTargetRefused", "LoadTestWarning", "cdf", "compare",
           "compare_plot", "histogram", "over_time", "overview", "run"]
