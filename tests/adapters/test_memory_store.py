"""MemoryStore: the default store, for one process."""

from __future__ import annotations

import time

from pkceflow import TokenSet
from pkceflow.memory_store import MemoryStore

from .support import Background, held_elsewhere

KEY = "default"
OLD = TokenSet("access-old", expires_at=2_000_000_000.0, refresh_token="refresh-old")
NEW = TokenSet("access-new", expires_at=2_000_003_600.0, refresh_token="refresh-new")


def test_a_saved_token_set_loads_back() -> None:
    store = MemoryStore()
    store.save(KEY, OLD)
    assert store.load(KEY) == OLD


def test_nothing_stored_loads_as_none() -> None:
    assert MemoryStore().load(KEY) is None


def test_stores_do_not_share_token_sets() -> None:
    first, second = MemoryStore(), MemoryStore()
    first.save(KEY, OLD)
    assert second.load(KEY) is None


def test_delete_forgets_and_tolerates_a_missing_key() -> None:
    store = MemoryStore()
    store.save(KEY, OLD)
    store.delete(KEY)
    store.delete(KEY)
    assert store.load(KEY) is None


def test_replace_writes_when_the_old_set_is_stored() -> None:
    store = MemoryStore()
    store.save(KEY, OLD)
    assert store.replace(KEY, OLD, NEW) is True
    assert store.load(KEY) == NEW


def test_replace_refuses_when_another_set_or_none_is_stored() -> None:
    store = MemoryStore()
    assert store.replace(KEY, OLD, NEW) is False
    assert store.load(KEY) is None
    store.save(KEY, NEW)
    assert store.replace(KEY, OLD, TokenSet("access-stale")) is False
    assert store.load(KEY) == NEW


def test_the_lock_is_reentrant_within_a_thread() -> None:
    store = MemoryStore()
    with store.lock(KEY), store.lock(KEY):
        assert store.replace(KEY, OLD, NEW) is False  # replace takes the lock again


def test_the_lock_keeps_other_threads_out_of_that_key_only() -> None:
    store = MemoryStore()

    def pass_through(key: str) -> None:
        with store.lock(key):
            pass

    with held_elsewhere(lambda: store.lock(KEY)):
        other_key = Background(lambda: pass_through("other"))
        same_key = Background(lambda: pass_through(KEY))
        other_key.result()
        time.sleep(0.1)  # time enough to get in, were the lock not held
        assert not same_key.finished
    same_key.result()
