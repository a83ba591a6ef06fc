"""A seeded generator of random, well-typed flowc programs (and inputs) for fuzzing.

``generate(seed, max_ops=12)`` returns ``(function, inputs)``; the same seed always
gives the same program.  Programs mix every op family — elementwise and
broadcasting ops, reductions, argmax, matmul, shape ops, pad/slice, take/one_hot/
scatter_add, softmax, conv/pool/LRN, RNG and fusion regions — over random dtypes and
static or symbolic (``B``) shapes.

Values are kept meaningful: each value carries a bound on its magnitude, partial ops
are guarded (``log(|x| + 1)``, ``x / (|y| + 1)``, float->int casts of ``3 tanh(x)``)
and an op that could overflow its dtype is not generated.  A *special* program (one
in eight) instead seeds its inputs and constants with nan, inf, -0.0 and exact zeros
and drops the bounds, because exactly there rewrites such as ``x * 0 -> 0`` are wrong.
"""
from __future__ import annotations

import math

import numpy as np

from flowc.ir import DTYPES, Builder, Function, Region, Sym, TensorType, Value
from flowc.ir.types import TypeError_

B = Sym("B")
FLOATS = ("f32", "f32", "f64", "f16")
INTS = ("i32", "i64", "i8", "u32")
LIMIT = {"f16": 1e3, "f32": 1e6, "f64": 1e6, "i8": 100, "i32": 1e6, "i64": 1e6, "u32": 1e6}
MAX_SYM = 5   # the largest size the symbol B takes (for magnitude bounds)
SPECIALS = (np.nan, np.inf, -np.inf, -0.0, 0.0, 0.0)


def _count(shape) -> int:
    return math.prod(MAX_SYM if isinstance(d, Sym) else d for d in shape)


def compatible(*shapes) -> bool:
    """numpy broadcasting where a symbol only meets itself or 1."""
    n = max(len(s) for s in shapes)
    for col in zip(*[(1,) * (n - len(s)) + tuple(s) for s in shapes]):
        if len({d for d in col if d != 1}) > 1:
            return False
    return True


class _Gen:
    def __init__(self, rng: np.random.Generator, special: bool, base: tuple, params: list):
        self.rng, self.special, self.base = rng, special, base
        self.b = Builder()
        self.pool: list[Value] = []
        self.bound: dict[int, float] = {}
        self.params = params   # shared with the outer generator: steps may add inputs

    # -- helpers -------------------------------------------------------------------------------
    def coin(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    def choice(self, xs):
        xs = list(xs)
        return xs[int(self.rng.integers(len(xs)))]

    def add(self, v: Value, bound: float) -> Value:
        self.pool.append(v)
        self.bound[id(v)] = bound
        return v

    def mag(self, v: Value) -> float:
        return self.bound.get(id(v), math.inf)

    def ok(self, dtype, bound: float) -> bool:
        return (self.special and dtype.is_float) or dtype.is_bool or bound <= LIMIT[dtype.name]

    def pick(self, pred=lambda v: True) -> Value | None:
        cands = [v for v in self.pool if pred(v)]
        return self.choice(cands) if cands else None

    def op(self, name, *xs, **attrs) -> Value:
        return self.b(name, *xs, **attrs)

    def const(self, dtype, shape, lo: float = -3, hi: float = 3) -> Value:
        a = values(self.rng, dtype, shape, lo, hi, self.special)
        fin = a[np.isfinite(a)] if dtype.is_float else a
        bound = math.inf if fin.size != a.size else float(np.max(np.abs(a.astype(np.float64)), initial=0))
        return self.add(self.op("constant", value=a), bound)

    def splat(self, dtype, x) -> Value:
        return self.add(self.op("constant", value=np.array(x, dtype=dtype.np)), abs(float(x)))

    def new_param(self, t: TensorType, bound: float) -> Value:
        p = Value(t, f"x{len(self.params)}")
        self.params.append(p)
        return self.add(p, bound)

    def base_like(self) -> tuple:
        k = int(self.rng.integers(0, len(self.base) + 1))
        return tuple(1 if self.coin() else d for d in self.base[len(self.base) - k:])

    def partner(self, x: Value) -> Value:
        y = self.pick(lambda v: v.type.dtype == x.type.dtype and compatible(v.type.shape, x.type.shape))
        if y is None or self.coin(0.4):
            r = self.rng.random()
            if r < (0.6 if self.special else 0.35):   # splat constants exercise the algebraic rewrites
                return self.splat(x.type.dtype, self.choice([0, 0, 1, -1, 2]) if not x.type.dtype.is_bool else True)
            shape = tuple(1 if isinstance(d, Sym) else d for d in x.type.shape) if r < 0.6 else ()
            y = self.const(x.type.dtype, shape)
        return y

    # -- steps ---------------------------------------------------------------------------------
    def step_unary(self):
        x = self.pick(lambda v: not v.type.dtype.is_bool)
        if x is None:
            x = self.pick()
            return self.add(self.op("logical_not", x), 1)
        m, dt = self.mag(x), x.type.dtype
        names = ["neg", "abs", "sign", "relu"]
        if dt.is_float:
            names += ["tanh", "sigmoid", "sin", "cos", "floor", "ceil", "exp", "log1p", "sqrt", "log", "rsqrt"]
        name = self.choice(names)
        if dt.np.kind == "u" and name in ("neg", "abs", "sign", "relu"):
            name = "relu" if name == "neg" else name
        if name == "exp":
            self.add(self.op("exp", self.op("tanh", x)), math.e)
        elif name in ("log1p", "sqrt"):
            self.add(self.op(name, self.op("abs", x)), math.sqrt(m) if name == "sqrt" else math.log1p(m))
        elif name in ("log", "rsqrt"):
            arg = self.op("add", self.op("abs", x), self.splat(dt, 1))
            self.add(self.op(name, arg), 1.0 if name == "rsqrt" else math.log1p(m))
        else:
            bound = {"sign": 1, "tanh": 1, "sigmoid": 1, "sin": 1, "cos": 1}.get(name, m + 1)
            self.add(self.op(name, x), bound)

    def step_binary(self):
        x = self.pick()
        dt = x.type.dtype
        if dt.is_bool:
            name = self.choice(["logical_and", "logical_or", "eq", "ne"])
        else:
            name = self.choice(["add", "sub", "mul", "mul", "div", "pow", "maximum", "minimum",
                                "eq", "ne", "lt", "le", "gt", "ge"])
            if name == "div" and not dt.is_float:
                name = "mul"
        if name == "pow" and not dt.is_float:
            c = self.splat(dt, int(self.rng.integers(0, 4)))
            if self.ok(dt, self.mag(x) ** 3):
                self.add(self.op("pow", x, c), self.mag(x) ** 3)
            return
        y = self.partner(x)
        mx, my = self.mag(x), self.mag(y)
        if name == "div":
            den = self.op("add", self.op("abs", y), self.splat(dt, 1))
            self.add(self.op("div", x, den), mx)
        elif name == "pow":
            base = self.op("add", self.op("abs", x), self.splat(dt, 1))
            self.add(self.op("pow", base, self.op("tanh", y)), mx + 1)
        else:
            bound = {"add": mx + my, "sub": mx + my, "mul": mx * my, "maximum": max(mx, my),
                     "minimum": max(mx, my)}.get(name, 1)
            if self.ok(dt, bound):
                self.add(self.op(name, x, y), bound)

    def step_select(self):
        x = self.pick(lambda v: not v.type.dtype.is_bool)
        if x is None:
            return
        y = self.partner(x)
        c = self.pick(lambda v: v.type.dtype.is_bool and compatible(v.type.shape, x.type.shape, y.type.shape))
        if c is None:
            c = self.add(self.op("gt", x, self.splat(x.type.dtype, 0)), 1)
        self.add(self.op("select", c, x, y), max(self.mag(x), self.mag(y)))

    def step_cast(self):
        x = self.pick()
        to = DTYPES[self.choice(FLOATS + INTS + ("bool",))]
        src, m = x.type.dtype, self.mag(x)
        if src.is_float and (to.is_int or to.is_bool):
            # Keep it defined and away from integer boundaries: 3 tanh(x) + 0.5, nan -> 0.  A saturated
            # tanh is 1 or 1 - 1ulp depending on the implementation; truncating 3 tanh(x) itself turned that
            # ulp into an off-by-one (a false alarm on the numba backend, whose tanh rounded correctly).
            t = self.op("tanh", x)
            if to.np.kind == "u":   # negative float -> unsigned is implementation-defined
                t = self.op("abs", t)
            t = self.op("add", self.op("mul", t, self.splat(src, 3)), self.splat(src, 0.5))
            t = self.op("select", self.op("eq", t, t), t, self.splat(src, 0))
            self.add(self.op("cast", t, dtype=to), 4)
            return
        if to.np.kind == "u" and src.np.kind == "i":
            x = self.op("abs", x)
        if to.is_bool:
            m = 1
        if self.ok(to, m):
            self.add(self.op("cast", x, dtype=to), m)

    def step_constant(self):
        dt = DTYPES[self.choice(FLOATS + INTS + ("bool",))]
        self.const(dt, tuple(1 if isinstance(d, Sym) else d for d in self.base_like()))

    def step_iota(self):
        shape = self.base_like() if self.coin() else self.base
        if not shape:
            return
        dt = DTYPES[self.choice(FLOATS + INTS)]
        axis = int(self.rng.integers(len(shape)))
        n = shape[axis] if isinstance(shape[axis], int) else MAX_SYM
        self.add(self.op("iota", shape=shape, dtype=dt, axis=axis), n)

    def step_reduce(self):
        x = self.pick(lambda v: not v.type.dtype.is_bool)
        if x is None:
            return
        dt, nd, m = x.type.dtype, x.type.ndim, self.mag(x)
        names = ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin"]
        names += ["reduce_mean", "softmax", "log_softmax", "logsumexp"] if dt.is_float else []
        name = self.choice(names)
        keepdims = self.coin()
        if name in ("argmax", "argmin", "softmax", "log_softmax", "logsumexp"):
            if nd == 0:
                return
            axis = int(self.rng.integers(nd))
            if name.startswith("arg"):
                self.add(self.op(name, x, axis=axis, keepdims=keepdims), _count(x.type.shape))
            else:
                self.add(self.op(name, x, axis=axis), 1 if name == "softmax" else m + math.log(_count(x.type.shape)))
            return
        axes = tuple(sorted({int(a) for a in self.rng.integers(0, max(nd, 1), int(self.rng.integers(0, nd + 1)))}))
        axes = axes if nd else ()
        if name == "reduce_prod":
            if dt.is_float:
                x, m = self.op("tanh", x), 1
            elif _count([x.type.shape[a] for a in axes]) > 4:
                return
        n = _count([x.type.shape[a] for a in axes])
        bound = {"reduce_sum": m * n, "reduce_prod": m ** n if m > 1 else 1}.get(name, m)
        if self.ok(dt, bound):
            self.add(self.op(name, x, axes=axes, keepdims=keepdims), bound)

    def step_matmul(self):
        x = self.pick(lambda v: v.type.ndim >= 1 and not v.type.dtype.is_bool and isinstance(v.type.shape[-1], int))
        if x is None:
            return
        k, batch = x.type.shape[-1], x.type.shape[:-2]

        def fits(v):
            s = v.type.shape
            return (v is not x and v.type.dtype == x.type.dtype and v.type.ndim >= 1
                    and (s[0] == k if v.type.ndim == 1 else s[-2] == k and compatible(s[:-2], batch)))
        y = self.pick(fits)
        if y is None or self.coin():
            y = self.const(x.type.dtype, (k, int(self.rng.integers(1, 5))) if self.coin(0.8) else (k,), -2, 2)
        bound = self.mag(x) * self.mag(y) * k
        if self.ok(x.type.dtype, bound):
            self.add(self.op("matmul", x, y), bound)

    def step_shape(self):
        x = self.pick()
        s, nd, m = x.type.shape, x.type.ndim, self.mag(x)
        name = self.choice(["transpose", "reshape", "broadcast_to", "expand_dims", "squeeze", "concatenate",
                            "pad", "slice"])
        if name == "transpose":
            v = self.op("transpose", x, perm=tuple(int(i) for i in self.rng.permutation(nd)))
        elif name == "reshape":
            n = math.prod(d for d in s if isinstance(d, int))
            syms = [d for d in s if isinstance(d, Sym)]
            f = self.choice([d for d in range(1, n + 1) if n % d == 0]) if n else 0
            tail = [f, n // f] if n and self.coin() else [n]
            v = self.op("reshape", x, shape=tuple(syms + [t for t in tail if t != 1 or self.coin()]))
        elif name == "broadcast_to":
            shape = tuple(int(self.rng.integers(2, 4)) if d == 1 and self.coin() else d for d in s)
            if self.coin():
                shape = (int(self.rng.integers(1, 4)),) + shape
            v = self.op("broadcast_to", x, shape=shape)
        elif name == "expand_dims":
            out = nd + int(self.rng.integers(1, 3))
            axes = tuple(sorted(int(a) for a in self.rng.choice(out, out - nd, replace=False)))
            v = self.op("expand_dims", x, axes=axes)
        elif name == "squeeze":
            ones = [i for i, d in enumerate(s) if d == 1]
            v = self.op("squeeze", x, axes=tuple(i for i in ones if self.coin()))
        elif name == "concatenate":
            axes = [i for i, d in enumerate(s) if isinstance(d, int)]
            if not axes:
                return
            same = [w for w in self.pool if w.type == x.type]
            others = [self.choice(same) for _ in range(int(self.rng.integers(0, 3)))]
            v = self.op("concatenate", x, *others, axis=self.choice(axes))
            m = max(self.mag(w) for w in [x, *others])
        elif name == "pad":
            pads = tuple((0, 0) if isinstance(d, Sym) else (int(self.rng.integers(0, 3)), int(self.rng.integers(0, 3)))
                         for d in s)
            value = 0.0 if x.type.dtype.is_bool else float(self.rng.integers(-2, 3))
            if x.type.dtype.np.kind == "u":
                value = abs(value)
            v = self.op("pad", x, pads=pads, value=value)
            m = max(m, 2)
        else:
            starts, limits, strides = [], [], []
            for d in s:
                if isinstance(d, Sym):
                    starts.append(0), limits.append(d), strides.append(1)
                    continue
                a = int(self.rng.integers(0, d))
                starts.append(a), limits.append(int(self.rng.integers(a + 1, d + 1))), strides.append(
                    int(self.rng.integers(1, 3)))
            v = self.op("slice", x, starts=tuple(starts), limits=tuple(limits), strides=tuple(strides))
        self.add(v, m)

    def step_gather(self):
        name = self.choice(["take", "pick", "one_hot", "scatter_add"])
        if name == "take":
            x = self.pick(lambda v: v.type.ndim >= 1 and all(isinstance(d, int) and d > 0 for d in v.type.shape[:1]))
            if x is None:
                return
            axis = self.choice([i for i, d in enumerate(x.type.shape) if isinstance(d, int) and d > 0] or [0])
            n = x.type.shape[axis]
            shape = tuple(int(d) for d in self.rng.integers(1, 4, int(self.rng.integers(0, 3))))
            idx = self.const(DTYPES[self.choice(["i32", "i64"])], shape, -n - 1, n + 1)
            self.add(self.op("take", x, idx, axis=axis), self.mag(x))
        elif name == "pick":
            x = self.pick(lambda v: v.type.ndim >= 1 and not v.type.dtype.is_bool
                          and all(isinstance(d, int) for d in v.type.shape))
            if x is None:
                return
            n = x.type.shape[-1]
            idx = self.const(DTYPES[self.choice(["i32", "i64"])], x.type.shape[:-1], -1, n + 1)
            self.add(self.op("pick", x, idx), self.mag(x))
        elif name == "one_hot":
            idx = self.pick(lambda v: v.type.dtype.name in ("i32", "i64"))
            if idx is None or self.coin(0.3):
                idx = self.const(DTYPES["i32"], tuple(int(d) for d in self.rng.integers(1, 4, 1)), -1, 5)
            self.add(self.op("one_hot", idx, depth=int(self.rng.integers(1, 6)),
                             dtype=DTYPES[self.choice(FLOATS + ("i32",))]), 1)
        else:
            u = self.pick(lambda v: v.type.ndim >= 1 and not v.type.dtype.is_bool
                          and any(isinstance(d, int) for d in v.type.shape))
            if u is None:
                return
            axis = self.choice([i for i, d in enumerate(u.type.shape) if isinstance(d, int)])
            size = int(self.rng.integers(1, 5))
            idx = self.const(DTYPES["i64"], (u.type.shape[axis],), -size, size)
            bound = self.mag(u) * u.type.shape[axis]
            if self.ok(u.type.dtype, bound):
                self.add(self.op("scatter_add", idx, u, axis=axis, size=size), bound)

    def image(self) -> Value:
        x = self.pick(lambda v: v.type.ndim == 4 and v.type.dtype.is_float
                      and all(isinstance(d, int) and d >= 2 for d in v.type.shape[1:]))
        if x is None or self.coin(0.3):
            batch = B if B in self.base else int(self.rng.integers(1, 3))
            shape = (batch, int(self.rng.integers(1, 4)), int(self.rng.integers(3, 7)), int(self.rng.integers(3, 7)))
            x = self.new_param(TensorType(DTYPES[self.choice(FLOATS[:3])], shape), 2)
        return x

    def step_nn(self):
        x = self.image()
        layout = self.choice(["NCHW", "NHWC"])
        if layout == "NHWC":
            x = self.add(self.op("transpose", x, perm=(0, 2, 3, 1)), self.mag(x))
        c = x.type.shape[1] if layout == "NCHW" else x.type.shape[3]
        name = self.choice(["conv2d", "conv2d", "max_pool2d", "avg_pool2d", "local_response_norm"])
        pad = tuple((int(self.rng.integers(0, 2)), int(self.rng.integers(0, 2))) for _ in range(2))
        strides = (int(self.rng.integers(1, 3)), int(self.rng.integers(1, 3)))
        if name == "conv2d":
            groups = self.choice([g for g in (1, 1, 2, 3) if c % g == 0])
            o = groups * int(self.rng.integers(1, 3))
            kh, kw = int(self.rng.integers(1, 4)), int(self.rng.integers(1, 4))
            wshape = (o, c // groups, kh, kw) if layout == "NCHW" else (kh, kw, c // groups, o)
            w = self.const(x.type.dtype, wshape, -1, 1)
            dil = (int(self.rng.integers(1, 3)), int(self.rng.integers(1, 3)))
            bound = self.mag(x) * kh * kw * (c // groups)
            if self.ok(x.type.dtype, bound):
                self.add(self.op("conv2d", x, w, strides=strides, padding=pad, dilation=dil, groups=groups,
                                 layout=layout), bound)
        elif name == "local_response_norm":
            self.add(self.op(name, x, size=int(self.rng.integers(1, 6)), alpha=float(self.rng.uniform(1e-3, 0.1)),
                             beta=float(self.rng.uniform(0.5, 0.75)), k=float(self.rng.uniform(1, 2)),
                             layout=layout), self.mag(x))
        else:
            window = (int(self.rng.integers(1, 4)), int(self.rng.integers(1, 4)))
            pad = tuple((min(lo, k - 1), min(hi, k - 1)) for (lo, hi), k in zip(pad, window))
            attrs = dict(window=window, strides=strides, padding=pad, layout=layout)
            if name == "avg_pool2d":
                attrs["count_include_pad"] = self.coin()
            self.add(self.op(name, x, **attrs), self.mag(x))

    def step_random(self):
        key = self.pick(lambda v: v.type.dtype.name == "u32" and v.type.shape == (2,))
        if key is None:
            key = self.add(self.op("constant", value=self.rng.integers(0, 2**32, 2, dtype=np.uint32)), math.inf)
        shape = self.base_like() if self.coin() else tuple(int(d) for d in self.rng.integers(1, 4, int(self.rng.integers(0, 3))))
        name = self.choice(["random_uniform", "random_normal", "random_bernoulli", "random_bits", "random_split"])
        if name == "random_uniform":
            lo = float(self.rng.integers(-3, 2))
            self.add(self.op(name, key, shape=shape, dtype=DTYPES[self.choice(FLOATS)], minval=lo,
                             maxval=lo + float(self.rng.integers(1, 3))), 3)
        elif name == "random_normal":
            self.add(self.op(name, key, shape=shape, dtype=DTYPES[self.choice(FLOATS)]), 10)
        elif name == "random_bernoulli":
            p = self.add(self.op("constant", value=self.rng.uniform(0, 1, (shape[-1],) if shape and isinstance(
                shape[-1], int) else ()).astype(np.float32)), 1)
            self.add(self.op(name, key, p, shape=shape), 1)
        elif name == "random_bits":
            self.add(self.op(name, key, shape=shape), math.inf)
        else:
            self.add(self.op(name, key, n=int(self.rng.integers(1, 4))), math.inf)

    def step_fusion(self):
        k = int(self.rng.integers(1, min(3, len(self.pool)) + 1))
        operands = [self.pick() for _ in range(k)]
        params = [Value(v.type, None) for v in operands]
        inner = _Gen(self.rng, self.special, self.base, [])
        for p, v in zip(params, operands):
            inner.add(p, self.mag(v))
        n = len(inner.pool)
        for _ in range(int(self.rng.integers(1, 4))):
            _try(self.choice([inner.step_unary, inner.step_binary, inner.step_select]))
        made = inner.pool[n:] or inner.pool
        ys = [made[-1]] + ([self.choice(made)] if self.coin(0.3) else [])
        op = self.b.op("fusion", *operands, regions=[Region(params, inner.b.ops, ys)],
                       kind=self.choice(["loop", "input"]))
        for r, y in zip(op.results, ys):
            self.add(r, inner.mag(y))


STEPS = (("step_unary", 4), ("step_binary", 6), ("step_select", 1), ("step_cast", 2), ("step_constant", 1),
         ("step_iota", 1), ("step_reduce", 3), ("step_matmul", 2), ("step_shape", 4), ("step_gather", 2),
         ("step_nn", 1), ("step_random", 1), ("step_fusion", 1))


def _try(step) -> bool:
    try:
        step()
        return True
    except (TypeError_, ValueError, ZeroDivisionError, OverflowError):
        return False   # the random choice did not type-check: draw another step


def values(rng, dtype, shape, lo=-3.0, hi=3.0, special=False) -> np.ndarray:
    """Random contents of ``dtype``/``shape`` in [lo, hi] (bools fair); specials sprinkled in if asked."""
    n = math.prod(shape)
    if dtype.is_bool:
        a = rng.random(n) < 0.5
    elif dtype.is_float:
        a = np.round(rng.uniform(lo, hi, n), int(rng.integers(0, 4))).astype(dtype.np)
        if special and n:
            for i in rng.integers(0, n, int(rng.integers(1, 4))):
                a[i] = SPECIALS[int(rng.integers(len(SPECIALS)))]
    else:
        if dtype.np.kind == "u":
            lo, hi = 0, max(hi, 1)
        a = rng.integers(int(math.floor(lo)), int(math.ceil(hi)), n, endpoint=True).astype(dtype.np)
    return a.reshape(shape)


def generate(seed: int, max_ops: int = 12, special: bool | None = None, sizes: dict | None = None
             ) -> tuple[Function, list[np.ndarray]]:
    """A random verified function (at most ``max_ops`` generation steps) and inputs for it."""
    rng = np.random.default_rng(seed)
    special = bool(rng.random() < 0.125) if special is None else special
    rank = int(rng.integers(0, 5))
    base = tuple(B if i == 0 and rng.random() < 0.4 else int(rng.integers(1, 6)) for i in range(rank))
    params: list[Value] = []
    g = _Gen(rng, special, base, params)
    for i in range(int(rng.integers(1, 4))):
        dt = DTYPES[g.choice(FLOATS * 2 + INTS + ("bool",))]
        g.new_param(TensorType(dt, base if i == 0 else g.base_like()), 2 if dt.is_float else 5)
    if rng.random() < 0.15:
        g.new_param(TensorType(DTYPES["u32"], (2,)), math.inf)   # an RNG key as an input
    names = [n for n, w in STEPS for _ in range(w)]
    for _ in range(int(rng.integers(1, max_ops + 1))):
        _try(getattr(g, g.choice(names)))
    made = [v for v in g.pool if v.producer is not None] or g.pool
    used = {id(x) for op in g.b.ops for x in op.operands}
    leaves = [v for v in made[:-1] if id(v) not in used]   # return most of what was computed: no dead ops
    results = [made[-1]] + [leaves[int(k)] for k in rng.permutation(len(leaves))[:3]]
    f = Function(f"fuzz{seed}", params, g.b.ops, results).verify()
    size_b = int(rng.integers(1, MAX_SYM + 1))
    sizes = {"B": size_b, **(sizes or {})}
    inputs = []
    for p in params:
        shape = tuple(sizes[d.name] if isinstance(d, Sym) else d for d in p.type.shape)
        lo, hi = (-2, 2) if p.type.dtype.is_float else (-5, 5)
        if p.type.shape == (2,) and p.type.dtype.name == "u32":
            lo, hi = 0, 2**31
        inputs.append(values(rng, p.type.dtype, shape, lo, hi, special))
    return f, inputs


__all__ = ["generate", "values", "compatible", "STEPS"]
