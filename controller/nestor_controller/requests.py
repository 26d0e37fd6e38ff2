"""Request ids of idempotent calls, carried to the commit that makes their change.

The call's handler sets the current request; the study writes what the call did
(its "note": the trials it created, the decision it returned) in the same
transaction as the change itself. A retry, even after a controller crash,
finds the note and rebuilds the first answer instead of acting twice.
"""

from __future__ import annotations

import contextvars
import json
import time
from dataclasses import dataclass
from typing import Any

from nestor_controller.store import Op, Store, answers

#: What a request id is unique within: (study id or "", method, trial id or 0, request id). The same id in
#: another study, or for another trial, is another request.
RequestKey = tuple[str, str, int, str]


@dataclass
class RequestTag:
    key: RequestKey
    note: dict[str, Any] | None = None
    recorded: bool = False


current_request: contextvars.ContextVar[RequestTag | None] = contextvars.ContextVar("current_request", default=None)


def note_request(**note: Any) -> None:
    """Records what the current idempotent call did; the next commit writes it."""
    tag = current_request.get()
    if tag is not None and not tag.recorded:
        tag.note = note


def answer_op(store: Store) -> Op | None:
    """The row to commit with the change, when the current call has something to record."""
    tag = current_request.get()
    if tag is None or tag.recorded or tag.note is None:
        return None
    tag.recorded = True
    scope, method, trial_id, request_id = tag.key
    return store.insert(answers, {"study_id": scope, "method": method, "trial_id": trial_id,
                                  "request_id": request_id, "payload": json.dumps(tag.note).encode(),
                                  "created": time.time()})
