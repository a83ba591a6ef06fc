"""Backends: each turns a verified Function into a callable on numpy arrays.

A backend is a module exposing ``compile(function) -> callable``; they are looked up
by name and imported lazily so optional dependencies (numba-cuda) stay optional.
"""
from __future__ import annotations

import importlib

from flowc.ir.types import FlowcError

BACKENDS = {"reference": "flowc.backends.reference", "numba": "flowc.backends.numba",
            "cuda": "flowc.backends.cuda"}


def get_backend(name: str):
    if name not in BACKENDS:
        raise FlowcError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}")
    return importlib.import_module(BACKENDS[name])
