"""A commit writes a record's look-up keys again only when they changed: `Records.flush` skips working them out when
every field they are made of is the very value read (changes are made on copies), and otherwise compares them."""

from __future__ import annotations

from typing import Any

from conftest import DEMO, PROJECT
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.runtime.data import Records, key_plan

ENGINE = Engine.open(PROJECT, data=DEMO, notifiers={})
with ENGINE.storage.transaction() as _tx:
    CLIENTS = [d.body for d in _tx.scan("clients")]
CHANGE = st.one_of(
    st.tuples(st.just("client"), st.sampled_from(["subscription", "name", "billing"]), st.sampled_from(["active", "Acme Ltd", "x", None])),
    st.tuples(st.just("user"), st.sampled_from(["email", "role", "id", "name"]), st.sampled_from(["a@b.example", "administrator", "z", None])),
)


class Spy:
    """The transaction, its `put` calls recorded (document, keys) and not made."""

    def __init__(self, tx: Any) -> None:
        self.tx, self.puts = tx, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tx, name)

    def put(self, document: Any, keys: Any, *, expect_version: Any) -> int:
        self.puts.append((document, keys))
        return 1


@settings(max_examples=150, deadline=None)
@given(client=st.sampled_from(CLIENTS), changes=st.lists(CHANGE, min_size=1, max_size=3))
def test_the_keys_are_written_again_exactly_when_they_changed(client: dict[str, Any], changes: list[tuple[str, str, Any]]) -> None:
    with ENGINE.storage.transaction(write=True) as tx:
        spy = Spy(tx)
        records = Records(ENGINE.project, spy)  # type: ignore[arg-type]
        named = {"client": client["id"], "user": next((u["id"] for u in client.get("users") or []), None)}
        for entity, field, value in changes:
            if named[entity] is None:
                continue
            records.set(entity, named[entity], field, value)
            if field == "id":  # found by its new id from now on (none: no longer)
                named[entity] = value
        before = tx.get("clients", client["id"])
        records.flush(checked=True)  # what the data schema says of these values is not the question here
        plan = key_plan(ENGINE.project)
        for document, keys in spy.puts:
            now, then = plan.keys("clients", document.body), plan.keys("clients", before.body)
            assert keys == (None if now == then else now), (changes, keys)
