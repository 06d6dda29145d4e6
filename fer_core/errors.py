"""Exceptions with messages meant for people, not for debuggers."""

from __future__ import annotations


class FerError(ValueError):
    """Base class for every error FER Studio reports to a user."""


class DatasetError(FerError):
    """The dataset is missing, incomplete or malformed."""


class ImageError(FerError):
    """An uploaded or given image cannot be used."""


class ModelNotFoundError(FerError):
    """A model name is unknown, or no trained model is installed for it."""
