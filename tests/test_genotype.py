"""Genotypes: derivation from a hand-made alpha or perturbation scores, the skip cap, JSON checks, random
genotypes."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from nestor import genotype as gt
from nestor.v1 import space_pb2 as sp
from nestor_controller.bilevel.darts import DartsStrategy
from nestor_controller.bilevel.derive import derive, derive_cell, derive_scored
from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Observation
from nestor_controller.space import Space, parse_space

OPS = {name: k for k, name in enumerate(gt.PRIMITIVES)}
ACCURACY = [ObjectiveDef("val_accuracy", True)]


def darts_cell_space() -> Space:
    return parse_space(sp.SearchSpace(architecture=sp.ArchitectureSpace(
        cell=sp.CellSpace(num_nodes=4, operations=gt.PRIMITIVES[1:]))))


def alpha_with(strong: dict[tuple[int, int], tuple[str, float]]) -> np.ndarray:
    """alpha of zeros but for the given (node, input) edges, where one operation gets the given weight."""
    a = np.zeros((14, 8))
    rows = {e: r for r, e in enumerate(gt.edges())}
    for edge, (op, value) in strong.items():
        a[rows[edge], OPS[op]] = value
    return a


def test_each_node_keeps_its_two_strongest_edges_with_their_strongest_operation_but_none() -> None:
    a = alpha_with({
        (2, 0): ("sep_conv_3x3", 3.0), (2, 1): ("skip_connect", 2.0),
        # Node 3: input 2 is strongest, then input 0; input 1 has a huge `none`, which must not count.
        (3, 0): ("dil_conv_5x5", 1.0), (3, 1): ("none", 9.0), (3, 2): ("max_pool_3x3", 2.0),
        (4, 3): ("sep_conv_5x5", 2.0), (4, 1): ("avg_pool_3x3", 1.5),
        (5, 4): ("dil_conv_3x3", 2.5), (5, 0): ("sep_conv_3x3", 2.0), (5, 2): ("skip_connect", 0.5),
    })
    assert derive_cell(a, 4) == [
        ["sep_conv_3x3", 0], ["skip_connect", 1],
        ["dil_conv_5x5", 0], ["max_pool_3x3", 2],
        ["avg_pool_3x3", 1], ["sep_conv_5x5", 3],
        ["sep_conv_3x3", 0], ["dil_conv_3x3", 4],
    ]


def test_the_skip_cap_keeps_the_strongest_skips_and_replaces_the_others() -> None:
    a = alpha_with({(2, 0): ("skip_connect", 4.0), (2, 1): ("skip_connect", 3.0),
                    (3, 0): ("skip_connect", 2.0), (3, 1): ("skip_connect", 1.0)})
    a[2, OPS["dil_conv_3x3"]] = 0.5  # second choices of node 3's edges: the capped skips fall back to them
    a[3, OPS["sep_conv_5x5"]] = 0.5
    uncapped = derive_cell(a, 4)
    assert sum(op == "skip_connect" for op, _ in uncapped) == 4
    capped = derive_cell(a, 4, max_skips=2)
    assert capped[:4] == [["skip_connect", 0], ["skip_connect", 1], ["dil_conv_3x3", 0], ["sep_conv_5x5", 1]]
    assert capped[4:] == uncapped[4:]


def test_the_parameter_free_cap_keeps_the_strongest_pools_and_skips_and_gives_the_others_convolutions() -> None:
    a = alpha_with({(2, 0): ("max_pool_3x3", 4.0), (2, 1): ("skip_connect", 3.0),
                    (3, 0): ("avg_pool_3x3", 2.0), (3, 1): ("max_pool_3x3", 1.0)})
    a[2, OPS["max_pool_3x3"]] = 1.5  # the runner-up of a capped edge is a pool: it is passed over too
    a[2, OPS["dil_conv_3x3"]] = 0.5
    a[3, OPS["sep_conv_5x5"]] = 0.5
    a[4:, OPS["sep_conv_3x3"]] = 0.1  # nodes 4 and 5 take convolutions (zeros would tie on max_pool_3x3)
    uncapped = derive_cell(a, 4)
    capped = derive_cell(a, 4, max_parameter_free=2)
    assert capped[:4] == [["max_pool_3x3", 0], ["skip_connect", 1], ["dil_conv_3x3", 0], ["sep_conv_5x5", 1]]
    assert capped[4:] == uncapped[4:]
    assert [j for _, j in capped] == [j for _, j in uncapped], "the cap changes operations, never edges"
    both = derive_cell(a, 4, max_skips=1, max_parameter_free=1)
    assert [op for op, _ in both[:4]] == ["max_pool_3x3", "sep_conv_3x3", "dil_conv_3x3", "sep_conv_5x5"]


def test_derived_genotypes_are_valid_and_the_cap_applies_to_the_normal_cell_only() -> None:
    rng = np.random.default_rng(0)
    skips = np.zeros((14, 8))
    skips[:, OPS["skip_connect"]] = 5.0
    g = derive({"alpha_normal": skips, "alpha_reduce": skips}, 4, max_skips=2)
    assert gt.check(g, steps=4) == g
    assert gt.count_op(g, "skip_connect") == 2
    assert gt.count_op(g, "skip_connect", "reduce") == 8
    for _ in range(20):
        a = {"alpha_normal": rng.standard_normal((14, 8)), "alpha_reduce": rng.standard_normal((14, 8))}
        assert gt.from_json(gt.to_json(derive(a, 4))) == derive(a, 4)


def test_genotype_checks_name_what_is_wrong() -> None:
    good = gt.random_genotype(random.Random(3))
    assert gt.from_json(json.dumps(good)) == good
    bad = json.loads(json.dumps(good))
    bad["normal"][3] = ["conv_7x7", 1]
    with pytest.raises(ValueError, match=r"genotype.normal\[3\]: unknown operation 'conv_7x7'"):
        gt.check(bad)
    bad = json.loads(json.dumps(good))
    bad["reduce"][0] = ["sep_conv_3x3", 2]
    with pytest.raises(ValueError, match=r"node 2 can take inputs 0..1"):
        gt.check(bad)
    with pytest.raises(ValueError, match="not JSON"):
        gt.from_json("{")


def test_random_genotypes_take_two_distinct_inputs_per_node_and_never_none() -> None:
    rng = random.Random(0)
    for _ in range(50):
        g = gt.random_genotype(rng)
        for cell in gt.CELLS:
            pairs = g[cell]
            assert all(op != "none" for op, _ in pairs)
            assert all(pairs[k][1] != pairs[k + 1][1] for k in range(0, 8, 2))


def test_a_darts_search_offers_its_genotype_under_rising_parameter_free_caps_each_evaluated_as_often() -> None:
    """With `candidates` 3 the search's alpha is derived under the cap, the cap + 1 and the cap + 2; each
    genotype gets `evaluations` trials, and the study is done once all of them are handed out."""
    space = darts_cell_space()
    settings = {"searches": 1, "evaluations": 2, "candidates": 3, "max_skips": 0, "max_parameter_free": 1}
    DartsStrategy.check(space, ACCURACY, settings, 1 + 2 * 3)
    strategy = DartsStrategy(space, ACCURACY, settings, seed=0)
    search = strategy.suggest(1, [], [])
    assert len(search) == 1 and "genotype" not in search[0]
    pools = alpha_with({(2, 0): ("max_pool_3x3", 4.0), (2, 1): ("skip_connect", 3.0),
                        (3, 0): ("avg_pool_3x3", 2.0), (3, 1): ("sep_conv_3x3", 1.0)})
    pools[:, OPS["dil_conv_3x3"]] += 0.5  # every edge's best operation with parameters
    pools[4:, OPS["sep_conv_5x5"]] = 1.0
    outer = strategy.outer_set(1, search[0])
    assert outer is not None
    outer.values["alpha_normal"] = pools
    outer.info["done"] = True
    ended = [Observation(1, search[0], None)]
    evaluations = strategy.suggest(10, ended, [])
    assert len(evaluations) == 6 and strategy.exhausted()
    offered = [gt.from_json(str(a["genotype"])) for a in evaluations]
    assert [offered[k] == offered[k + 1] for k in (0, 2, 4)] == [True, True, True], "each one twice, in a row"
    free = [sum(gt.count_op(g, op) for op in ("skip_connect", "max_pool_3x3", "avg_pool_3x3")) for g in offered[::2]]
    assert free == [1, 2, 3], "the cap raised by one each time"
    assert offered[4] == derive({"alpha_normal": pools, "alpha_reduce": outer.values["alpha_reduce"]}, 4)
    assert all(a["search_trial"] == 1 for a in evaluations)
    assert strategy.suggest(10, ended, []) == []

    # A cap that does not bind offers the one genotype: three candidates of the same cell are one.
    settings["max_parameter_free"] = 3
    again = DartsStrategy(space, ACCURACY, settings, seed=0)
    assert again.suggest(1, [], []) == search
    again.outer_set(1, search[0]).values["alpha_normal"] = pools  # type: ignore[union-attr]
    again.sets[1].info["done"] = True
    assert [gt.from_json(str(a["genotype"])) for a in again.suggest(10, ended, [])] == [offered[4]] * 2


def test_a_darts_budget_too_small_for_its_candidates_is_refused_naming_the_field() -> None:
    space = darts_cell_space()
    settings = {"searches": 2, "evaluations": 2, "candidates": 3}
    DartsStrategy.check(space, ACCURACY, settings, 14)
    with pytest.raises(SpecError, match=r"spec\.budget\.max_trials: .* up to 3 candidate .* 14 trials; got 13"):
        DartsStrategy.check(space, ACCURACY, settings, 13)
    with pytest.raises(SpecError, match=r"spec\.algorithm\.settings\.candidates"):
        DartsStrategy.check(space, ACCURACY, {"candidates": 0}, 0)


def scores_with(ops: list[tuple[tuple[int, int], str, float]], edges: dict[tuple[int, int], float]
                ) -> dict[str, np.ndarray]:
    """Perturbation scores of zeros but for the given (edge, operation) and edge scores (normal cell)."""
    rows = {e: r for r, e in enumerate(gt.edges())}
    op_normal, edge_normal = np.zeros((14, 8)), np.zeros(14)
    for edge, op, value in ops:
        op_normal[rows[edge], OPS[op]] = value
    for edge, value in edges.items():
        edge_normal[rows[edge]] = value
    return {"op_normal": op_normal, "edge_normal": edge_normal, "op_reduce": np.zeros((14, 8)),
            "edge_reduce": np.zeros(14)}


def test_perturbation_scores_pick_per_node_the_two_edges_and_the_operations_whose_removal_hurts_most() -> None:
    scores = scores_with(
        [((2, 0), "avg_pool_3x3", 0.3), ((2, 1), "skip_connect", 0.2),
         ((3, 1), "none", 9.0), ((3, 1), "sep_conv_5x5", 0.01), ((3, 2), "max_pool_3x3", 0.1),
         ((4, 3), "dil_conv_3x3", 0.2), ((5, 4), "dil_conv_5x5", 0.05)]
        # Removing any operation of edge (5, 1) but sep_conv_3x3 lowers the loss.
        + [((5, 1), op, -0.1) for op in gt.PRIMITIVES[1:] if op != "sep_conv_3x3"],
        {(3, 2): 0.5, (3, 1): 0.4, (3, 0): 0.1, (4, 3): 0.2, (4, 0): 0.3, (5, 4): 0.1, (5, 1): 0.2, (5, 0): -1.0})
    g = derive_scored(scores, 4)
    # Ties go to the first operation (max_pool_3x3) and the earlier edge; none never counts; and no cap on
    # parameter-free operations: the scores measured what the network needs.
    assert g["normal"] == [["avg_pool_3x3", 0], ["skip_connect", 1],
                           ["sep_conv_5x5", 1], ["max_pool_3x3", 2],
                           ["max_pool_3x3", 0], ["dil_conv_3x3", 3],
                           ["sep_conv_3x3", 1], ["dil_conv_5x5", 4]]
    assert g["reduce"] == [["max_pool_3x3", 0], ["max_pool_3x3", 1]] * 4
    assert g["normal_concat"] == g["reduce_concat"] == [2, 3, 4, 5]
    with pytest.raises(ValueError, match=r"expected \[14, 8\] and \[14\]"):
        derive_scored({**scores, "edge_normal": np.zeros(13)}, 4)


def test_a_darts_study_selecting_by_perturbation_asks_its_searches_for_scores_and_evaluates_their_genotype() -> None:
    space = darts_cell_space()
    settings = {"selection": "perturbation", "candidates": 2, "max_skips": 0, "max_parameter_free": 1}
    strategy = DartsStrategy(space, ACCURACY, settings, seed=0)
    search = strategy.suggest(1, [], [])
    assert search[0]["selection"] == "perturbation", "the trainable learns it must score its operations"
    alpha = strategy.outer_set(1, search[0]).values["alpha_normal"]  # type: ignore[union-attr]
    step = strategy.sets[1].step
    scores = scores_with([((2, 0), "skip_connect", 0.3), ((2, 1), "avg_pool_3x3", 0.2)], {})
    sent = {f"perturbation.{name}": v for name, v in scores.items()}

    for bad, why in [({**sent, "perturbation.edge_normal": np.zeros(3)}, r"has shape \[3\], expected \[14\]"),
                     ({**sent, "perturbation.op_reduce": np.full((14, 8), np.nan)}, "non-finite"),
                     ({**sent, "alpha_normal": np.zeros((14, 8))}, "sent alone, not with gradients")]:
        with pytest.raises(SpecError, match=why):
            strategy.apply(1, search[0], bad, {}, "trial 1")
    applied = strategy.apply(1, search[0], sent, {}, "trial 1")
    assert applied.step == step and np.array_equal(applied.values["alpha_normal"], alpha), "scores move no alpha"
    # The scores are state: a restarted controller derives the same genotype.
    again = DartsStrategy(space, ACCURACY, settings, seed=0)
    again.load_state(json.loads(json.dumps(strategy.state())))
    assert again.summary(1, again.sets[1])["selected_by"] == "perturbation"
    assert again.summary(1, again.sets[1])["genotype"] == derive_scored(scores, 4)

    strategy.sets[1].info["done"] = True
    evaluations = strategy.suggest(10, [Observation(1, search[0], None)], [])
    offered = [gt.from_json(str(a["genotype"])) for a in evaluations]
    # First the scores' genotype (two parameter-free operations, no cap), then alpha's under the cap.
    assert offered == [derive_scored(scores, 4), derive(strategy.sets[1].values, 4, 0, 1)]
    assert all("selection" not in a for a in evaluations), "evaluations train a genotype, they score nothing"

    plain = DartsStrategy(space, ACCURACY, {}, seed=0)
    plain_search = plain.suggest(1, [], [])[0]
    assert "selection" not in plain_search
    with pytest.raises(SpecError, match="does not select by them"):
        plain.apply(1, plain_search, sent, {}, "trial 1")
    with pytest.raises(SpecError, match=r"spec\.algorithm\.settings\.selection: .* got 'magnitude'"):
        DartsStrategy.check(space, ACCURACY, {"selection": "magnitude"}, 10)
