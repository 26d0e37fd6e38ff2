"""`oneshot_supernet`: one-shot NAS on the digits images over an architecture space: an edge-op cell space
(NAS-Bench-201's by default), or a chain, multi-branch or cell space.

Three modes: the trial's `oneshot_mode` parameter (set by the controller's `oneshot` algorithm, which runs all
three in one study), else `trainable_config.mode`:

- `train` (the default): trains the weight-sharing supernet (nestor_executor.nas.supernet for edge-op cells,
  nestor_executor.nas.sliced for the other kinds) up to the budget's epoch (else the `until_epoch` parameter,
  else `supernet_epochs` in the config, else `epochs`), one path per batch drawn uniformly, or from the `paths`
  parameter (a JSON list of paths, each the values of the space's `arch.` decisions in the space's order, null
  for one a path leaves inactive) when given, seeded by the trial's seed; checkpoints every epoch (with its
  space) and resumes, from its own checkpoint or, in a later round, the previous round's. Each epoch reports
  `train_loss` and `val_accuracy`, the mean validation accuracy of `eval_paths` (4) fixed random paths, each
  scored with its batch-norm statistics recalibrated.
- `evaluate`: scores the trial's architecture (its `arch.` parameters, one of the supernet's space) with the
  shared weights of a trained supernet: the checkpoint folder `supernet` in the config (a training trial's, read
  only), else the trial's own checkpoint (which the controller seeds from the supernet's), after recalibrating
  batch norm along its path over `calibration_batches` (8) training batches. Reports `val_accuracy`, `val_loss`
  (the cross-entropy over the validation images: finer-grained than the accuracy, and often the better score)
  and `n_params` (of the network built on its own), at step 1, in a fraction of a second: any architecture
  sampler can rank thousands this way.
- `standalone`: trains the trial's architecture from scratch, as `digits_nas` does (`epochs` in the config).

The space is the `arch_space` parameter (the study's ArchitectureSpace as JSON, what the `oneshot` algorithm
sends for chain, multi-branch and cell spaces) or the `edge_cell` parameter (a JSON object of an edge-op cell
space), else the same keys in the config (`arch_space`: e.g. {"chain": {"max_layers": 4, ...}} as in a study
spec; `edge_cell`: {num_nodes, operations, num_cells, init_channels}, the same defaults as space.proto's
EdgeCellSpace); training hyperparameters as digits_nas's (lr, weight_decay, batch_size, optimizer, momentum
from the parameters or the config; `supernet_lr` in the config sets the supernet's alone), gradients clipped
to norm `grad_clip` (5). `lr_schedule` (`constant` or `cosine`, as digits_nas) anneals the supernet's learning
rate over the `supernet_epochs` parameter (every round's epochs, which the `oneshot` algorithm sends), else
the config's `supernet_epochs`, else the epochs this trial trains to.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from google.protobuf import json_format
from nestor import architecture as arch
from nestor.checkpoints import CheckpointDir
from nestor.v1 import space_pb2
from torch import nn

from nestor_executor.nas.sliced import SlicedSupernet
from nestor_executor.nas.supernet import EdgeSupernet
from nestor_executor.trainables import digits_nas
from nestor_executor.trainables.digits_mlp import build_optimizer, epochs_of
from nestor_executor.trainables.digits_nas import CLASSES, images, settings
from nestor_executor.trainables.epochs import lr_schedule

MODES = ("train", "evaluate", "standalone")
EDGE_CELL_KEYS = frozenset({"num_nodes", "operations", "num_cells", "init_channels"})
CALIBRATION_BATCH = 64
Supernet = EdgeSupernet | SlicedSupernet


def space_of(params: Mapping[str, Any], config: Mapping[str, Any]) -> space_pb2.ArchitectureSpace:
    """The supernet's space: the trial's `arch_space` or `edge_cell` parameter (JSON), else the config's; else
    NAS-Bench-201's edge-op cell."""
    for source in (params, config):
        given = source.get("arch_space")
        if given:
            try:
                return json_format.ParseDict(json.loads(given) if isinstance(given, str) else given,
                                             space_pb2.ArchitectureSpace())
            except (json_format.ParseError, ValueError, TypeError) as e:
                raise ValueError(f"oneshot_supernet: arch_space is not an architecture space: {e}"[:400]) from None
        given = source.get("edge_cell")
        if given:
            cell = json.loads(given) if isinstance(given, str) else given
            if not isinstance(cell, dict):
                raise ValueError("oneshot_supernet: edge_cell must be an object of num_nodes, operations, "
                                 "num_cells and init_channels")
            unknown = sorted(set(cell) - EDGE_CELL_KEYS)
            if unknown:
                raise ValueError(f"oneshot_supernet: edge_cell has no setting {unknown[0]!r}")
            return json_format.ParseDict({"edge_cell": cell}, space_pb2.ArchitectureSpace())
    return space_pb2.ArchitectureSpace(edge_cell=space_pb2.EdgeCellSpace())


def space_json(space: space_pb2.ArchitectureSpace) -> str:
    return json.dumps(json_format.MessageToDict(space), sort_keys=True)


def supernet_for(space: space_pb2.ArchitectureSpace) -> Supernet:
    if space.HasField("edge_cell"):
        e = space.edge_cell
        return EdgeSupernet(int(e.num_nodes or arch.DEFAULT_NUM_NODES), tuple(e.operations or arch.DEFAULT_EDGE_OPS),
                            int(e.num_cells or arch.DEFAULT_NUM_CELLS),
                            int(e.init_channels or arch.DEFAULT_INIT_CHANNELS), 1, CLASSES)
    return SlicedSupernet(space, 1, CLASSES)


@torch.no_grad()
def score(net: Supernet, cell: Any, x_cal: torch.Tensor, x_va: torch.Tensor,
          y_va: torch.Tensor) -> tuple[float, float]:
    """(validation accuracy, validation cross-entropy) of architecture `cell` with the shared weights, batch norm
    recalibrated along its path first."""
    net.recalibrate(cell, x_cal.split(CALIBRATION_BATCH))
    net.eval()
    logits = net(x_va, cell)
    return float((logits.argmax(dim=1) == y_va).float().mean()), float(F.cross_entropy(logits, y_va))


def train(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    mode = str(params.get("oneshot_mode") or ctx.config.get("mode", "train"))
    if mode not in MODES:
        raise ValueError(f"oneshot_supernet: mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "standalone":
        return digits_nas.train(params, ctx)
    x_tr, y_tr, x_va, y_va = images(int(ctx.config.get("data_seed", 0)), ctx.device)
    x_cal = x_tr[:CALIBRATION_BATCH * int(ctx.config.get("calibration_batches", 8))]
    torch.manual_seed(ctx.seed)
    if mode == "evaluate":
        return evaluate(params, ctx, x_cal, x_va, y_va)
    space = space_of(params, ctx.config)
    net = supernet_for(space).to(ctx.device)
    s = settings(params, ctx.config)
    # The supernet may want another learning rate than the networks trained alone (in one study, one config).
    s["lr"] = float(ctx.config.get("supernet_lr", s["lr"]))
    opt = build_optimizer(s, net)
    until = params.get("until_epoch") or ctx.config.get("supernet_epochs", ctx.config.get("epochs", 10))
    epochs = epochs_of({"epochs": until}, ctx)
    paths = paths_of(params, net)
    done = 0
    saved = ctx.load_checkpoint()
    if saved is not None:
        state = torch.load(io.BytesIO(saved), map_location=ctx.device, weights_only=True)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        done = int(state["epoch"])
    # A schedule (lr_schedule in the config) runs over every round's epochs, not this trial's alone.
    schedule = lr_schedule(str(ctx.config.get("lr_schedule", "constant")), s["lr"],
                           int(params.get("supernet_epochs") or ctx.config.get("supernet_epochs") or epochs))
    clip = float(ctx.config.get("grad_clip", 5.0))
    probes = [net.sample(np.random.default_rng([ctx.seed, 1, k]))
              for k in range(int(ctx.config.get("eval_paths", 4)))]
    metrics: dict[str, float] = {}
    n, batch = len(x_tr), s["batch_size"]
    for epoch in range(done + 1, epochs + 1):
        if ctx.should_stop:
            break
        if schedule is not None:
            for group in opt.param_groups:
                group["lr"] = schedule(epoch)
        net.train()
        rng = np.random.default_rng([ctx.seed, 0, epoch])  # a resumed run draws the same paths
        order = torch.randperm(n, generator=torch.Generator().manual_seed(ctx.seed * 7919 + epoch)).to(x_tr.device)
        total = 0.0
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            path = paths[int(rng.integers(len(paths)))] if paths else net.sample(rng)
            loss = F.cross_entropy(net(x_tr[idx], path), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            # A path of many summed branches can take a step that explodes; one-shot methods clip (DARTS: 5).
            nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
            total += loss.detach().item() * len(idx)
        accuracy = float(np.mean([score(net, p, x_cal, x_va, y_va)[0] for p in probes]))
        metrics = {"train_loss": total / n, "val_accuracy": accuracy}
        buffer = io.BytesIO()
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
                    "arch_space": space_json(space)}, buffer)
        if not ctx.save_checkpoint(buffer.getvalue(), epoch) or ctx.report(epoch, metrics):
            break
    return metrics


def paths_of(params: Mapping[str, Any], net: Supernet) -> list[Any]:
    """The paths to train on (the `paths` parameter: a JSON list of paths, each the values of the space's
    decisions in order, from the controller's sampler); empty: draw them uniformly."""
    given = params.get("paths")
    if not given:
        return []
    names = [d.name for d in net.decisions]
    out = []
    for row in json.loads(str(given)):
        if isinstance(net, EdgeSupernet) and isinstance(row, list) and len(row) == len(net.edge_names):
            row = [net.num_cells, net.init_channels, *row]  # a path as studies before arch_space sent it
        try:
            if not isinstance(row, list) or len(row) != len(names):
                raise ValueError(f"{len(names)} decisions")
            out.append(net.arch_of({n: v for n, v in zip(names, row, strict=True) if v is not None}))
        except ValueError as e:
            raise ValueError(f"oneshot_supernet: path {row!r:.200} is not a path of the supernet ({e})") from None
    return out


#: The supernets this worker has loaded, by the digest of their checkpoint: evaluations of one study score
#: hundreds of architectures with the same weights, and unpickling them is most of the cost of one.
_LOADED: dict[tuple[str, str], tuple[Supernet, dict[str, torch.Tensor]]] = {}
MAX_LOADED = 2


def loaded_supernet(saved: bytes, ctx: Any) -> Supernet:
    """The supernet of a checkpoint, with its weights and batch-norm statistics exactly as saved (a cached one is
    reset to them: recalibration changed its statistics)."""
    key = (hashlib.sha256(saved).hexdigest(), str(ctx.device))
    found = _LOADED.get(key)
    if found is None:
        state = torch.load(io.BytesIO(saved), map_location=ctx.device, weights_only=True)
        # The space the supernet was trained on travels with its weights (older checkpoints: the config's).
        recorded = {k: state[k] for k in ("arch_space", "edge_cell") if isinstance(state.get(k), str)}
        net = supernet_for(space_of(recorded, {}) if recorded else space_of({}, ctx.config))
        net = net.to(ctx.device)
        if len(_LOADED) >= MAX_LOADED:
            _LOADED.pop(next(iter(_LOADED)))
        found = _LOADED[key] = (net, state["model"])
    net, weights = found
    net.load_state_dict(weights)
    return net


def evaluate(params: Mapping[str, Any], ctx: Any, x_cal: torch.Tensor, x_va: torch.Tensor,
             y_va: torch.Tensor) -> dict[str, float]:
    folder = ctx.config.get("supernet")
    if folder:
        found = CheckpointDir(str(folder), attempt=0).load()  # read only: no claim on another trial's folder
        saved = found.state if found is not None else None
    else:
        saved = ctx.load_checkpoint()
    if saved is None:
        raise ValueError(f"oneshot_supernet: no supernet checkpoint in {folder}" if folder else
                         "oneshot_supernet: mode evaluate needs a supernet: config.supernet (the checkpoint folder "
                         "of a trial that trained one), or a checkpoint of its own seeded from one (what the "
                         "oneshot algorithm gives each evaluation)")
    net = loaded_supernet(saved, ctx)
    try:
        cell = net.arch_of(params)
    except ValueError as e:
        raise ValueError(f"oneshot_supernet: the trial's architecture is not one of the supernet's space: {e}") \
            from None
    accuracy, loss = score(net, cell, x_cal, x_va, y_va)
    metrics = {"val_accuracy": accuracy, "val_loss": loss, "n_params": float(net.path_parameters(cell))}
    ctx.report(1, metrics)
    return metrics
