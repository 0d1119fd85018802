"""Request batching, as TF Serving's `--enable_batching`: concurrent predict requests for the
same model version and signature are merged into one SavedModel call, then split back.

A request that finds the model idle (no batch forming or running, none waiting) runs at once in
its own thread: waiting could only add latency, since nothing would join it. Otherwise it waits
until its batch is full (`max_batch_size` rows) or `batch_timeout_micros` has passed since the
batch's first request; `num_batch_threads` batches run at once (the idle call among them); more than
`max_enqueued_batches` full batches waiting is refused (503, TF Serving's "queue is full").
Requests join a batch only when their inputs can be concatenated (same keys, dtypes and
per-row shapes). If a merged call fails on its input (a corrupt image whose header was fine),
every request of the batch is run alone, so the bad one fails with its own 4xx and the others
get their answers.
"""
from __future__ import annotations

import collections
import dataclasses
import re
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's batching parameters (names and text format of --batching_parameters_file)."""
    max_batch_size: int = 32
    batch_timeout_micros: int = 2000
    num_batch_threads: int = 2
    max_enqueued_batches: int = 64

    def to_text(self) -> str:
        return "".join(f"{f.name} {{ value: {getattr(self, f.name)} }}\n" for f in dataclasses.fields(self))

    @classmethod
    def from_text(cls, text: str, source: str = "batching parameters") -> "BatchingParameters":
        values = {}
        names = {f.name for f in dataclasses.fields(cls)}
        for m in re.finditer(r"(\w+)\s*\{\s*value\s*:\s*(-?\d+)\s*\}", text):
            if m[1] not in names:
                raise ValueError(f"{source}: unknown field {m[1]!r} (known: {', '.join(sorted(names))})")
            values[m[1]] = int(m[2])
        rest = re.sub(r"(\w+)\s*\{\s*value\s*:\s*(-?\d+)\s*\}", "", text)
        rest = re.sub(r"#.*", "", rest).strip()
        if rest:
            raise ValueError(f"{source}: cannot parse {rest.splitlines()[0][:60]!r}")
        params = cls(**values)
        params.validate(source)
        return params

    def validate(self, source: str = "batching") -> None:
        for f in dataclasses.fields(self):
            low = 0 if f.name == "batch_timeout_micros" else 1
            if getattr(self, f.name) < low:
                raise ValueError(f"{source}: {f.name} must be >= {low}, not {getattr(self, f.name)}")

    def write(self, path: str | Path) -> None:
        from tfrecords_tools.writer import write_bytes_atomic
        write_bytes_atomic(Path(path), self.to_text().encode())


_KEEP_QUEUES = 8   # (version, signature) queues kept; the oldest closes beyond that


class QueueFull(Exception):
    """More requests wait than max_enqueued_batches full batches: HTTP 503, as TF Serving."""


@dataclasses.dataclass(eq=False)  # compared by identity (deque.remove): fields hold arrays
class _Task:
    inputs: dict[str, np.ndarray]
    rows: int
    future: Future
    shape_key: tuple


def _shape_key(inputs: dict[str, np.ndarray]) -> tuple:
    return tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))


class _Queue:
    """The requests of one (servable, signature), and the thread(s) that run their batches."""

    def __init__(self, fn, params: BatchingParameters, on_bad_input):
        self.fn, self.params, self.on_bad_input = fn, params, on_bad_input
        self.tasks: collections.deque[_Task] = collections.deque()
        self.cond = threading.Condition()
        self.rows = 0
        self.running = 0   # batches being formed or run, the idle call included
        self.closed = False
        self.threads = [threading.Thread(target=self._loop, daemon=True, name="batch")
                        for _ in range(params.num_batch_threads)]
        for t in self.threads:
            t.start()

    def submit(self, inputs: dict[str, np.ndarray]) -> Future:
        rows = len(next(iter(inputs.values())))
        task = _Task(inputs, rows, Future(), _shape_key(inputs))
        with self.cond:
            idle = self.running == 0 and not self.tasks and not self.closed
            if idle:
                self.running += 1
            elif self.rows + rows > self.params.max_enqueued_batches * self.params.max_batch_size:
                raise QueueFull("the batch scheduling queue is full; retry later")
            else:
                self.tasks.append(task)
                self.rows += rows
                self.cond.notify_all()
        if idle:
            try:
                self._run_alone(task)
            finally:
                self._done()
        return task.future

    def _done(self) -> None:
        with self.cond:
            self.running -= 1
            self.cond.notify_all()

    def _take(self) -> list[_Task]:
        """Block for a first task, then gather compatible ones until full or timed out."""
        p = self.params
        with self.cond:
            while not self.closed and (not self.tasks or self.running >= p.num_batch_threads):
                self.cond.wait()
            if self.closed and not self.tasks:
                return []
            self.running += 1
            batch = [self.tasks.popleft()]
            rows = batch[0].rows
            deadline = time.monotonic() + p.batch_timeout_micros / 1e6
            while rows < p.max_batch_size:
                fits = next((t for t in self.tasks if t.shape_key == batch[0].shape_key
                             and rows + t.rows <= p.max_batch_size), None)
                if fits is not None:
                    self.tasks.remove(fits)
                    batch.append(fits)
                    rows += fits.rows
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            self.rows -= rows
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            try:
                self._run(batch)
            except BaseException as e:  # never lose a waiting request
                for t in batch:
                    if not t.future.done():
                        t.future.set_exception(e)
            finally:
                self._done()

    def _run(self, batch: list[_Task]) -> None:
        if len(batch) == 1:
            self._run_alone(batch[0])
            return
        merged = {k: np.concatenate([t.inputs[k] for t in batch]) for k in batch[0].inputs}
        try:
            outputs = {k: np.asarray(v) for k, v in self.fn(**merged).items()}
        except Exception as e:
            if not self.on_bad_input(e):
                raise
            for t in batch:  # find the bad request(s): each alone gets its own answer or error
                self._run_alone(t)
            return
        start = 0
        for t in batch:
            t.future.set_result({k: v[start:start + t.rows] for k, v in outputs.items()})
            start += t.rows

    def _run_alone(self, task: _Task) -> None:
        try:
            task.future.set_result({k: np.asarray(v) for k, v in self.fn(**task.inputs).items()})
        except Exception as e:
            task.future.set_exception(e)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class Batcher:
    """One queue per (servable, signature name), made on first use. `run` blocks the calling
    (worker) thread until its rows' outputs are back; `fn(**inputs)` returns a dict of
    tensors or arrays whose first axis is the rows."""

    def __init__(self, params: BatchingParameters, on_bad_input=lambda e: False):
        params.validate()
        self.params, self.on_bad_input = params, on_bad_input
        self._queues: dict[tuple[str, str], _Queue] = {}
        self._lock = threading.Lock()

    def run(self, servable, name: str, inputs: dict[str, np.ndarray], fn) -> dict[str, np.ndarray]:
        """`fn`: the signature of `servable` called `name` (used when its queue is made)."""
        key = (str(servable.path), name)
        with self._lock:
            q = self._queues.get(key)
            if q is None:
                q = self._queues[key] = _Queue(fn, self.params, self.on_bad_input)
                while len(self._queues) > _KEEP_QUEUES:  # an unloaded version's queue would keep it alive
                    self._queues.pop(next(iter(self._queues))).close()
        return q.submit(inputs).result()

    def close(self) -> None:
        with self._lock:
            for q in self._queues.values():
                q.close()
            self._queues.clear()
