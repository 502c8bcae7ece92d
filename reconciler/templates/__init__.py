"""Files `cxrecon init` writes into a new connectors repository (package data: workflows/);
read with importlib.resources by reconciler.gitops.workflows."""
