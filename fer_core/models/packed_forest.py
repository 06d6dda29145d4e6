"""A random forest in a compact, column-wise form: the same predictions in a half to a fifth of the file.

A pickled scikit-learn forest stores 64 bytes per tree node, most of which prediction never reads
(impurity, sample counts, the class mix of inner nodes) and the rest in 8-byte numbers. Here each
tree keeps only what prediction needs, as separate typed columns that compress well:

* which nodes are leaves (one bit each; a node's left child is always the next node, because
  scikit-learn numbers nodes depth first);
* for inner nodes the pixel tested (2 bytes), the threshold, the offset to the right child and
  where a missing value goes (one bit);
* for leaves the training-sample count of each class.

Thresholds on pixels take few distinct values (halfway between two grey levels), so they are
stored once in a table of exact 8-byte values plus a 2-byte index per node. Leaf fractions are
stored as integer counts where that reproduces them exactly, else as they are. Unpacking rebuilds
real scikit-learn trees with bit-identical arrays for everything prediction reads, so predictions
are identical and run in scikit-learn's own code. Feature importances need the dropped statistics,
so compute them before packing.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

FORMAT = "fer-forest/1"


def pack_forest(forest: Any) -> dict[str, Any]:
    """A fitted ``RandomForestClassifier`` (single output) as a dict of compact NumPy columns."""
    if getattr(forest, "n_outputs_", 1) != 1:
        raise ValueError("Only single-output forests can be packed.")
    states = [estimator.tree_.__getstate__() for estimator in forest.estimators_]
    nodes = np.concatenate([state["nodes"] for state in states])
    values = np.concatenate([state["values"] for state in states])[:, 0, :]  # (nodes, classes)
    counts = np.array([state["node_count"] for state in states], dtype=np.int64)
    local = np.concatenate([np.arange(n) for n in counts])  # each node's index inside its tree
    leaf = nodes["left_child"] == -1
    inner = ~leaf
    if not np.array_equal(nodes["left_child"][inner], local[inner] + 1):
        raise ValueError("The trees are not numbered depth first; this forest cannot be packed.")

    threshold_table, threshold_index = np.unique(nodes["threshold"][inner], return_inverse=True)
    index_type = np.uint16 if len(threshold_table) <= 2**16 else np.uint32
    fractions = values[leaf]
    leaf_counts = np.rint(fractions * nodes["weighted_n_node_samples"][leaf][:, None])
    fits = leaf_counts.size == 0 or leaf_counts.max() < 2**16
    exact = fits and np.array_equal(_fractions(leaf_counts), fractions)

    shell = copy.copy(forest)  # every fitted attribute except the trees' node arrays
    shell.estimators_ = [copy.copy(estimator) for estimator in forest.estimators_]
    for estimator in shell.estimators_:
        del estimator.tree_
    return {
        "format": FORMAT,
        "shell": shell,
        "node_counts": counts.astype(np.int32),
        "max_depths": np.array([state["max_depth"] for state in states], dtype=np.int32),
        "is_leaf": np.packbits(leaf),
        "feature": nodes["feature"][inner].astype(np.uint16 if forest.n_features_in_ <= 2**16 else np.uint32),
        "missing_left": np.packbits(nodes["missing_go_to_left"][inner] != 0),  # where NaN inputs go
        "threshold_table": threshold_table,
        "threshold_index": threshold_index.astype(index_type),
        "right_offset": (nodes["right_child"][inner] - local[inner]).astype(np.uint32),
        "leaf_values": leaf_counts.astype(np.uint16) if exact else fractions,
    }


def _fractions(counts: np.ndarray) -> np.ndarray:
    """Class counts per leaf to the class fractions scikit-learn stores (float64)."""
    counts = counts.astype(np.float64)
    return counts / np.maximum(counts.sum(axis=1), 1)[:, None]


def is_packed_forest(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def unpack_forest(packed: dict[str, Any]) -> Any:
    """Rebuild the scikit-learn forest that :func:`pack_forest` packed (identical predictions)."""
    from sklearn.tree._tree import NODE_DTYPE, Tree

    if not is_packed_forest(packed):
        raise ValueError("This file does not hold a packed random forest.")
    forest = copy.copy(packed["shell"])
    forest.estimators_ = [copy.copy(estimator) for estimator in forest.estimators_]
    counts = packed["node_counts"].astype(np.int64)
    leaf = np.unpackbits(packed["is_leaf"], count=int(counts.sum())).astype(bool)
    threshold = packed["threshold_table"][packed["threshold_index"]]
    missing_left = np.unpackbits(packed["missing_left"], count=len(threshold)).astype(np.uint8)
    leaf_values = packed["leaf_values"]
    leaf_totals = leaf_values.sum(axis=1, dtype=np.float64)  # sample counts (or 1 for fractions)
    if leaf_values.dtype == np.uint16:
        leaf_values = _fractions(leaf_values)
    n_classes = leaf_values.shape[1]

    node_start = np.concatenate([[0], np.cumsum(counts)])
    inner_start = np.concatenate([[0], np.cumsum([(~leaf[a:b]).sum() for a, b in zip(node_start, node_start[1:])])])
    leaf_start = node_start - inner_start
    for t, estimator in enumerate(forest.estimators_):
        n = int(counts[t])
        is_leaf = leaf[node_start[t] : node_start[t + 1]]
        inner_rows = slice(inner_start[t], inner_start[t + 1])
        leaf_rows = slice(leaf_start[t], leaf_start[t + 1])
        index = np.arange(n)
        nodes = np.zeros(n, dtype=NODE_DTYPE)
        nodes["left_child"] = nodes["right_child"] = -1
        nodes["feature"], nodes["threshold"] = -2, -2.0  # scikit-learn's marks for a leaf
        inner = ~is_leaf
        nodes["left_child"][inner] = index[inner] + 1
        nodes["right_child"][inner] = index[inner] + packed["right_offset"][inner_rows]
        nodes["feature"][inner] = packed["feature"][inner_rows]
        nodes["threshold"][inner] = threshold[inner_rows]
        nodes["missing_go_to_left"][inner] = missing_left[inner_rows]
        nodes["n_node_samples"][is_leaf] = np.rint(leaf_totals[leaf_rows]).astype(np.int64)
        nodes["weighted_n_node_samples"][is_leaf] = leaf_totals[leaf_rows]
        values = np.zeros((n, 1, n_classes), dtype=np.float64)
        values[is_leaf, 0, :] = leaf_values[leaf_rows]
        tree = Tree(int(forest.n_features_in_), np.array([n_classes], dtype=np.intp), 1)
        tree.__setstate__(
            {"max_depth": int(packed["max_depths"][t]), "node_count": n, "nodes": nodes, "values": values}
        )
        estimator.tree_ = tree
    return forest
