"""Run and audit ids: `new_id` writes what `uuid.uuid4().hex` writes for the same random bytes."""

from __future__ import annotations

import uuid
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from clientflow.runtime.core import new_id


@given(st.binary(min_size=16, max_size=16))
def test_an_id_is_the_hex_of_the_version_4_uuid_of_the_same_bytes(random: bytes) -> None:
    with mock.patch("os.urandom", lambda size: random[:size]):
        made = new_id()
    assert made == uuid.UUID(bytes=random, version=4).hex
    assert uuid.UUID(hex=made).version == 4 and uuid.UUID(hex=made).variant == uuid.RFC_4122


def test_ids_are_drawn_afresh_each_time() -> None:
    assert len({new_id() for _ in range(1000)}) == 1000
