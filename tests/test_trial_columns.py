"""ListTrialColumns (``Study.trial_columns``): the same trials as ListTrials, column by column, through a real
controller; conditional, categorical, int and failed trials; bad requests; the SDK's fallback for a controller
without the call gives the same columns."""

from __future__ import annotations

import grpc
import pytest
from cluster import Server, controller_stub
from nestor import Client, columns
from nestor.errors import InvalidArgument, NotFound
from nestor.v1 import controller_pb2

SPEC = {
    "name": "columns", "algorithm": "random", "seed": 3,
    "objectives": [{"metric": "loss", "goal": "minimize"}, {"metric": "size", "goal": "minimize"}],
    "budget": {"max_trials": 40},
    "space": {
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {"type": "double", "min": 0.0, "max": 0.99, "when": {"optimizer": ["sgd"]}},
        "layers": {"type": "int", "min": 1, "max": 8},
        "lr": {"type": "double", "min": 1e-4, "max": 1.0, "scale": "log"},
        "flag": {"type": "categorical", "choices": [True, False, 1]},
    },
}


def test_the_columns_hold_what_list_trials_holds(controller: Server) -> None:
    with Client(controller.address) as client:
        study = client.create_study(SPEC)
        trials = study.suggest(12)
        for k, t in enumerate(trials):
            if k % 4 == 0:
                t.fail("diverged")
            elif k % 4 == 1:
                pass  # left running
            else:
                t.complete({"loss": t.params["lr"] * k, "size": float(t.params["layers"])})
        cols = study.trial_columns()
        listed = sorted((t.proto for t in study.trials()), key=lambda t: t.id)
        spec = study.info().spec
        # The same trials, whichever way they are read (the SDK's fallback builds them from Trial messages).
        fallback = columns.from_trials(listed, ["loss", "size"], [p.name for p in spec.space.parameters])
        times = ("create_time", "start_time", "end_time")  # Timestamps hold microseconds
        untimed = {k: v for k, v in cols.items() if k not in times}
        assert untimed == {k: v for k, v in fallback.items() if k not in times}
        for k in times:
            assert [x is None for x in cols[k]] == [x is None for x in fallback[k]]
            assert [x for x in cols[k] if x] == pytest.approx([x for x in fallback[k] if x], abs=1e-5)
        assert cols["id"] == [t.id for t in listed] == list(range(1, 13))
        assert list(cols["params"]) == ["optimizer", "momentum", "layers", "lr", "flag"]
        assert cols["state"].count("FAILED") == 3 and cols["state"].count("RUNNING") == 3
        for i, t in enumerate(trials):
            assert cols["params"]["optimizer"][i] == t.params["optimizer"]
            assert cols["params"]["momentum"][i] == t.params.get("momentum")  # None where the condition is off
            assert cols["params"]["layers"][i] == t.params["layers"] and isinstance(cols["params"]["layers"][i], int)
            assert cols["params"]["flag"][i] == t.params["flag"] and type(cols["params"]["flag"][i]) is type(
                t.params["flag"])  # True and 1 stay apart
            done = i % 4 >= 2
            assert cols["values"]["loss"][i] == (pytest.approx(t.params["lr"] * i) if done else None)
            assert (cols["end_time"][i] is not None) == (i % 4 != 1)
            assert cols["reason"][i] == ("diverged" if i % 4 == 0 else "")
        assert any(v is None for v in cols["params"]["momentum"])
        # Other metrics on request, in the order asked.
        assert list(study.trial_columns(["size"])["values"]) == ["size"]


def test_bad_requests_say_what_is_wrong(controller: Server) -> None:
    with Client(controller.address) as client:
        study = client.create_study(SPEC)
        with pytest.raises(InvalidArgument, match=r"metrics\[0\]: 300 characters exceed"):
            study.trial_columns(["m" * 300])
        with pytest.raises(InvalidArgument, match="metrics: at most"):
            study.trial_columns([f"m{i}" for i in range(1001)])
        with pytest.raises(NotFound):
            client.study("no-such-study").trial_columns()
        stub = controller_stub(controller.address)
        with pytest.raises(grpc.RpcError) as e:
            stub.ListTrialColumns(controller_pb2.ListTrialColumnsRequest())
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "study_id: required" in e.value.details()


def test_a_study_without_trials_has_empty_columns(controller: Server) -> None:
    with Client(controller.address) as client:
        cols = client.create_study(SPEC).trial_columns()
    assert cols["id"] == [] and cols["values"] == {"loss": [], "size": []}
    assert list(cols["params"]) == ["optimizer", "momentum", "layers", "lr", "flag"]
    assert all(v == [] for v in cols["params"].values())
