"""Reverse-mode autodiff on the IR.  Gradient rules live one module per op family and
register in ``grad_rules`` by op name; every module here is imported."""
import importlib
import pkgutil

from .transform import GradBuilder, GradError, grad_function, grad_rules, nondifferentiable, vjp_function

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m != "transform":
        importlib.import_module(f"{__name__}.{_m}")

__all__ = ["GradBuilder", "GradError", "grad_function", "grad_rules", "nondifferentiable", "vjp_function"]
