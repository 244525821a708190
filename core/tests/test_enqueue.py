"""Batched Celery enqueues: one message for a committer batch, fanned out by the worker."""

from __future__ import annotations

from typing import Any
from unittest import mock

from celery import shared_task

from core.tasks import enqueue, enqueue_batched, enqueue_flush, enqueue_many

RAN: list[Any] = []


@shared_task(name="core.tests.record")
def record(value: Any) -> None:
    RAN.append(value)


def test_outside_a_batch_enqueue_is_delay() -> None:
    with mock.patch.object(record, "delay") as delay:
        enqueue(record, 1)
    delay.assert_called_once_with(1)


def test_inside_a_batch_calls_are_noted_and_leave_as_one_message() -> None:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    with mock.patch.object(record, "delay") as delay, enqueue_batched(calls):
        enqueue(record, 1)
        enqueue(record, 2)
    delay.assert_not_called()
    assert calls == [("core.tests.record", (1,)), ("core.tests.record", (2,))]
    with mock.patch.object(enqueue_many, "delay") as many:
        enqueue_flush(calls)
    many.assert_called_once_with([["core.tests.record", [1]], ["core.tests.record", [2]]])


def test_a_lone_call_is_sent_as_itself() -> None:
    with mock.patch.object(record, "delay") as delay, mock.patch.object(enqueue_many, "delay") as many:
        enqueue_flush([("core.tests.record", (7,))])
    delay.assert_called_once_with(7)
    many.assert_not_called()


def test_the_worker_fans_a_batch_out_to_the_real_tasks() -> None:
    RAN.clear()
    with mock.patch.object(record, "delay", side_effect=lambda v: RAN.append(v)):
        sent = enqueue_many.run([["core.tests.record", [1]], ["no.such.task", []], ["core.tests.record", [2]]])
    assert sent == 2 and RAN == [1, 2]
