"""Claims: how many workers share one store, one batch each at a time.

A worker about to train a batch claims it: ``STORE/claims/<batch_id>.json`` names the holder
(host, pid, a random token, the sweep) and when the claim was last renewed; a heartbeat thread
renews it every ``lease / 4`` seconds while the batch trains. The other workers take the next
unclaimed batch. A claim is *stale*, and may be taken over, when its lease has run out (the
holder has not renewed it for ``lease`` seconds: a dead or cut-off host) or, on the same host,
as soon as its process no longer runs.

Every step is atomic on a local file system and on NFS:

- a claim is written to a private temporary file and hard-linked to its name (``link`` fails
  when the name exists, so of two workers only one gets it);
- a stale claim is taken over by renaming it aside first (only one ``rename`` of a name
  succeeds) and then linking the new one;
- the batch itself is committed by renaming its directory into ``batches/``; a second worker
  finishing the same batch finds it there and discards its copy, so a batch is committed
  exactly once even when a slow holder and its successor race at the end.

A holder whose claim was taken over (its heartbeat finds another token) carries on: its copy
of the batch is identical and the commit keeps one of the two.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..store.layout import StoreLayout, is_batch_id, process_alive

#: seconds a claim stays valid without a renewal (the heartbeat renews it 4 times as often)
DEFAULT_LEASE = 120.0


@dataclass(frozen=True)
class Claim:
    """One claim as read from its file: the batch, its holder and the lease."""

    batch_id: str
    host: str
    pid: int
    token: str
    sweep: str
    claimed_at: float
    renewed_at: float
    lease: float

    @property
    def age(self) -> float:
        """Seconds since the claim was made."""
        return max(0.0, time.time() - self.claimed_at)

    def stale(self, now: float | None = None) -> bool:
        """Whether the claim may be taken over: its lease has run out, or its process no
        longer runs on this host."""
        now = time.time() if now is None else now
        if now - self.renewed_at > self.lease:
            return True
        return self.host == socket.gethostname() and not process_alive(self.pid)

    def describe(self) -> str:
        return (f"{self.host} pid {self.pid}, sweep {self.sweep or '?'}, for "
                f"{self.age:.0f} s")


def read_claim(path: Path) -> Claim | None:
    """The claim in ``path``; None when there is none or it does not parse (a claim being
    replaced; a damaged one counts as stale through :func:`claim_batch`)."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        return Claim(**{k: data[k] for k in Claim.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def live_claims(store: str | Path) -> list[Claim]:
    """Every claim in the store that is not stale, sorted by batch id."""
    layout = StoreLayout(store)
    out = []
    for f in layout.claim_files():
        c = read_claim(f)
        if c is not None and is_batch_id(c.batch_id) and not c.stale():
            out.append(c)
    return sorted(out, key=lambda c: c.batch_id)


class BatchClaim:
    """This worker's claim on one batch: :meth:`acquire`, a heartbeat while held,
    :meth:`release`."""

    def __init__(self, store: str | Path, batch_id: str, sweep: str = "",
                 lease: float = DEFAULT_LEASE):
        if not is_batch_id(batch_id):
            raise ValueError(f"not a batch id: {batch_id!r}")
        self.layout = StoreLayout(store)
        self.path = self.layout.claim_file(batch_id)
        self.batch_id = batch_id
        self.sweep = sweep
        self.lease = float(lease)
        self.token = uuid.uuid4().hex
        self.claimed_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _content(self) -> bytes:
        now = time.time()
        return json.dumps({
            "batch_id": self.batch_id, "host": socket.gethostname(), "pid": os.getpid(),
            "token": self.token, "sweep": self.sweep, "claimed_at": self.claimed_at or now,
            "renewed_at": now, "lease": self.lease}).encode()

    def _private(self, suffix: str) -> Path:
        return self.path.parent / f".{self.batch_id}.{self.token}.{suffix}"

    def _link_new(self) -> bool:
        """Create the claim under its name unless one exists (atomic: hard link)."""
        self.claimed_at = time.time()
        tmp = self._private("new")
        tmp.write_bytes(self._content())
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def acquire(self) -> Claim | None:
        """Claim the batch. Returns None when it is now this worker's, or the live claim of
        the worker that holds it. A stale claim is taken over."""
        self.layout.claims.mkdir(exist_ok=True)
        for _ in range(3):
            if self._link_new():
                self._start_heartbeat()
                return None
            held = read_claim(self.path)
            if held is not None and not held.stale():
                return held
            if held is None and _younger_than(self.path, 5.0):
                continue  # being written or replaced right now: look again
            aside = self._private("stale")
            try:
                os.rename(self.path, aside)  # only one worker's rename of the name succeeds
            except FileNotFoundError:
                continue
            aside.unlink(missing_ok=True)
        held = read_claim(self.path)
        return held if held is not None else Claim(self.batch_id, "?", 0, "", "", 0, 0, 0)

    def renew(self) -> bool:
        """Renew the claim if it is still this worker's; False (and ``lost``) when another
        worker has taken it over."""
        held = read_claim(self.path)
        if held is None or held.token != self.token:
            self.lost = True
            return False
        tmp = self._private("renew")
        tmp.write_bytes(self._content())
        os.replace(tmp, self.path)
        return True

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"claim-{self.batch_id}",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease / 4):
            try:
                if not self.renew():
                    return
            except OSError:
                continue  # a passing file-system error: try again at the next beat

    def release(self) -> None:
        """Stop the heartbeat and remove the claim if it is still this worker's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        held = read_claim(self.path)
        if held is not None and held.token == self.token:
            self.path.unlink(missing_ok=True)


def _younger_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime < seconds
    except OSError:
        return False


@contextmanager
def claimed(store: str | Path, batch_id: str, sweep: str = "",
            lease: float = DEFAULT_LEASE) -> Iterator[Claim | None]:
    """``with claimed(store, bid) as other:`` ``other`` is None when this worker holds the
    batch for the block (renewed by a heartbeat, released at its end), else the live claim
    of the worker that does."""
    claim = BatchClaim(store, batch_id, sweep, lease)
    other = claim.acquire()
    try:
        yield other
    finally:
        if other is None:
            claim.release()
