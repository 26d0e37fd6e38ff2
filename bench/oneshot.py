"""One-shot NAS on the digits images: how well a weight-sharing supernet ranks edge-op cells, and what it costs.

The supernet of an edge-op cell space (NAS-Bench-201's operations; `--channels` channels, 3 cells) is trained
for `--supernet-epochs` epochs by the `oneshot_supernet` trainable (one uniformly drawn path per batch). Then
`--archs` architectures drawn uniformly from the space are each scored two ways: with the supernet's shared
weights after batch-norm recalibration (the trainable's evaluate mode), and trained on their own for
`--epochs` epochs by `digits_nas` (the ground truth). Printed: the Kendall tau and Spearman rho between the
two rankings, the accuracy of the architecture the supernet ranks first against the best and the median of the
standalone ones, and the seconds each way (training the supernet once; scoring one architecture; training
one architecture alone). Trainables run in this process through nestor.trainable.LocalContext, one thread.

    .venv/bin/python bench/oneshot.py [--archs 30] [--supernet-epochs 20] [--epochs 10] [--channels 8]
                                      [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchlib"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from nestor import architecture as arch  # noqa: E402
from nestor.trainable import LocalContext  # noqa: E402
from nestor_executor.trainables import digits_nas, oneshot  # noqa: E402
from saved import json_line  # noqa: E402
from scipy.stats import kendalltau, spearmanr  # noqa: E402


def params_of(cell: arch.EdgeCells) -> dict[str, object]:
    out: dict[str, object] = {"arch.num_cells": cell.num_cells, "arch.init_channels": cell.init_channels}
    for j, ops in enumerate(cell.edges, start=1):
        out.update({f"arch.node{j}.edge{i}": op for i, op in enumerate(ops)})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", type=int, default=30)
    p.add_argument("--supernet-epochs", type=int, default=20)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    space = {"edge_cell": {"init_channels": a.channels}}
    train_config = {**space, "epochs": a.supernet_epochs, "lr": 0.05, "optimizer": "sgd", "momentum": 0.9}
    with tempfile.TemporaryDirectory() as work:
        folder = str(Path(work) / "supernet")
        t0 = time.perf_counter()
        trained = oneshot.train({}, LocalContext(config=train_config, checkpoint_dir=folder, seed=a.seed + 1))
        supernet_s = time.perf_counter() - t0
        net = oneshot.supernet_for(space["edge_cell"])
        rng = np.random.default_rng(a.seed)
        cells = []
        while len(cells) < a.archs:  # distinct architectures
            cell = net.sample(rng)
            if cell not in cells:
                cells.append(cell)
        shared, alone, score_s, train_s = [], [], [], []
        for k, cell in enumerate(cells):
            params = params_of(cell)
            t0 = time.perf_counter()
            shared.append(oneshot.train(params, LocalContext(config={**space, "mode": "evaluate",
                                                                     "supernet": folder}))["val_accuracy"])
            score_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ctx = LocalContext(config={"epochs": a.epochs, "lr": 0.05, "optimizer": "sgd"},
                               checkpoint_dir=str(Path(work) / f"alone-{k}"), seed=a.seed + 2)
            alone.append(digits_nas.train(params, ctx)["val_accuracy"])
            train_s.append(time.perf_counter() - t0)
            print(f"  {k + 1:>3}/{len(cells)} supernet {shared[-1]:.4f}  alone {alone[-1]:.4f}  "
                  f"{arch.describe(cell).split(': ', 1)[1]}", file=sys.stderr, flush=True)
    tau = float(kendalltau(shared, alone).statistic)
    rho = float(spearmanr(shared, alone).statistic)
    first = alone[int(np.argmax(shared))]
    figures = {
        "archs": len(cells), "supernet_epochs": a.supernet_epochs, "standalone_epochs": a.epochs,
        "channels": a.channels, "seed": a.seed, "kendall_tau": round(tau, 4), "spearman_rho": round(rho, 4),
        "supernet_val_accuracy": round(trained["val_accuracy"], 4),
        "standalone_of_supernet_first": round(first, 4), "standalone_best": round(max(alone), 4),
        "standalone_median": round(statistics.median(alone), 4),
        "supernet_training_s": round(supernet_s, 2), "score_one_arch_s": round(statistics.median(score_s), 3),
        "train_one_arch_s": round(statistics.median(train_s), 2),
    }
    print(f"one-shot NAS, edge-op cells ({len(cells)} architectures drawn uniformly), digits images")
    print(f"ranking agreement, supernet score vs trained alone: Kendall tau {tau:.3f}, Spearman rho {rho:.3f}")
    print(f"supernet's first choice trained alone: {first:.4f} (best {max(alone):.4f}, median "
          f"{statistics.median(alone):.4f} of the {len(cells)})")
    print(f"seconds: supernet training {supernet_s:.1f} once; scoring one architecture "
          f"{figures['score_one_arch_s']:.3f}; training one alone ({a.epochs} epochs) "
          f"{figures['train_one_arch_s']:.2f}")
    print(f"  {'target':<48} {'met' if tau >= 0.5 else 'UNMET'}: Kendall tau >= 0.5")
    if a.json:
        print(json_line(figures))


if __name__ == "__main__":
    main()
