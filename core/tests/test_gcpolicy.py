"""The collector policy: freeze what a burst of connections leaves, reclaim once many are gone."""

from __future__ import annotations

import gc

import pytest

from core.gcpolicy import FREEZE_EVERY, QUIET_SECONDS, RECLAIM_AFTER_GONE, THRESHOLDS, GcPolicy


@pytest.fixture(autouse=True)
def _restore_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_tuning_happens_once_before_any_connection() -> None:
    """What the server's application does as it loads (``csms.asgi``): before the first
    handshake, and a second call (the first connection's ``start``) changes nothing."""
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    policy = GcPolicy()
    policy.tune()
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 0
    gc.unfreeze()
    policy.tune()
    assert gc.get_freeze_count() == 0  # not frozen again: tuned already


def test_the_application_tunes_the_collector_as_it_loads() -> None:
    import csms.asgi  # noqa: F401
    from core.gcpolicy import policy

    assert policy.tuned


def test_survivors_of_a_burst_are_frozen_once_connections_stop_arriving() -> None:
    policy = GcPolicy()
    policy.connected()
    kept = [Cycle() for _ in range(100)]
    assert policy.step(policy.last_connect + QUIET_SECONDS / 2) == ""  # still arriving
    frozen_before = gc.get_freeze_count()
    assert policy.step(policy.last_connect + QUIET_SECONDS) == "freeze"
    assert gc.get_freeze_count() >= frozen_before + len(kept)
    assert policy.step(policy.last_connect + 10 * QUIET_SECONDS) == ""  # nothing new since


def test_a_long_burst_is_frozen_as_it_arrives_without_a_pass() -> None:
    policy = GcPolicy()
    gc.collect()
    for _ in range(FREEZE_EVERY - 1):
        policy.connected()
    kept = [Cycle() for _ in range(100)]
    frozen_before = gc.get_freeze_count()
    collections_before = sum(stat["collections"] for stat in gc.get_stats())
    policy.connected()
    assert gc.get_freeze_count() >= frozen_before + len(kept)
    assert sum(stat["collections"] for stat in gc.get_stats()) == collections_before


def test_cycles_left_by_gone_connections_are_reclaimed_after_enough_disconnections() -> None:
    policy = GcPolicy()
    garbage = [Cycle() for _ in range(50)]
    gc.freeze()
    del garbage  # frozen cycles: only a reclaiming pass frees them
    for _ in range(RECLAIM_AFTER_GONE - 1):
        policy.disconnected()
    assert policy.step(0.0) == ""
    policy.disconnected()
    assert policy.step(0.0) == "reclaim"
    assert not any(isinstance(o, Cycle) for o in gc.get_objects())
    assert gc.get_freeze_count() > 0  # refrozen after the pass
