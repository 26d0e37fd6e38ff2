"""How long a sliced supernet must train before it ranks chains as training them alone does.

In one process, with the executor's own trainable (`oneshot_supernet`, modes train and evaluate): a fixed set
of `--archs` chains of bench/oneshot.py's chain space, half drawn uniformly and half near a good chain (one to
three changes to 3 layers of 16-filter 3x3 convolutions, like the pool regularized evolution fills), each
trained alone `--alone-seeds` times (`digits_nas`, 10 epochs, SGD on a cosine schedule) as the ground truth.
Then, for each of `--epochs` (a list), one supernet trained that long at `--lr` on the cosine schedule scores
every chain by its validation loss and accuracy (batch norm recalibrated along each path). Printed: the Kendall
tau of each score against the ground truth, over all the chains, the uniform half and the near-good half,
beside the ground truth against itself (two trainings of each chain), the ceiling any score can reach.

    .venv/bin/python bench/oneshot_epochs.py [--epochs 20,60,200] [--lr 0.05] [--archs 40] [--alone-seeds 2]
        [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchlib"))

import numpy as np  # noqa: E402
from digits_chains import TRAINING, chain_space  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from nestor.trainable import LocalContext  # noqa: E402
from nestor.v1 import space_pb2  # noqa: E402
from nestor_executor.nas.sliced import SlicedSupernet  # noqa: E402
from nestor_executor.trainables import digits_nas, oneshot  # noqa: E402
from saved import json_line  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

SPACE = chain_space(4)
GOOD = {"arch.num_layers": 3, **{f"arch.layer{i}.{k}": v for i in range(3)
                                 for k, v in (("op", "conv_3x3"), ("filters", 16), ("stride", 1))}}


def chains(n: int, seed: int) -> list[dict[str, Any]]:
    """n // 2 uniformly drawn chains, then distinct chains one to three changes away from GOOD."""
    net = SlicedSupernet(json_format.ParseDict(SPACE, space_pb2.ArchitectureSpace()), 1, oneshot.CLASSES)
    out = [net.draw(np.random.default_rng([seed, 0, k])) for k in range(n // 2)]
    seen = {json.dumps(p, sort_keys=True) for p in out}
    rng = np.random.default_rng([seed, 1])
    while len(out) < n:
        p = dict(GOOD)
        for _ in range(int(rng.integers(1, 4))):
            other = net.draw(rng)
            name = sorted(p)[int(rng.integers(len(p)))]
            if name != "arch.num_layers":
                p[name] = other.get(name, p[name])
        key = json.dumps(p, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def tau(a: list[float], b: list[float]) -> float:
    return float(kendalltau(a, b).statistic)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", default="20,60,200", help="supernet epochs to compare, comma-separated")
    p.add_argument("--lr", type=float, default=0.05, help="the supernet's learning rate (cosine schedule)")
    p.add_argument("--archs", type=int, default=40)
    p.add_argument("--alone-seeds", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    a = p.parse_args()
    archs = chains(a.archs, a.seed)
    t0 = time.perf_counter()
    alone = [[digits_nas.train(arch, LocalContext(config={**TRAINING, "epochs": 10}, seed=100 * a.seed + s))
              ["val_accuracy"] for s in range(a.alone_seeds)] for arch in archs]
    alone_s = time.perf_counter() - t0
    truth = [float(np.mean(r)) for r in alone]
    halves = {"all": range(len(archs)), "uniform": range(len(archs) // 2),
              "near-good": range(len(archs) // 2, len(archs))}
    self_tau = ({h: tau([alone[i][0] for i in ix], [alone[i][1] for i in ix]) for h, ix in halves.items()}
                if a.alone_seeds > 1 else {})
    print(f"supernet training against its ranking, {len(archs)} chains of 1 to 4 layers (6 operations, 4 to 16 "
          f"filters, stride 1 or 2), digits images; seed {a.seed}")
    print(f"ground truth: each chain trained alone {a.alone_seeds} times, 10 epochs ({alone_s:.0f} s); two "
          "trainings agree at Kendall tau " + ", ".join(f"{h} {v:.3f}" for h, v in self_tau.items()))
    print(f"{'supernet':<18}{'train s':>8}  " + "".join(f"{'tau ' + s + ' ' + h:>20}" for s in ("loss", "acc")
                                                      for h in halves))
    rows = []
    for epochs in (int(e) for e in a.epochs.split(",")):
        config = {**TRAINING, "arch_space": SPACE, "supernet_epochs": epochs, "supernet_lr": a.lr}
        with tempfile.TemporaryDirectory(prefix="nestor-bench-oneshot-epochs-") as work:
            t0 = time.perf_counter()
            oneshot.train({}, LocalContext(config=config, checkpoint_dir=f"{work}/supernet", seed=a.seed))
            train_s = time.perf_counter() - t0
            scores = [oneshot.train(arch, LocalContext(config={**config, "mode": "evaluate",
                                                               "supernet": f"{work}/supernet"}))
                      for arch in archs]
        row: dict[str, Any] = {"epochs": epochs, "train_s": round(train_s, 1)}
        for name, key, sign in (("loss", "val_loss", -1.0), ("acc", "val_accuracy", 1.0)):
            for h, ix in halves.items():
                row[f"tau_{name}_{h}"] = tau([sign * scores[i][key] for i in ix], [truth[i] for i in ix])
        rows.append(row)
        print(f"{f'{epochs} epochs at {a.lr}':<18}{train_s:>8.0f}  "
              + "".join(f"{row[f'tau_{s}_{h}']:>20.3f}" for s in ("loss", "acc") for h in halves), flush=True)
    if a.json:
        print(json_line({"seed": a.seed, "archs": len(archs), "lr": a.lr, "alone_seeds": a.alone_seeds,
                         "ground_truth_self_tau": {h: round(v, 4) for h, v in self_tau.items()},
                         "runs": [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                                  for r in rows]}))


if __name__ == "__main__":
    main()
