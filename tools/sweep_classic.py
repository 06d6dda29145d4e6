"""Validation sweep for the classic models (random forest, logistic regression) on many cores.

Run on a lent many-core machine to pick recipes; prints one JSON line per configuration with the
validation accuracy (stratified 20 % of train, seed 42 — never the test split) and, for forests,
the xz-compressed size the artifact would have. Usage: python tools/sweep_classic.py DATA
"""

from __future__ import annotations

import io
import json
import sys
import time

import joblib
import numpy as np

from fer_core.data import load_dataset, validation_split
from fer_core.preprocessing import flip_faces, hog_features


def _size_mb(estimator) -> float:
    """The shipped file size: forests are stored packed (fer_core.models.packed_forest), xz-compressed."""
    from fer_core.models.packed_forest import pack_forest

    buffer = io.BytesIO()
    joblib.dump(pack_forest(estimator), buffer, compress=("xz", 6))
    return buffer.tell() / 1e6


def main(data: str, which: str) -> None:
    ds = load_dataset(data)
    x_tr, y_tr, x_va, y_va = validation_split(ds.x_train, ds.y_train)
    flat = lambda a: a.reshape(len(a), -1).astype(np.float32)  # noqa: E731
    if which == "rf":
        from sklearn.ensemble import RandomForestClassifier

        grid = [
            (False, 100, 5, "sqrt"),
            (True, 100, 5, "sqrt"),
            (True, 100, 8, "sqrt"),
            (True, 150, 10, "sqrt"),
            (True, 100, 5, 0.04),
            (False, 100, 3, "sqrt"),
            (True, 100, 3, "sqrt"),
            (True, 200, 15, "sqrt"),
            (True, 120, 6, "sqrt"),
        ]
        for flip, trees, leaf, feats in grid:
            xs, ys = (np.concatenate([x_tr, flip_faces(x_tr)]), np.concatenate([y_tr, y_tr])) if flip else (x_tr, y_tr)
            t = time.time()
            rf = RandomForestClassifier(
                trees, max_depth=30, min_samples_leaf=leaf, max_features=feats, n_jobs=-1, random_state=42
            ).fit(flat(xs), ys)
            acc = float((rf.predict(flat(x_va)) == y_va).mean())
            print(
                json.dumps(
                    {
                        "rf": [flip, trees, leaf, feats],
                        "val": round(acc, 4),
                        "s": round(time.time() - t),
                        "mb": round(_size_mb(rf), 2),
                    }
                ),
                flush=True,
            )
    else:
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        h_tr, h_va = hog_features(x_tr), hog_features(x_va)
        for name, f_tr, f_va, pca, c in [
            ("hog", h_tr, h_va, None, 1.0),
            ("hog", h_tr, h_va, None, 0.1),
            ("hog", h_tr, h_va, 300, 1.0),
            ("hog+pix", np.hstack([h_tr, flat(x_tr) / 255]), np.hstack([h_va, flat(x_va) / 255]), 400, 1.0),
        ]:
            t = time.time()
            steps = [StandardScaler()] + ([PCA(pca, whiten=True, random_state=42)] if pca else [])
            model = make_pipeline(*steps, LogisticRegression(C=c, max_iter=500)).fit(f_tr, y_tr)
            acc = float((model.predict(f_va) == y_va).mean())
            print(json.dumps({"logreg": [name, pca, c], "val": round(acc, 4), "s": round(time.time() - t)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
