"""Where a sweep's groups of runs are trained: in this process, in worker processes, or on
a Dask cluster.

A group (runs of one shape) is the unit of work. Workers train it and send back one Arrow
table per run; the process that runs the sweep writes them to the store. So the store has
one writer, needs no shared file system, and a group lost with its worker is simply trained
again (Dask reschedules it) or left for the next resume.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from iblab.config import Config

Outcome = list[tuple[str, pa.Table]] | BaseException


Evaluate = Callable[[Any], dict]


def train_group(
    configs: Sequence[Config],
    evaluate: Evaluate | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[tuple[str, pa.Table]]:
    """Train runs of one shape together, and turn each into its stored table.

    If the batch raises, the runs are trained one by one, so one bad run fails alone and is
    stored with status `error` and its message; so is a run whose evaluation raises.

    Args:
        configs: The runs' configs, of one shape (see `iblab.sweep.plan`).
        evaluate: evaluate(result) -> dict, more figures of each trained run, computed here
            (where it trained) and stored with it (see `iblab.store.result_table`).
        on_progress: Called as on_progress(step) with the step the group's training has
            reached, as it goes (a group of flows: their switches so far; see
            `iblab.train_many`).

    Returns:
        Each run's (run_id, Arrow table), in input order.
    """
    from iblab import store
    from iblab.training import train_many

    try:
        results = train_many(list(configs), on_progress=on_progress)
    except Exception as e:
        if len(configs) == 1:
            return [_failed(configs[0], e)]
        return [record for c in configs for record in train_group([c], evaluate)]
    out = []
    for c, r in zip(configs, results, strict=True):
        try:
            table = store.result_table(r, None if evaluate is None else evaluate(r))
        except Exception as e:
            out.append(_failed(c, e, "evaluate: "))
        else:
            out.append((store.run_id(c), table))
    return out


def _failed(config: Config, error: Exception, where: str = "") -> tuple[str, pa.Table]:
    from iblab import store

    rid = store.run_id(config)
    summary = {"status": "error", "traceback": traceback.format_exc(limit=-8)}
    message = where + f"{type(error).__name__}: {error}".splitlines()[0]
    return rid, store.run_table(config.to_dict(), rid, summary, None, message)


class Local:
    """Train in this process (workers=0) or in `workers` spawned processes.

    Worker processes end soon after the process that started them is gone.

    Args:
        workers: How many worker processes; 0 (or less) trains in this process.
    """

    def __init__(self, workers: int = 0):
        self.workers = workers

    def map_unordered(
        self,
        groups: Sequence[list[Config]],
        evaluate: Evaluate | None = None,
        on_step: Callable[[list, int], None] | None = None,
    ) -> Iterator[tuple[list, Outcome]]:
        """Train groups, yielding each with its outcome as it finishes.

        Args:
            groups: The groups of runs (see `iblab.sweep.plan`).
            evaluate: More figures of each run (see `train_group`).
            on_step: Called as on_step(group, step) with how far the group in training has got
                (in-process only).

        Yields:
            Each group with its outcome: `train_group`'s list of (run_id, table), or the
                exception when the worker or the transport failed.
        """
        if self.workers <= 0:
            for g in groups:
                step = None if on_step is None else functools.partial(on_step, g)
                yield g, train_group(g, evaluate, step)
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        pool = ProcessPoolExecutor(
            self.workers,
            mp_context=mp.get_context("spawn"),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )
        try:
            futures = {pool.submit(train_group, g, evaluate): g for g in groups}
            for f in as_completed(futures):
                yield futures[f], _outcome(f)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


class Dask:
    """Train on a dask.distributed cluster.

    Give a Client, a scheduler address, or neither: then a LocalCluster of `workers`
    single-threaded processes is started for the sweep and closed after it.

    Args:
        address: A scheduler address to connect to.
        client (distributed.Client | None): A dask.distributed Client to use (it is left open).
        workers: Worker processes of the LocalCluster (None: Dask's default).
    """

    def __init__(self, address: str | None = None, client=None, workers: int | None = None):
        self.address, self.client, self.workers = address, client, workers

    def _connect(self):
        from distributed import Client, LocalCluster

        if self.client is not None:
            return self.client, None
        if self.address is not None:
            client = Client(self.address)
            return client, client
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True)
        client = Client(cluster)
        return client, _Closing(client, cluster)

    def map_unordered(
        self,
        groups: Sequence[list[Config]],
        evaluate: Evaluate | None = None,
        on_step: Callable[[list, int], None] | None = None,
    ) -> Iterator[tuple[list, Outcome]]:
        """Train groups on the cluster, yielding each with its outcome as it finishes.

        Args:
            groups: The groups of runs (see `iblab.sweep.plan`).
            evaluate: More figures of each run (see `train_group`).
            on_step: Not called: the workers are remote, so progress moves per group.

        Yields:
            Each group with its outcome: `train_group`'s list of (run_id, table), or the
                exception when the worker or the transport failed.
        """
        from distributed import as_completed

        client, owned = self._connect()
        futures = []
        try:
            futures = [client.submit(train_group, g, evaluate, pure=False) for g in groups]
            by_key = {f.key: g for f, g in zip(futures, groups, strict=True)}
            for f in as_completed(futures):
                yield by_key[f.key], _outcome(f)
                f.release()
        finally:
            client.cancel(futures)
            if owned is not None:
                owned.close()


def exit_with_parent(parent: int, every_s: float = 0.2) -> None:
    """Worker initialiser: end this process soon after `parent` is gone.

    It works even after kill -9 of the parent, which no cleanup handler sees.

    Args:
        parent: The parent's process id.
        every_s: Seconds between checks.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _outcome(future) -> Outcome:
    try:
        return future.result()
    except Exception as e:  # the worker or the transport failed, not the run
        return e


class _Closing:
    def __init__(self, *things):
        self.things = things

    def close(self) -> None:
        for t in self.things:
            t.close()
