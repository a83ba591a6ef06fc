"""The reference interpreter: the semantics of flowc, op by op in numpy.

Every other backend is tested against it.  Implementations live in one module
per op family (every module here except ``interpreter``) and register
themselves in ``impls`` by op name.
"""
import importlib
import pkgutil

from flowc.ir.registry import Rules

impls = Rules("reference")

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_m}")

from .interpreter import RuntimeInputError, bind_inputs, compile, run  # noqa: E402,F401
