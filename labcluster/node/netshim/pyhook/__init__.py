"""Not imported as a package: this folder goes on PYTHONPATH so `sitecustomize` loads.

The file exists so packaging ships sitecustomize.py with labcluster.
"""
