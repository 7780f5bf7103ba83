"""Claims on batches: one holder at a time, stale claims taken over, races won by one."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

from circle_survival.store.layout import StoreLayout
from circle_survival.sweep.claims import BatchClaim, claimed, live_claims, read_claim

BID = "0123456789abcdef"


def test_one_holder_then_the_next(tmp_path):
    a, b = BatchClaim(tmp_path, BID, "s1"), BatchClaim(tmp_path, BID, "s2")
    assert a.acquire() is None
    other = b.acquire()
    assert other is not None and other.token == a.token and other.sweep == "s1"
    assert [c.token for c in live_claims(tmp_path)] == [a.token]
    a.release()
    assert not StoreLayout(tmp_path).claim_file(BID).exists()
    assert b.acquire() is None
    b.release()
    assert live_claims(tmp_path) == []


def test_the_heartbeat_renews_the_claim(tmp_path):
    a = BatchClaim(tmp_path, BID, lease=0.4)
    assert a.acquire() is None
    first = read_claim(a.path).renewed_at
    time.sleep(0.6)  # longer than the lease: only the heartbeat keeps it live
    held = read_claim(a.path)
    assert held.renewed_at > first and not held.stale()
    assert BatchClaim(tmp_path, BID).acquire() is not None
    a.release()


def test_a_claim_whose_lease_ran_out_is_taken_over(tmp_path):
    a = BatchClaim(tmp_path, BID, lease=0.2)
    assert a.acquire() is None
    a._stop.set()  # the holder hangs: no more renewals
    a._thread.join()
    time.sleep(0.3)
    b = BatchClaim(tmp_path, BID)
    assert b.acquire() is None
    assert read_claim(b.path).token == b.token
    assert not a.renew() and a.lost  # the old holder learns it lost the claim
    a.release()  # and does not remove its successor's claim
    assert read_claim(b.path).token == b.token
    b.release()


def test_a_claim_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    a = BatchClaim(tmp_path, BID)
    a.layout.claims.mkdir()
    content = json.loads(a._content())
    content["pid"] = int(dead.stdout)
    a.path.write_text(json.dumps(content))
    assert read_claim(a.path).stale()
    b = BatchClaim(tmp_path, BID)
    assert b.acquire() is None
    b.release()


def test_a_damaged_claim_is_stale_once_it_is_old(tmp_path):
    import os

    layout = StoreLayout(tmp_path)
    layout.claims.mkdir()
    layout.claim_file(BID).write_text("{not json")
    old = time.time() - 60
    os.utime(layout.claim_file(BID), (old, old))
    with claimed(tmp_path, BID) as other:
        assert other is None
    assert not layout.claim_file(BID).exists()


def _race(store, queue, start, done):
    claim = BatchClaim(store, BID)
    start.wait(60)  # every process tries at the same moment
    won = claim.acquire() is None
    queue.put(won)
    done.wait(60)  # the winner holds it until every process has tried
    if won:
        claim.release()


def test_of_racing_processes_exactly_one_wins(tmp_path):
    ctx = mp.get_context("spawn")
    queue, start, done = ctx.Queue(), ctx.Event(), ctx.Event()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), queue, start, done))
             for _ in range(4)]
    for p in procs:
        p.start()
    time.sleep(1.0)
    start.set()
    wins = [queue.get(timeout=60) for _ in procs]
    done.set()
    for p in procs:
        p.join(timeout=60)
    assert sum(wins) == 1


def test_claimed_releases_at_the_end_of_the_block(tmp_path):
    with claimed(tmp_path, BID, "s") as other:
        assert other is None
        with claimed(tmp_path, BID, "t") as second:
            assert second is not None and second.sweep == "s"
    assert live_claims(tmp_path) == []


def test_a_zombie_holder_is_dead():
    from circle_survival.store.layout import process_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 30
    while process_alive(child.pid) and time.time() < deadline:
        time.sleep(0.05)  # it exits, and stays a zombie until waited for
    assert not process_alive(child.pid)
    child.wait()
    assert process_alive(os.getpid())
