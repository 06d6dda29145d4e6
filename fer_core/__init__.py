"""FER Studio's engine: FER2013 data, seven models behind one registry, training, evaluation, prediction.

The seven are six kinds of model (logistic regression to a CNN ensemble) plus the best CNN again,
fine-tuned on the FER+ crowd labels.

Importable without Streamlit. Start with :func:`fer_core.data.load_dataset`,
:data:`fer_core.models.REGISTRY`, :func:`fer_core.training.train_model`,
:func:`fer_core.artifacts.load_model` and :func:`fer_core.faces.predict_image`, or run
``python -m fer_core --help`` (installed as ``fer-studio``).
"""

__version__ = "0.1.0"
