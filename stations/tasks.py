"""Celery tasks of stations. Ids only in arguments; each is safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone


@shared_task
def station_mark_offline_stale() -> list[int]:
    """Stations silent for three heartbeat intervals: close their sockets, tell operators, and
    let ``stations.services.station_mark_offline_stale`` update the presence records."""
    from stations import jobs
    from stations.services import station_mark_offline_stale as mark_offline_stale

    now = timezone.now()
    # First the sweep: it reaches the consumers through the presence records that the
    # endpoint's service clears next.
    stale = jobs.station_offline_sweep(now=now)
    mark_offline_stale(now=now)
    return stale


@shared_task
def station_flag_faulted() -> list[int]:
    from stations import jobs

    return jobs.station_flag_faulted(now=timezone.now())
