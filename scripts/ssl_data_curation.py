"""facebookresearch/ssl-data-curation's code, imported from a checkout (never copied into this
repository), for scripts/make_curation_fixtures.py and scripts/curate_reference.py.

`load(checkout)` puts stand-ins for the imports the reference makes that do no work here —
sklearn's `check_random_state` (numpy's semantics: None is the global RandomState, an int
seeds one, a RandomState is itself) and tqdm (iterates, draws nothing; only where tqdm is not
imported already) — and numpy 2's
removed `np.Inf`, then returns the reference's modules.
"""
import sys
import types

import numpy as np


def check_random_state(seed):
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, (int, np.integer)):
        return np.random.RandomState(seed)
    return seed


def load(checkout):
    sklearn = types.ModuleType("sklearn")
    sklearn_utils = types.ModuleType("sklearn.utils")
    sklearn_utils.check_random_state = check_random_state
    sklearn.utils = sklearn_utils
    sys.modules.setdefault("sklearn", sklearn)
    sys.modules.setdefault("sklearn.utils", sklearn_utils)
    tqdm_module = types.ModuleType("tqdm")
    tqdm_module.tqdm = lambda it, **kwargs: it
    sys.modules.setdefault("tqdm", tqdm_module)
    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # removed in numpy 2; the reference still uses it
    sys.path.insert(0, str(checkout))
    from src import hierarchical_kmeans_gpu, hierarchical_sampling, kmeans_gpu
    from src.clusters import HierarchicalCluster
    return types.SimpleNamespace(kmg=kmeans_gpu, hkmg=hierarchical_kmeans_gpu, hs=hierarchical_sampling,
                                 HierarchicalCluster=HierarchicalCluster)
