"""Random, well-typed, verifying IR for property tests.

API
---
``functions(max_ops=8, symbolic=True, special=True, regions=True, locs=True, name="f")``
    A hypothesis strategy drawing a :class:`flowc.ir.Function` built with :class:`flowc.ir.Builder`:
    1-3 parameters of random dtypes and small shapes (some dims the symbol ``B`` when ``symbolic``),
    then up to ``max_ops`` generation *steps*, each adding one op or a small guarded group of ops:
    elementwise unary/binary ops with broadcasting, select, cast, constants (dense lists, hex blobs for
    > 16 elements), iota, an occasional ``fusion`` region (``regions``), and — once those families are
    declared in ``OPS`` — reductions, argmax/argmin, matmul, transpose, reshape, broadcast_to,
    expand_dims, squeeze and concatenate.  Some ops carry a :class:`flowc.ir.Loc` (``locs``).
    The first parameter has the function's full "base" shape, so every symbol used anywhere is bound
    by an input.  Every drawn function passes ``flowc.ir.verify``.

    Values stay finite by construction when ``special=False``: partial ops are guarded
    (``log1p(abs(x))``, ``sqrt(abs(x))``, ``rsqrt(abs(x) + 1)``, ``exp(tanh(x))``, ``x / (abs(y) + 1)``,
    float ``pow(abs(x) + 1, tanh(y))``, int ``pow(x, c)`` with ``0 <= c <= 3``, float->int casts of
    ``3 * tanh(x)``), and a per-value magnitude bound rejects float ops that could overflow.
    With ``special=True`` constants may also hold nan, +-inf, tiny and huge values, so results can be
    non-finite: compare them with ``equal_nan=True``.  Integer arithmetic may wrap (as numpy does).

``modules(max_functions=3, **kw)``
    A strategy for a :class:`flowc.ir.Module` of several such functions with distinct names.

``inputs_for(function, seed, sizes={"B": 3}) -> list[np.ndarray]``
    Deterministic random inputs for ``function``'s parameters: floats uniform in [-2, 2], signed ints in
    [-5, 5], u32 in [0, 10], bools fair coins; symbolic dims take their size from ``sizes``.

``SIZES``: the default symbol sizes.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from flowc.ir import OPS, Builder, Function, Loc, Module, Region, Sym, TensorType, Value
from flowc.ir.types import DTYPES

SIZES = {"B": 3}
B = Sym("B")
FLOATS = ("f16", "f32", "f64")
INTS = ("i8", "i32", "i64", "u32")
ALL_DTYPES = FLOATS + INTS + ("bool",)
# Largest magnitude a float value may reach (when special=False) before an op is rejected.
LIMIT = {"f16": 1e3, "f32": 1e6, "f64": 1e6}
PARAM_NAMES = ("x", "y", "w", "b", "w_1", "input", "arg0", None)
LOC_FILES = ("model.py", "dir/sub/train.py", 'we"ird\\name é.py')
MAX_SYM = 8   # the largest size a symbol is assumed to take, for magnitude bounds


def _dt(name: str):
    return DTYPES[name]


def _static(shape) -> tuple[int, ...]:
    return tuple(1 if isinstance(d, Sym) else d for d in shape)


def _count(shape) -> int:
    return math.prod(MAX_SYM if isinstance(d, Sym) else d for d in shape)


def _pow(m: float, n: int) -> float:
    """``m ** n`` for magnitude bounds, saturating at inf instead of raising OverflowError."""
    try:
        return float(m) ** n
    except OverflowError:
        return math.inf


def compatible(*shapes) -> bool:
    """Strict numpy broadcasting: aligned dims equal or literally 1 (never a symbol against an int)."""
    n = max(len(s) for s in shapes)
    for col in zip(*[(1,) * (n - len(s)) + tuple(s) for s in shapes]):
        if len({d for d in col if d != 1}) > 1:
            return False
    return True


class _Gen:
    """Generation state: a builder, the values usable as operands, and their magnitude bounds."""

    def __init__(self, draw, special: bool, base: tuple, symbols: bool):
        self.draw, self.special, self.base, self.symbols = draw, special, base, symbols
        self.b = Builder()
        self.pool: list[Value] = []
        self.bound: dict[int, float] = {}

    # -- helpers ------------------------------------------------------------------------------
    def add(self, v: Value, bound: float) -> Value:
        self.pool.append(v)
        self.bound[id(v)] = bound
        return v

    def mag(self, v: Value) -> float:
        return self.bound.get(id(v), math.inf)

    def ok(self, dtype, bound: float) -> bool:
        return self.special or dtype.name not in LIMIT or bound <= LIMIT[dtype.name]

    def pick(self, pred=lambda v: True) -> Value | None:
        cands = [v for v in self.pool if pred(v)]
        return self.draw(st.sampled_from(cands)) if cands else None

    def op(self, name, *xs, **attrs) -> Value:
        return self.b(name, *xs, **attrs)

    def const(self, dtype, shape, small: bool = False) -> Value:
        """A constant of ``dtype``/``shape``; ``small`` keeps values in [-4, 4] and finite."""
        arr = _values(self.draw, dtype, shape, small or not self.special)
        v = self.op("constant", value=arr)
        finite = arr[np.isfinite(arr)] if dtype.is_float else arr
        bound = math.inf if finite.size != arr.size else float(np.max(np.abs(arr.astype(np.float64)), initial=0))
        return self.add(v, bound)

    def scalar(self, dtype, x) -> Value:
        return self.add(self.op("constant", value=np.array(x, dtype=dtype.np)), abs(float(x)))

    def base_like(self) -> tuple:
        """A shape broadcastable against the base: a suffix of it with some dims set to 1."""
        k = self.draw(st.integers(0, len(self.base)))
        return tuple(1 if self.draw(st.booleans()) else d for d in self.base[len(self.base) - k:])

    def partner(self, x: Value, pred) -> Value:
        """A same-dtype value broadcast-compatible with ``x`` (or a fresh small constant)."""
        y = self.pick(lambda v: v.type.dtype == x.type.dtype and compatible(v.type.shape, x.type.shape) and pred(v))
        if y is None or self.draw(st.integers(0, 4)) == 0:
            shape = _static(x.type.shape) if self.draw(st.booleans()) else ()
            y = self.const(x.type.dtype, shape, small=True)
        return y

    # -- steps (each adds one op or a small guarded group; returns False when it cannot apply) --
    def step_unary(self) -> bool:
        x = self.pick(lambda v: not v.type.dtype.is_bool)
        if x is None:
            x = self.pick()
            if x is None:
                return False
            return bool(self.add(self.op("logical_not", x), 1))
        m = self.mag(x)
        choices = ["neg", "abs", "sign", "relu"]
        if x.type.dtype.is_float:
            choices += ["tanh", "sigmoid", "sin", "cos", "floor", "ceil", "exp", "log1p", "sqrt", "log", "rsqrt"]
        name = self.draw(st.sampled_from(choices))
        dt = x.type.dtype
        if name == "exp":       # guarded: exp(tanh(x)) <= e
            self.add(self.op("exp", self.op("tanh", x)), math.e)
        elif name in ("log1p", "sqrt"):
            self.add(self.op(name, self.op("abs", x)), math.sqrt(m) if name == "sqrt" else math.log1p(m))
        elif name in ("log", "rsqrt"):   # of abs(x) + 1 >= 1
            one = self.scalar(dt, 1)
            arg = self.op("add", self.op("abs", x), one)
            self.add(self.op(name, arg), 1.0 if name == "rsqrt" else math.log1p(m))
        else:
            bound = {"sign": 1, "tanh": 1, "sigmoid": 1, "sin": 1, "cos": 1, "ceil": m + 1, "floor": m + 1}.get(name, m)
            self.add(self.op(name, x), bound)
        return True

    def step_binary(self) -> bool:
        x = self.pick()
        if x is None:
            return False
        dt = x.type.dtype
        if dt.is_bool:
            name = self.draw(st.sampled_from(["logical_and", "logical_or", "eq", "ne"]))
        else:
            name = self.draw(st.sampled_from(["add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                              "eq", "ne", "lt", "le", "gt", "ge"]))
            if name == "div" and not dt.is_float:
                name = "mul"
        if name == "pow" and dt.is_int:
            c = self.scalar(dt, self.draw(st.integers(0, 3)))
            if not self.ok(dt, _pow(self.mag(x), 3)):
                return False
            self.add(self.op("pow", x, c), _pow(self.mag(x), 3))
            return True
        y = self.partner(x, lambda v: True)
        mx, my = self.mag(x), self.mag(y)
        if name == "div":        # x / (abs(y) + 1)
            den = self.op("add", self.op("abs", y), self.scalar(dt, 1))
            self.add(self.op("div", x, den), mx)
            return True
        if name == "pow":        # (abs(x) + 1) ** tanh(y) <= abs(x) + 1
            base = self.op("add", self.op("abs", x), self.scalar(dt, 1))
            self.add(self.op("pow", base, self.op("tanh", y)), mx + 1)
            return True
        bound = {"add": mx + my, "sub": mx + my, "mul": mx * my, "maximum": max(mx, my),
                 "minimum": max(mx, my)}.get(name, 1)
        if not self.ok(dt, bound):
            return False
        self.add(self.op(name, x, y), bound)
        return True

    def step_select(self) -> bool:
        x = self.pick(lambda v: not v.type.dtype.is_bool)
        if x is None:
            return False
        y = self.partner(x, lambda v: True)
        c = self.pick(lambda v: v.type.dtype.is_bool and compatible(v.type.shape, x.type.shape, y.type.shape))
        if c is None:
            c = self.add(self.op("gt", x, self.scalar(x.type.dtype, 0)), 1)
        self.add(self.op("select", c, x, y), max(self.mag(x), self.mag(y)))
        return True

    def step_cast(self) -> bool:
        x = self.pick()
        if x is None:
            return False
        to = _dt(self.draw(st.sampled_from(ALL_DTYPES)))
        src, m = x.type.dtype, self.mag(x)
        if src.is_float and to.is_int:   # keep the cast defined: 3 * tanh(x), nan replaced by 0
            t = self.op("tanh", x)
            t = self.op("select", self.op("eq", t, t), self.op("mul", t, self.scalar(src, 3)), self.scalar(src, 0))
            self.add(self.op("cast", t, dtype=to), 3)
            return True
        if to.is_bool:
            m = 1
        if not self.ok(to, m) or (to.name == "f16" and m > 6e4):
            return False
        self.add(self.op("cast", x, dtype=to), m)
        return True

    def step_constant(self) -> bool:
        dt = _dt(self.draw(st.sampled_from(ALL_DTYPES)))
        big = self.draw(st.booleans())   # > 16 elements print as a hex blob
        self.const(dt, (self.draw(st.integers(17, 24)),) if big else _static(self.base_like()))
        return True

    def step_iota(self) -> bool:
        shape = self.base_like() if self.draw(st.booleans()) else self.base
        if not shape:
            return False
        dt = _dt(self.draw(st.sampled_from(FLOATS + INTS)))
        axis = self.draw(st.integers(0, len(shape) - 1))
        n = shape[axis] if isinstance(shape[axis], int) else MAX_SYM
        self.add(self.op("iota", shape=shape, dtype=dt, axis=axis), n)
        return True

    def step_fusion(self) -> bool:
        k = self.draw(st.integers(1, min(3, len(self.pool)))) if self.pool else 0
        if not k:
            return False
        operands = [self.pick() for _ in range(k)]
        params = [Value(v.type, None) for v in operands]
        inner = _Gen(self.draw, self.special, self.base, self.symbols)
        for p, v in zip(params, operands):
            inner.add(p, self.mag(v))
        n_params = len(inner.pool)
        steps = [inner.step_unary, inner.step_binary, inner.step_select, inner.step_cast]
        for _ in range(self.draw(st.integers(1, 3))):
            self.draw(st.sampled_from(steps))()
        made = inner.pool[n_params:] or inner.pool
        ys = self.draw(st.lists(st.sampled_from(made), min_size=1, max_size=2))
        region = Region(params, inner.b.ops, ys)
        op = self.b.op("fusion", *operands, regions=[region], kind=self.draw(st.sampled_from(["loop", "input"])))
        for r, y in zip(op.results, ys):
            self.add(r, inner.mag(y))
        return True

    # -- families declared by other modules (used only once they exist) ------------------------
    def step_reduce(self) -> bool:
        x = self.pick(lambda v: not v.type.dtype.is_bool)
        if x is None:
            return False
        dt, nd = x.type.dtype, x.type.ndim
        names = ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin"]
        names += ["reduce_mean"] if dt.is_float else []
        name = self.draw(st.sampled_from([n for n in names if n in OPS]))
        keepdims = self.draw(st.booleans())
        if name.startswith("arg"):
            if nd == 0:
                return False
            axis = self.draw(st.integers(0, nd - 1))
            self.add(self.op(name, x, axis=axis, keepdims=keepdims), _count(x.type.shape))
            return True
        axes = tuple(sorted(self.draw(st.sets(st.integers(0, nd - 1), max_size=nd)))) if nd else ()
        m = self.mag(x)
        if name == "reduce_prod" and dt.is_float:
            x, m = self.op("tanh", x), 1
        n = _count([x.type.shape[a] for a in axes])
        bound = {"reduce_sum": m * n, "reduce_prod": _pow(m, n)}.get(name, m)
        if not self.ok(dt, bound):
            return False
        self.add(self.op(name, x, axes=axes, keepdims=keepdims), bound)
        return True

    def step_matmul(self) -> bool:
        x = self.pick(lambda v: v.type.ndim >= 1 and not v.type.dtype.is_bool
                      and isinstance(v.type.shape[-1], int))
        if x is None:
            return False
        k = x.type.shape[-1]
        batch = x.type.shape[:-2]

        def fits(v):
            s = v.type.shape
            return (v.type.dtype == x.type.dtype and v.type.ndim >= 1 and
                    (s[0] == k if v.type.ndim == 1 else s[-2] == k and compatible(s[:-2], batch)))
        y = self.pick(fits)
        if y is None or self.draw(st.booleans()):
            y = self.const(x.type.dtype, (k, self.draw(st.integers(1, 4))), small=True)
        bound = self.mag(x) * self.mag(y) * k
        if not self.ok(x.type.dtype, bound):
            return False
        self.add(self.op("matmul", x, y), bound)
        return True

    def step_shape(self) -> bool:
        x = self.pick()
        if x is None:
            return False
        s, nd = x.type.shape, x.type.ndim
        kinds = [n for n in ("transpose", "reshape", "broadcast_to", "expand_dims", "squeeze", "concatenate")
                 if n in OPS]
        name = self.draw(st.sampled_from(kinds))
        if name == "transpose":
            perm = tuple(self.draw(st.permutations(range(nd))))
            v = self.op("transpose", x, perm=perm)
        elif name == "reshape":
            n = math.prod(d for d in s if isinstance(d, int))
            syms = [d for d in s if isinstance(d, Sym)]
            f = self.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
            tail = [f, n // f] if self.draw(st.booleans()) else [n]
            v = self.op("reshape", x, shape=tuple(syms + [t for t in tail if t != 1 or self.draw(st.booleans())]))
        elif name == "broadcast_to":
            shape = tuple(2 if d == 1 and self.draw(st.booleans()) else d for d in s)
            if self.draw(st.booleans()):
                shape = (self.draw(st.integers(1, 3)),) + shape
            v = self.op("broadcast_to", x, shape=shape)
        elif name == "expand_dims":
            out = nd + self.draw(st.integers(1, 2))
            axes = tuple(sorted(self.draw(st.sets(st.integers(0, out - 1), min_size=out - nd, max_size=out - nd))))
            v = self.op("expand_dims", x, axes=axes)
        elif name == "squeeze":
            ones = [i for i, d in enumerate(s) if d == 1]
            axes = tuple(sorted(self.draw(st.sets(st.sampled_from(ones), max_size=len(ones))))) if ones else ()
            v = self.op("squeeze", x, axes=axes)
        else:
            axes = [i for i, d in enumerate(s) if isinstance(d, int)]
            if not axes:
                return False
            axis = self.draw(st.sampled_from(axes))
            same = [v for v in self.pool if v.type == x.type]
            others = self.draw(st.lists(st.sampled_from(same), max_size=2))
            v = self.op("concatenate", x, *others, axis=axis)
        self.add(v, self.mag(x) if name != "concatenate" else max(self.mag(y) for y in [x, *others]))
        return True


def _values(draw, dtype, shape, small: bool) -> np.ndarray:
    """Constant contents: seeded numpy values, with special floats sprinkled in unless ``small``."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = math.prod(shape)
    npd = dtype.np
    if dtype.is_bool:
        a = rng.random(n) < 0.5
    elif dtype.is_float:
        a = np.round(rng.uniform(-4, 4, n), draw(st.integers(0, 3))).astype(npd)
        if not small and n:
            fi = np.finfo(npd)
            specials = [-0.0, math.nan, math.inf, -math.inf, float(fi.tiny), float(fi.smallest_subnormal),
                        float(fi.max), -float(fi.max) / 3, 1e-300 if npd == np.float64 else 1e-30,
                        1e300 if npd == np.float64 else 1e30, 0.1, 1 / 3]
            for i in draw(st.lists(st.integers(0, n - 1), min_size=draw(st.integers(0, 1)), max_size=3)):
                with np.errstate(over="ignore"):
                    a[i] = npd.type(draw(st.sampled_from(specials)))
    else:
        info = np.iinfo(npd)
        lo, hi = (max(info.min, -4), 4) if small else (int(info.min), int(info.max))
        a = rng.integers(lo, hi, n, dtype=npd, endpoint=True)
        if not small and n and draw(st.booleans()):
            a[0] = draw(st.sampled_from([info.min, info.max, 0]))
    return a.reshape(shape)


@st.composite
def functions(draw, max_ops: int = 8, symbolic: bool = True, special: bool = True, regions: bool = True,
              locs: bool = True, name: str = "f") -> Function:
    rank = draw(st.integers(0, 3))
    dims = st.integers(1, 6) | st.just(B) if symbolic else st.integers(1, 6)
    base = tuple(draw(st.lists(dims, min_size=rank, max_size=rank)))
    g = _Gen(draw, special, base, symbolic)
    params = []
    names = [n for n in PARAM_NAMES]
    for i in range(draw(st.integers(1, 3))):
        dt = _dt(draw(st.sampled_from(ALL_DTYPES)))
        shape = base if i == 0 else g.base_like()
        p = Value(TensorType(dt, shape), draw(st.sampled_from(names)))
        params.append(p)
        g.add(p, 5 if dt.is_int else 2)
    steps = [g.step_unary, g.step_binary, g.step_binary, g.step_select, g.step_cast, g.step_constant,
             g.step_iota]
    if regions:
        steps.append(g.step_fusion)
    if "reduce_sum" in OPS:
        steps += [g.step_reduce, g.step_reduce]
    if "matmul" in OPS:
        steps.append(g.step_matmul)
    if "transpose" in OPS:
        steps += [g.step_shape, g.step_shape]
    for _ in range(draw(st.integers(1, max_ops))):
        n_before = len(g.b.ops)
        g.b.loc = _loc(draw) if locs and draw(st.integers(0, 2)) == 0 else None
        draw(st.sampled_from(steps))()
        del n_before
    g.b.loc = None
    made = g.pool[len(params):] or g.pool
    results = [made[-1]] + draw(st.lists(st.sampled_from(g.pool), max_size=2))
    return Function(name, params, g.b.ops, results)


def _loc(draw) -> Loc:
    col = draw(st.none() | st.integers(1, 80))
    return Loc(draw(st.sampled_from(LOC_FILES)), draw(st.integers(1, 999)), col)


@st.composite
def modules(draw, max_functions: int = 3, **kw) -> Module:
    n = draw(st.integers(1, max_functions))
    return Module([draw(functions(name=f"f{i}", **kw)) for i in range(n)])


def inputs_for(function: Function, seed: int, sizes: dict | None = None) -> list[np.ndarray]:
    """Random inputs matching ``function``'s parameter types (see the module docstring)."""
    sizes = SIZES if sizes is None else sizes
    rng = np.random.default_rng(seed)
    out = []
    for p in function.params:
        shape = tuple(sizes[d.name] if isinstance(d, Sym) else d for d in p.type.shape)
        dt = p.type.dtype
        if dt.is_bool:
            a = rng.random(shape) < 0.5
        elif dt.is_float:
            a = rng.uniform(-2, 2, shape)
        elif dt.np.kind == "u":
            a = rng.integers(0, 10, shape, endpoint=True)
        else:
            a = rng.integers(-5, 5, shape, endpoint=True)
        out.append(np.asarray(a).astype(dt.np))
    return out


__all__ = ["functions", "modules", "inputs_for", "compatible", "SIZES"]
