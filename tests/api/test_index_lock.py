"""The lock searches and index updates share: many searches at once, an update alone, and an
update that waits is not kept waiting by the searches that keep coming."""

from __future__ import annotations

import threading
import time

import pytest

from api.runtime import ReadWriteLock
from tests.api.conftest import until

# Threads that wait on each other (see the marker in pyproject.toml).
pytestmark = pytest.mark.realtime


def test_an_update_gets_in_while_searches_keep_coming() -> None:
    lock, stop, got_in = ReadWriteLock(), threading.Event(), threading.Event()

    def searches() -> None:  # overlapping: there is always one under way
        while not stop.is_set():
            with lock.reading():
                time.sleep(0.002)

    readers = [threading.Thread(target=searches) for _ in range(4)]
    for reader in readers:
        reader.start()
    time.sleep(0.05)

    def update() -> None:
        with lock.writing():
            got_in.set()

    writer = threading.Thread(target=update)
    writer.start()
    try:
        assert got_in.wait(10), "the update waited for as long as the searches went on"
    finally:
        stop.set()
        for thread in [*readers, writer]:
            thread.join(10)


def _started(lock: ReadWriteLock, side: str, order: list[str], name: str) -> threading.Thread:
    """A thread that takes ``side`` of ``lock`` ("reading", "writing") and notes ``name``."""

    def take() -> None:
        with getattr(lock, side)():
            order.append(name)

    thread = threading.Thread(target=take)
    thread.start()
    return thread


def test_a_search_that_comes_while_an_update_waits_goes_after_it() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    with lock.reading():  # a search under way
        writer = _started(lock, "writing", order, "update")
        assert until(lambda: lock._writers_waiting == 1)
        reader = _started(lock, "reading", order, "late search")
        time.sleep(0.05)
        assert order == []  # neither gets in while the first search holds the index
    writer.join(10)
    reader.join(10)
    assert order == ["update", "late search"]


def test_searches_go_on_while_an_update_waits_for_the_index_save() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    saving, saved = threading.Event(), threading.Event()

    def save() -> None:  # the index directory being written: seconds at scale
        with lock.background_reading():
            saving.set()
            assert saved.wait(10)
        order.append("saved")

    saver = threading.Thread(target=save)
    saver.start()
    assert saving.wait(10)
    writer = _started(lock, "writing", order, "update")
    assert until(lambda: lock._writers_waiting == 1)
    with lock.reading():  # the update waits for the save; a search need not wait with it
        order.append("search")
    saved.set()
    for thread in (saver, writer):
        thread.join(10)
    assert order == ["search", "saved", "update"]


def test_after_the_save_a_waiting_update_goes_first_again() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    with lock.reading():  # a search under way keeps the update waiting after the save
        with lock.background_reading():
            writer = _started(lock, "writing", order, "update")
            assert until(lambda: lock._writers_waiting == 1)
        reader = _started(lock, "reading", order, "late search")
        time.sleep(0.05)
        assert order == []
    writer.join(10)
    reader.join(10)
    assert order == ["update", "late search"]
