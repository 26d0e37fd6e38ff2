"""The alpha gradients of darts_search match finite differences on a tiny network (float64)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
# One thread: OpenMP threads spinning on a busy 2-core machine slow these small products down many times.
torch.set_num_threads(1)

import torch.nn.functional as F  # noqa: E402
from nestor_executor.darts import architect  # noqa: E402
from nestor_executor.darts.search import SearchNetwork  # noqa: E402

#: Entries of each alpha checked numerically (all 224 would take long for no more confidence).
PROBES = 5


def tiny() -> tuple[SearchNetwork, list[torch.Tensor], tuple, tuple]:
    torch.manual_seed(0)
    model = SearchNetwork(channels=2, layers=2, steps=4).double()  # a normal and a reduction cell
    alphas = [(0.5 * torch.randn(14, 8, dtype=torch.float64)).requires_grad_(True) for _ in range(2)]
    x = torch.rand(12, 1, 8, 8, dtype=torch.float64)
    y = torch.arange(12) % 10
    return model, alphas, (x[:6], y[:6]), (x[6:], y[6:])


def numeric(f, alphas: list[torch.Tensor], h: float = 1e-6) -> list[tuple[int, tuple[int, int], float]]:
    """Central differences of f at PROBES entries of each alpha: (which alpha, entry, derivative)."""
    gen = torch.Generator().manual_seed(1)
    out = []
    for k, a in enumerate(alphas):
        for flat in torch.randperm(a.numel(), generator=gen)[:PROBES].tolist():
            i, j = divmod(flat, a.shape[1])
            with torch.no_grad():
                a[i, j] += h
                up = float(f())
                a[i, j] -= 2 * h
                down = float(f())
                a[i, j] += h
            out.append((k, (i, j), (up - down) / (2 * h)))
    return out


def test_first_order_gradient_matches_finite_differences() -> None:
    model, alphas, _, val = tiny()
    grads, loss = architect.first_order(model, alphas, val)
    assert loss == pytest.approx(float(F.cross_entropy(model(val[0], *alphas), val[1]).detach()))

    def f() -> torch.Tensor:
        return F.cross_entropy(model(val[0], *alphas), val[1])

    for k, (i, j), expected in numeric(f, alphas):
        assert float(grads[k][i, j]) == pytest.approx(expected, rel=1e-4, abs=1e-8)


def test_second_order_gradient_matches_finite_differences_of_the_unrolled_loss() -> None:
    model, alphas, train, val = tiny()
    step = architect.VirtualStep(lr=0.5, momentum=0.9, weight_decay=3e-4)
    params = list(model.parameters())
    momentum = [0.1 * torch.randn_like(p) for p in params]
    # DARTS takes the mixed second derivative by finite differences 0.01 / |v| wide; across a ReLU kink
    # that is an approximation, so the check narrows it to test the algebra, not the approximation.
    grads, _ = architect.second_order(model, alphas, train, val, step, momentum, r=1e-6)
    first, _ = architect.first_order(model, alphas, val)
    assert not torch.allclose(grads[0], first[0], rtol=1e-2), "the second-order term should matter here"
    w = [p.detach().clone() for p in params]

    def unrolled() -> torch.Tensor:
        """L_val(w - xi * (mu m + dL_train/dw + lambda w), alpha), the weights restored after."""
        with torch.enable_grad():
            g = torch.autograd.grad(F.cross_entropy(model(train[0], *alphas), train[1]), params)
        with torch.no_grad():
            for p, w0, gi, m in zip(params, w, g, momentum, strict=True):
                p.copy_(w0 - step.lr * (step.momentum * m + gi + step.weight_decay * w0))
            loss = F.cross_entropy(model(val[0], *alphas), val[1])
            for p, w0 in zip(params, w, strict=True):
                p.copy_(w0)
        return loss

    scale = max(float(g.abs().max()) for g in grads)
    for k, (i, j), expected in numeric(unrolled, alphas):
        assert float(grads[k][i, j]) == pytest.approx(expected, rel=1e-3, abs=1e-4 * scale)
    for p, w0 in zip(params, w, strict=True):
        assert torch.equal(p.detach(), w0), "second_order must leave the weights as they were"


def test_perturbation_scores_measure_what_removing_an_operation_or_an_edge_does_to_the_loss() -> None:
    from nestor_executor.darts import perturbation

    model, alphas, _, (x, y) = tiny()
    with torch.no_grad():
        alphas[0][0] = -30.0  # edge 0 of the normal cell: every operation switched off but sep_conv_3x3
        alphas[0][0, 4] = 30.0
    model.eval()
    scores = perturbation.scores(model, {"normal": alphas[0], "reduce": alphas[1]}, x, y)
    assert sorted(scores) == ["perturbation.edge_normal", "perturbation.edge_reduce", "perturbation.op_normal",
                              "perturbation.op_reduce"]
    ops, edge = scores["perturbation.op_normal"], scores["perturbation.edge_normal"]
    assert ops.shape == (14, 8) and edge.shape == (14,)
    assert (ops[:, 0] == 0).all(), "none is never scored"
    # An operation alpha gives no weight changes nothing when removed; removing the edge's only live one
    # is removing the edge.
    assert abs(ops[0, 1:4]).max() < 1e-9 and abs(ops[0, 5:]).max() < 1e-9
    assert ops[0, 4] == pytest.approx(edge[0], rel=1e-9) and abs(edge[0]) > 1e-9
    with torch.no_grad():
        base = float(F.cross_entropy(model(x, *alphas), y))
    w = {"normal": F.softmax(alphas[0], -1).detach().clone(), "reduce": F.softmax(alphas[1], -1).detach()}
    w["normal"][5, 2] = 0.0
    assert ops[5, 2] == pytest.approx(perturbation.loss_with(model, x, y, w) - base)
    assert not model.training, "the model is left in the mode it came in"
