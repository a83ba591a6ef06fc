"""Op declarations, one module per family.  Importing this package declares them all.

Every module in this folder is imported, so adding a family never edits this file.
"""
import importlib
import pkgutil

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_m}")
