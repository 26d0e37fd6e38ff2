"""digits_nas reports what a network costs, so accuracy-versus-size searches work out of the box."""

from __future__ import annotations

from pathlib import Path

import nestor
import torch
from nestor.spec import load_spec
from nestor_controller.validate import parse_spec
from nestor_executor.nas import network_for
from nestor_executor.nas.cost import parameter_count
from nestor_executor.trainables import digits_nas

REPO = Path(__file__).resolve().parents[1]


def test_digits_nas_reports_its_parameter_count_and_latency_with_every_epoch() -> None:
    torch.set_num_threads(1)
    params = {"arch.num_layers": 1, "arch.layer0.op": "conv_3x3", "arch.layer0.filters": 8,
              "arch.layer0.stride": 1, "lr": 0.02}
    result, ctx = nestor.run_local(digits_nas.train, params, budget=2, seed=1)
    size = parameter_count(network_for(params, 1, digits_nas.CLASSES))
    assert result["n_params"] == size and result["latency_ms"] > 0
    assert all(m["n_params"] == size and m["latency_ms"] > 0 for _, m in ctx.reports)
    bigger = {**params, "arch.layer0.filters": 32}
    assert parameter_count(network_for(bigger, 1, digits_nas.CLASSES)) > size


def test_the_accuracy_versus_size_example_is_a_valid_study() -> None:
    spec = load_spec(REPO / "examples" / "digits_nas_size.yaml")
    parsed = parse_spec(spec)
    assert [o.metric for o in parsed.objectives] == ["val_accuracy", "n_params"]
    assert parsed.constraints[0].metric == "n_params" and parsed.algorithm == "nsga2"
