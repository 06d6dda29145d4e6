"""Six models behind one registry and one contract.

Where things are:

* :mod:`~fer_core.models.registry` — the table of models (:data:`REGISTRY`), :func:`create_model`,
  :func:`get_spec`; start here.
* :mod:`~fer_core.models.base` — the shared contract (:class:`FerModel`) and :class:`ModelSpec`,
  including the one parameter check.
* :mod:`~fer_core.models.sklearn_models` — logistic regression and the random forest;
  :mod:`~fer_core.models.packed_forest` — the forest's compact file format.
* :mod:`~fer_core.models.keras_models` — the Keras wrapper and its training loop;
  :mod:`~fer_core.models.networks` — the network builders; :mod:`~fer_core.models.layers` — custom
  Keras layers (HOG features).

Importing this package does not import Keras, TensorFlow or scikit-learn; they load on first use.
"""

from fer_core.models.base import FerModel, ModelSpec, params_to_json
from fer_core.models.registry import MODEL_NAMES, REGISTRY, create_model, get_spec, load_model_from_dir

__all__ = [
    "MODEL_NAMES",
    "REGISTRY",
    "FerModel",
    "ModelSpec",
    "create_model",
    "get_spec",
    "load_model_from_dir",
    "params_to_json",
]
