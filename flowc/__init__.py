"""flowc: trace numpy-style Python into a typed SSA graph IR, optimise it, run it natively."""
__version__ = "0.1.0"
