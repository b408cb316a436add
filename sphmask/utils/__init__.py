"""Utilities that are not part of the model: environment report, file helpers."""
