"""Passes over the IR: each a named ``Function -> Function`` that returns a new function.

``available()`` lists them; ``PassManager`` runs a pipeline (a spec string such as
``"fold,simplify,cse,dce"``) verifying after each pass; ``run_stages`` returns every
intermediate function (the jit frontend's ``lowered.text(<pass>)``).  Local
rewrites are pattern tables driven to a fixed point (``rewrite.py``).
"""
from .base import Pass, available, get_pass, register
from .manager import DEFAULT_OPT_LEVEL, PIPELINES, PassManager, PassVerifyError, default_pipeline, parse_spec, run_stages
from .rewrite import Pattern, RewriteLoopError, Rewriter, apply_patterns

__all__ = ["Pass", "available", "get_pass", "register", "DEFAULT_OPT_LEVEL", "PIPELINES", "PassManager", "PassVerifyError",
           "default_pipeline", "parse_spec", "run_stages", "Pattern", "RewriteLoopError", "Rewriter",
           "apply_patterns"]
