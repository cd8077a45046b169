"""The Python API: open an index, add protected material, check and filter outputs."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import mmap
import sys
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .background import Background
from .background import hasher as background_hasher
from .config import Action, IndexConfig, Policy
from .errors import InputError, LimitExceededError, WorkerDiedError
from .index import Index, content_hash, prepare_document
from .ingest import DEFAULT_MAX_FILE_BYTES, IngestOptions, walk
from .model import Document, IndexReport, IndexStats, Kind, Skipped, Unchanged, Verdict
from .normalize import normalize
from .policy import apply, decide, region_strength
from .pragma import exempt_spans
from .sketch import TokenHasher, shingle_hashes
from .stores import DocumentInfo, DocumentRecord
from .verify import Region, rank_documents, shingle_positions, verify, weighted_evidence

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

log = logging.getLogger(__name__)

#: Documents per transaction of a removal.
BATCH_DOCUMENTS = 64
#: Seconds of indexing an interrupted run may lose (`index_documents`): its
#: work is committed at least this often, whole documents at a time. Each
#: commit writes a band segment that the end of the run merges again, so
#: committing every 64 documents wrote every pair twice; a 1 M-window text
#: corpus (about 10 s) took 9.5-9.9 s with `--jobs 2` that way and 6.9-8.5 s
#: written once at the end (bench/speed.py's corpus, measured in process).
DEFAULT_CHECKPOINT_SECONDS = 30.0
#: Normalized tokens one channel of one document may hold when indexed.
DEFAULT_MAX_TOKENS = 2_000_000


class DocumentPreparer:
    """Normalize and sketch one document (picklable, for worker processes)."""

    def __init__(self, config: IndexConfig, key: bytes, max_tokens: int) -> None:
        self.config = config
        self.key = key
        self.max_tokens = max_tokens
        self._hasher: TokenHasher | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "key": self.key, "max_tokens": self.max_tokens}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"], state["key"], state["max_tokens"])  # type: ignore[misc]

    def __call__(self, doc: Document) -> DocumentRecord | Skipped:
        if self._hasher is None:
            self._hasher = TokenHasher(self.key)
        try:
            normalized = normalize(doc.text, kind=doc.kind, language=doc.language)
            return prepare_document(
                doc, normalized, self.config, self._hasher, max_tokens=self.max_tokens
            )
        except InputError as exc:
            return Skipped(doc.source, str(exc))


_WORKER: DocumentPreparer | None = None
_WORKER_ARENA: _KeyArena | None = None

#: Slack glibc keeps at the top of the heap (M_TOP_PAD). Indexing allocates and
#: frees arrays of ~100 KB per document; by default the heap shrinks and grows
#: again around them: 1.25 M page faults and 6 s of system time building 1 M
#: text windows with --jobs 2, 95 k faults and 3 s with 64 MB of slack.
HEAP_SLACK = 64 << 20


def tune_memory_for_indexing() -> None:
    """Allocator settings for a process that indexes: the CLI's and the indexing workers'.

    Keeps `HEAP_SLACK` bytes at the top of the C heap (glibc only), and asks
    numpy not to advise huge pages for its large arrays. On this project's
    benchmark machine (a virtual machine whose memory its host backs when it
    is first touched), a huge page the kernel had not handed out before took
    about 3.5 ms to zero: 273 MB of fresh arrays took 0.47 s with huge pages,
    0.03 s when they had been used before, and 0.09 s with 4 KB pages either
    way. The standard library's final write (5.4 M pairs, alternating builds)
    took 0.39-0.58 s with huge pages and 0.21-0.32 s without with --jobs 1;
    with --jobs 2, 0.18-0.52 s with them (0.18-0.22 s where the workers' freed
    pages were reused) and 0.25-0.33 s without. 1 M text windows with --jobs 2,
    four builds each: 2.26 -> 2.07 s. A library call does not change its
    caller's settings.
    """
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(-2, HEAP_SLACK)  # -2: M_TOP_PAD in glibc's malloc.h
    except (OSError, AttributeError):  # not glibc: its allocator, its defaults
        log.debug("mallopt unavailable; heap slack left as it is")
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # numpy 1.x keeps it under its old name
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:
            log.debug("numpy's huge page advice cannot be turned off here")
            return
    _set_madvise_hugepage(False)


def _init_worker(preparer: DocumentPreparer, arena: _KeyArena | None = None) -> None:
    global _WORKER, _WORKER_ARENA
    _WORKER = preparer
    if arena is not None:
        arena.take_slot()
    _WORKER_ARENA = arena
    tune_memory_for_indexing()
    import signal  # here: 1.6 ms a check need not pay

    # Ctrl-C is the writing process's to handle: it stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _prepare_in_worker(docs: list[Document]) -> list[DocumentRecord | Skipped | _Shipped]:
    assert _WORKER is not None
    results = [_WORKER(doc) for doc in docs]
    if _WORKER_ARENA is None:
        return results  # type: ignore[return-value]
    arena = _WORKER_ARENA
    return [arena.ship(r) if isinstance(r, DocumentRecord) else r for r in results]


#: Address space of the shared memory each worker may place band keys in (see
#: `_KeyArena`): reserved, not allocated; only keys waiting to be written
#: occupy memory. 64 GB is 400 M text windows' keys per worker and run.
ARENA_SLICE = 1 << 36
#: mmap's flag for memory the kernel need not reserve swap for (Linux); Python
#: names it from 3.13 on.
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform == "linux" else 0)
_NO_KEYS = np.zeros((0, 0), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class _Shipped:
    """A record whose band keys wait in the arena: (slot, offset, shape) per channel."""

    record: DocumentRecord
    places: tuple[tuple[int, int, tuple[int, ...]], ...]


class _KeyArena:
    """Shared memory through which indexing workers hand the writing process their band keys.

    Pickled into the pool's pipe, keys (about 170 bytes per window, most of
    what a worker returns) were copied four times between the processes,
    and reading them took the writing process 0.4 s of CPU while the two
    workers prepared 1 M text windows, on two CPUs. The memory is mapped
    before the workers are forked, so all of them share it; each worker
    places its keys one after another in a slice of its own, in the order
    it prepares its tasks (the order the writing process reads them in),
    and the writing process gives back the pages of the keys it has copied
    into its `_RunKeys` or written (`release`). CLI builds with --jobs 2,
    old and new taking turns (which goes first switched every round), the
    same segments: 1 M text windows 2.325 -> 2.195 s (medians of twelve);
    the standard library 1.99 vs 1.98 s (of eight), its 43 MB of keys no
    burden to the pipe.
    """

    def __init__(self, jobs: int, context: Any) -> None:
        self.map = mmap.mmap(-1, jobs * ARENA_SLICE, flags=mmap.MAP_SHARED | _MAP_NORESERVE)
        self._jobs = jobs
        self._slots = context.Value("i", 0)
        self._slot = -1  # a worker's own
        self._next = 0  # in a worker, where its next keys go in its slice
        #: In the writing process, per slot: bytes read and bytes given back.
        self._read = [0] * jobs
        self._freed = [0] * jobs

    @classmethod
    def create(cls, jobs: int) -> _KeyArena | None:
        """An arena for `jobs` workers, or None where shared memory cannot be mapped so."""
        import multiprocessing

        if not hasattr(mmap, "MADV_REMOVE"):  # Linux's: pages could not be given back
            return None
        try:
            return cls(jobs, multiprocessing.get_context("fork"))
        except (OSError, ValueError, OverflowError, ImportError) as exc:  # ImportError: no sem_open
            log.debug("no shared memory for band keys (%s): they go through the pipe", exc)
            return None

    def take_slot(self) -> None:
        """In a new worker: take the next free slice."""
        with self._slots.get_lock():
            slot = self._slots.value
            self._slots.value += 1
        # A worker past the arena's slices (none is, but for one started anew)
        # returns its keys through the pipe.
        self._slot = slot if slot < self._jobs else -1

    def ship(self, record: DocumentRecord) -> DocumentRecord | _Shipped:
        """In a worker: the record with its keys moved to the arena (or as it is, if full)."""
        if self._slot < 0:
            return record
        places = []
        start = self._next
        for channel in record.channels:
            keys = np.ascontiguousarray(channel.keys, dtype=np.int64)
            if self._next + keys.nbytes > ARENA_SLICE:
                self._next = start  # the slice is spent: these keys go through the pipe
                return record
            at = self._slot * ARENA_SLICE + self._next
            np.frombuffer(self.map, dtype=np.int64, count=keys.size, offset=at)[:] = keys.ravel()
            places.append((self._slot, at, keys.shape))
            self._next += -(-keys.nbytes // 64) * 64  # cache-line aligned
        channels = tuple(dataclasses.replace(c, keys=_NO_KEYS) for c in record.channels)
        return _Shipped(dataclasses.replace(record, channels=channels), tuple(places))

    def receive(self, result: DocumentRecord | Skipped | _Shipped) -> DocumentRecord | Skipped:
        """In the writing process: a worker's result, its keys viewed where they wait."""
        if not isinstance(result, _Shipped):
            return result
        channels = []
        for channel, (slot, at, shape) in zip(result.record.channels, result.places, strict=True):
            size = math.prod(shape)
            keys = np.frombuffer(self.map, dtype=np.int64, count=size, offset=at).reshape(shape)
            channels.append(dataclasses.replace(channel, keys=keys))
            self._read[slot] = at + 8 * size - slot * ARENA_SLICE
        return dataclasses.replace(result.record, channels=tuple(channels))

    def release(self) -> None:
        """Give back the pages of every key received so far: they are written.

        A view of them reads zeros from now on.
        """
        for slot, read in enumerate(self._read):
            end = read - read % mmap.PAGESIZE  # the page keys are still added to stays
            if end > self._freed[slot]:
                base = slot * ARENA_SLICE
                try:
                    self.map.madvise(
                        mmap.MADV_REMOVE, base + self._freed[slot], end - self._freed[slot]
                    )
                except OSError as exc:  # kept, then: memory, not keys, is lost
                    log.debug("shared key pages not given back: %s", exc)
                self._freed[slot] = end

    def close(self) -> None:
        with contextlib.suppress(BufferError):  # views left in records keep it mapped
            self.map.close()


#: Documents a worker gets in one task: each task cost the writing process's
#: executor about 0.35 ms (4,000 results of 100 KB: 1.4 s of its CPU one by
#: one, 0.55-0.9 s four or eight to a task)...
TASK_DOCUMENTS = 8
#: ...and at most about this much text, so that a task stays one worker's share.
TASK_CHARS = 1 << 20
#: Text handed to the workers ahead of the document written next: they go on
#: preparing while the writing process commits (32 M pairs take it 3-5 s), as
#: they did under `multiprocessing.Pool`, whose feeder never stopped. Their
#: results wait in memory: about 5 bytes per character of prose.
AHEAD_CHARS = 32 << 20


def _tasks(docs: Iterator[Document]) -> Iterator[list[Document]]:
    task: list[Document] = []
    size = 0
    for doc in docs:
        task.append(doc)
        size += len(doc.text)
        if len(task) >= TASK_DOCUMENTS or size >= TASK_CHARS:
            yield task
            task, size = [], 0
    if task:
        yield task


def _prepared_in_workers(
    preparer: DocumentPreparer,
    docs: Iterator[Document],
    jobs: int,
    arenas: list[_KeyArena] | None = None,
) -> Iterator[DocumentRecord | Skipped]:
    """`map(preparer, docs)` in `jobs` worker processes, in input order.

    A process pool executor, not `multiprocessing.Pool`: the pool's thread
    that watches its workers woke whenever a result waited unread, and took
    1.1 s of the writing process's CPU while 1 M text windows were prepared
    (per-thread CPU times; py-spy showed it polling). The executor's one
    thread reads each result as it comes. A worker that dies (killed, out of
    memory) fails the run instead of hanging it. Given a list `arenas`, the
    workers hand over their records' keys through a `_KeyArena`, added to it
    when they start (the caller releases and closes it).
    """
    tasks = _tasks(docs)
    first = next(tasks, None)
    if first is None:  # nothing changed: no workers, nor their 50 ms of imports
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    arena = _KeyArena.create(jobs) if arenas is not None else None
    if arena is not None and arenas is not None:
        arenas.append(arena)
    executor = ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(preparer, arena),
    )
    _widen_pipes(executor)
    receive = arena.receive if arena is not None else _as_received
    ahead: deque[tuple[Future[list[DocumentRecord | Skipped | _Shipped]], int]] = deque()
    chars = 0  # of the documents in `ahead`
    try:
        try:
            for task in itertools.chain([first], tasks):
                size = sum(len(doc.text) for doc in task)
                ahead.append((executor.submit(_prepare_in_worker, task), size))
                chars += size
                while chars >= AHEAD_CHARS and len(ahead) > 2 * jobs:
                    done, size = ahead.popleft()
                    chars -= size
                    yield from map(receive, done.result())
            while ahead:
                yield from map(receive, ahead.popleft()[0].result())
        except BrokenProcessPool as exc:
            raise WorkerDiedError(
                "a worker process died while preparing documents (killed, or out of "
                "memory?); what was committed is kept: run again to go on"
            ) from exc
    except BaseException:  # also the caller closing this generator early
        executor.shutdown(wait=False, cancel_futures=True)
        # Workers busy with a large document are not left to finish it
        # (`_processes` is the executor's own: there is no public way).
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            process.terminate()
        raise
    executor.shutdown()


#: Bytes the pipes between the writing process and its workers hold (Linux
#: allows 1 MB without privileges; 64 KB by default). A task of text or a
#: result is 100 KB to 1 MB: through a 64 KB pipe a worker waited for the
#: writing process's threads (which share the CPUs with the workers) to pass
#: each one on, 60-80 ms per worker while the standard library was prepared.
PIPE_BYTES = 1 << 20


def _widen_pipes(executor: ProcessPoolExecutor) -> None:
    """Let the executor's task and result pipes hold `PIPE_BYTES` where the system allows.

    CLI builds with --jobs 2, alternating, the same segments: the standard
    library 1.64 -> 1.615 s (medians of ten), 1 M text windows 1.875 -> 1.79 s
    (of six). The pipes are the executor's own: there is no public way.
    """
    import fcntl

    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if setsize is None:
        return
    for queue in (getattr(executor, "_call_queue", None), getattr(executor, "_result_queue", None)):
        conn = getattr(queue, "_writer", None)
        if conn is None:
            continue
        try:
            fcntl.fcntl(conn.fileno(), setsize, PIPE_BYTES)
        except (OSError, ValueError) as exc:  # a lower limit (/proc/sys/fs/pipe-max-size)
            log.debug("pipe left at its size: %s", exc)


#: Address space for the band keys a one-process run holds before it writes
#: them (`_RunKeys`): more than a batch of `FLUSH_PAIRS` and the largest
#: document's keys; reserved, allocated only as used.
RUN_KEYS_BYTES = 1 << 31


class _RunKeys:
    """The band keys of the records a run holds, end to end in one buffer.

    The write then takes them as they lie (`stores.sqlite._joined`), where it
    copied every record's keys into one array: 1 M text windows' keys are
    168 MB, and fresh memory is slow to fault in on this project's benchmark
    machine (see `tune_memory_for_indexing`). The buffer's pages are used
    again by the next batch (`reset`). With workers, the keys are copied here
    as each record arrives, while the workers prepare the next, and their
    shared pages are given back at once (the copy had been the write's, after
    the last record: --jobs 2, alternating, the standard library 1.785 ->
    1.735 s, eight each; 1 M text windows 1.895 -> 1.86 s, six each).
    """

    def __init__(self) -> None:
        self.map = mmap.mmap(-1, RUN_KEYS_BYTES, flags=mmap.MAP_PRIVATE | _MAP_NORESERVE)
        self.whole = np.frombuffer(self.map, dtype=np.int64)
        self.next = 0  # in keys

    @classmethod
    def create(cls) -> _RunKeys | None:
        try:
            return cls()
        except (OSError, ValueError, OverflowError) as exc:
            log.debug("no buffer for a run's keys (%s): each record keeps its own", exc)
            return None

    def adopt(self, result: DocumentRecord | Skipped) -> DocumentRecord | Skipped:
        """The record with its keys moved to the buffer (as it is if they do not fit)."""
        if not isinstance(result, DocumentRecord):
            return result
        at = self.next
        channels = []
        for channel in result.channels:
            keys = channel.keys
            if at + keys.size > len(self.whole):
                return result
            place = self.whole[at : at + keys.size].reshape(keys.shape)
            place[...] = keys
            channels.append(dataclasses.replace(channel, keys=place))
            at += keys.size
        self.next = at
        return dataclasses.replace(result, channels=tuple(channels))

    def reset(self) -> None:
        """Start again at the buffer's start: every key adopted so far is written."""
        self.next = 0

    def close(self) -> None:
        self.whole = np.zeros(0, dtype=np.int64)
        with contextlib.suppress(BufferError):  # views left in records keep it mapped
            self.map.close()


def _as_received(result: DocumentRecord | Skipped | _Shipped) -> DocumentRecord | Skipped:
    assert not isinstance(result, _Shipped)  # shipped only through an arena
    return result


#: (band key, window) pairs a run holds before it commits, whatever the time:
#: 32 M pairs (1.5 M text windows) are 512 MB as written, and writing them
#: sorted takes about three times that at its peak.
FLUSH_PAIRS = 1 << 25

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Analysis:
    """Verified regions of one output, with its channel sizes, before any policy."""

    regions: tuple[Region, ...]
    channel_tokens: dict[str, int]
    notes: tuple[str, ...]
    #: Character spans of each channel's tokens (for the streaming guard's holdback).
    channel_spans: dict[str, Any] = field(default_factory=dict, compare=False)


#: Candidate documents verified first; the others only when one of these gives
#: a region strong enough to flag or act on. On bench/accuracy.py --quick,
#: screening 1, 2 or 4 documents gave the same recall and false positives as
#: verifying all 32; 2 keeps a margin for an output holding an idiom identical
#: to some other document, and costs 9.3 ms p50 per 2 KB check against 6.5 ms
#: for 1 and 10.2 ms for 4 (run beside another benchmark).
SCREEN_DOCUMENTS = 2


#: Windows of the candidate documents loaded at once for verification beyond
#: the screened ones (about 8 tokens a window, 8-10 bytes a token held: 4 MB).
#: The 30 documents after the screened two were loaded together: 40 protected
#: files of 1.9 MB that all held one function took a check of it to 219 MB;
#: 132 MB in batches, of which about 80 MB is the index's filters (W6).
VERIFY_BATCH_WINDOWS = 50_000


def _batches(
    doc_ids: list[int], infos: dict[int, DocumentInfo], windows: int
) -> Iterator[list[int]]:
    """`doc_ids` in order, in runs of at most `windows` windows (one document at least)."""
    batch: list[int] = []
    held = 0
    for doc_id in doc_ids:
        size = infos[doc_id].windows if doc_id in infos else 0
        if batch and held + size > windows:
            yield batch
            batch, held = [], 0
        batch.append(doc_id)
        held += size
    if batch:
        yield batch


def _anonymous_shingles(tokens: Sequence[str], shingle: int) -> np.ndarray:
    """Mask of the shingles whose tokens are all placeholders, literals or punctuation."""
    named = np.fromiter(
        (tok not in _PLACEHOLDERS and any(c.isalnum() or c == "_" for c in tok) for tok in tokens),
        dtype=np.int64,
        count=len(tokens),
    )
    if len(named) < shingle:
        return np.zeros(0, dtype=bool)
    return np.convolve(named, np.ones(shingle, dtype=np.int64), "valid") == 0


_PLACEHOLDERS = frozenset({"$v", "$n", "$s"})


class Guard:
    """Checks outputs against an index of protected material.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "guard.ipguard.db")
    >>> protected = "\\n".join(
    ...     f"Clause {i}: the licensee shall not redistribute the covered verses "
    ...     f"of chapter {i} without written consent of the keeper of the archive."
    ...     for i in range(6))
    >>> with Guard.open(path, create=True) as guard:
    ...     report = guard.index_texts([("poem", protected)])
    ...     guard.check("Unrelated words about gardening and tomatoes.").action
    ...     guard.check("Intro. " + protected.upper() + " Outro.").action
    'allow'
    'block'
    """

    def __init__(self, index: Index, policy: Policy | None = None) -> None:
        self.index = index
        self.policy = policy or Policy()
        self.background: Background | None = (
            Background.load(self.policy.background) if self.policy.background else None
        )

    @classmethod
    def open(
        cls,
        location: str,
        *,
        create: bool = False,
        policy: Policy | None = None,
        config: IndexConfig | None = None,
    ) -> Guard:
        """Open the index at `location` (a SQLite file path); `create` makes a new one."""
        return cls(Index.open(location, create=create, config=config), policy)

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the index."""
        self.index.close()

    # -- indexing ---------------------------------------------------------

    def index_paths(
        self,
        paths: Sequence[str],
        *,
        license: str | None = None,
        source_name: str | None = None,
        exclude: Sequence[str] = (),
        jsonl_field: str = "text",
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        progress: Progress | None = None,
        allow: bool = False,
        jobs: int = 1,
        checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS,
    ) -> IndexReport:
        """Index files, directories (recursively) and JSONL files.

        With `allow`, the files form the allow corpus instead: templates and
        boilerplate that must never block; output matching them is exempt.

        Unchanged files are skipped by content hash; changed ones replace their
        old version in the same transaction. `progress` is called with the
        bytes of each input read; `jobs` and `checkpoint_seconds` are those of
        `index_documents`.
        """
        options = IngestOptions(
            license=license,
            source_name=source_name,
            exclude=tuple(exclude),
            jsonl_field=jsonl_field,
            max_file_bytes=max_file_bytes,
            role="allow" if allow else "protected",
            unchanged=self._holds_file,
        )
        return self.index_documents(
            walk(paths, options),
            progress=progress,
            max_tokens=max_tokens,
            jobs=jobs,
            checkpoint_seconds=checkpoint_seconds,
        )

    def index_texts(
        self,
        items: Iterable[tuple[str, str]],
        *,
        kind: Kind | None = None,
        language: str | None = None,
        license: str | None = None,
        source_name: str | None = None,
        allow: bool = False,
    ) -> IndexReport:
        """Index in-memory texts given as (source, text) pairs (`allow`: as the allow corpus)."""
        from .normalize import detect_kind

        docs = (
            Document(
                source=source,
                text=text,
                kind=kind or ("code" if language else detect_kind(text)),
                language=language,
                license=license,
                source_name=source_name,
                role="allow" if allow else "protected",
            )
            for source, text in items
        )
        return self.index_documents(docs)

    def _holds_file(self, source: str, stamp: str) -> bool:
        """Whether the index holds the file at `source` as stamped (size, mtime)."""
        info = self.index.store.document_by_source(source)
        return info is not None and info.stamp == stamp

    def index_documents(
        self,
        docs: Iterable[Document | Skipped | Unchanged],
        *,
        progress: Progress | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        jobs: int = 1,
        checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS,
    ) -> IndexReport:
        """Index documents, committing whole documents at least every `checkpoint_seconds`.

        A killed run keeps what it committed, so the next run redoes at most
        that much; a run that ends sooner commits once. Documents over
        `max_tokens` normalized tokens in a channel are skipped with the
        reason, like binary or oversized files. With `jobs` > 1, normalization
        and sketching run in that many worker processes; the documents are
        written in input order, so the index is the same whatever `jobs` is.
        """
        counts = {"unchanged": 0, "read": 0}
        skipped: list[Skipped] = []
        pending: list[DocumentInfo | None] = []  # the stored version each work item replaces
        restamp: list[tuple[int, str]] = []  # unchanged files whose stamp moved (touched)

        def work() -> Iterator[Document]:
            for item in docs:
                if isinstance(item, Skipped):
                    skipped.append(item)
                    log.info("skipped %s: %s", item.source, item.reason)
                    continue
                if isinstance(item, Unchanged):  # known by its stamp, not read again
                    counts["unchanged"] += 1
                    if progress:
                        progress(item.size)
                    continue
                size = len(item.text.encode("utf-8", "surrogatepass"))
                counts["read"] += size
                existing = self.index.store.document_by_source(item.source)
                if existing is not None and existing.content_hash == content_hash(item.text):
                    counts["unchanged"] += 1
                    if item.stamp is not None and item.stamp != existing.stamp:
                        restamp.append((existing.doc_id, item.stamp))
                    if progress:
                        progress(size)
                    continue
                pending.append(existing)
                yield item

        preparer = DocumentPreparer(self.index.config, self.index.hasher.key, max_tokens)
        arenas: list[_KeyArena] = []  # made when workers start (nothing changed: none)
        run_keys = _RunKeys.create()
        results: Iterator[DocumentRecord | Skipped]
        if jobs > 1:
            results = _prepared_in_workers(preparer, work(), jobs, arenas)
        else:
            results = map(preparer, work())
        holding = False  # a record of this batch keeps its keys in the arena
        added = replaced = windows = batch_pairs = 0
        adds: list[DocumentRecord] = []
        removes: list[DocumentInfo] = []
        committed = time.monotonic()
        try:
            # Segments are merged once, at the end (which also deletes files an
            # interrupted run left, even when nothing changed).
            with self.index.bulk():
                for done, result in enumerate(results):
                    existing = pending[done]
                    if run_keys is not None:
                        adopted = run_keys.adopt(result)
                        holding |= adopted is result and isinstance(result, DocumentRecord)
                        result = adopted
                    if not holding:
                        # The keys read so far are copied: their shared pages
                        # serve the workers' next keys, not the write.
                        for arena in arenas:
                            arena.release()
                    if progress:
                        progress(result.size if isinstance(result, DocumentRecord) else 0)
                    if isinstance(result, Skipped):
                        skipped.append(result)
                        continue
                    if existing is not None:
                        removes.append(existing)
                        replaced += 1
                    else:
                        added += 1
                    adds.append(result)
                    windows += result.windows
                    batch_pairs += sum(c.keys.size for c in result.channels)
                    if (
                        batch_pairs >= FLUSH_PAIRS
                        or time.monotonic() - committed >= checkpoint_seconds
                    ):
                        self.index.write(adds, removes)
                        adds, removes, batch_pairs = [], [], 0
                        for arena in arenas:
                            arena.release()  # what was read is written
                        holding = False
                        if run_keys is not None:
                            run_keys.reset()
                        committed = time.monotonic()
                if adds or removes:
                    self.index.write(adds, removes, last=True)
                if restamp:  # the next run need not read them
                    self.index.store.update_stamps(restamp)
        finally:
            if isinstance(results, Generator):
                results.close()  # stops the workers, if the run failed
            for arena in arenas:
                arena.close()
            if run_keys is not None:
                run_keys.close()
        return IndexReport(
            added, replaced, counts["unchanged"], windows, counts["read"], tuple(skipped)
        )

    def remove(self, *, source: str | None = None, source_name: str | None = None) -> int:
        """Delete documents by source (path) or source name; returns how many."""
        import os

        infos: list[DocumentInfo] = []
        if source is not None:
            for candidate in (source, os.path.abspath(source)):
                info = self.index.store.document_by_source(candidate)
                if info is not None:
                    infos.append(info)
                    break
        if source_name is not None:
            infos.extend(self.index.store.documents_by_name(source_name))
        unique = list({i.doc_id: i for i in infos}.values())
        for start in range(0, len(unique), BATCH_DOCUMENTS):
            self.index.write([], unique[start : start + BATCH_DOCUMENTS])
        return len(unique)

    # -- checking ---------------------------------------------------------

    def check(self, text: str, *, kind: Kind | None = None, language: str | None = None) -> Verdict:
        """The verdict on one output, with the protected matches that explain it."""
        return self.decide(self.analyse(text, kind=kind, language=language))

    def decide(self, analysis: Analysis) -> Verdict:
        """The verdict the policy gives an analysis (see `analyse`)."""
        documents = self.index.store.documents(sorted({r.doc_id for r in analysis.regions}))
        return decide(
            analysis.regions, analysis.channel_tokens, documents, self.policy, analysis.notes
        )

    def analyse(
        self, text: str, *, kind: Kind | None = None, language: str | None = None
    ) -> Analysis:
        """Every verified region of an output before the policy is applied.

        `check` is this plus `decide`; benchmarks use it to sweep policies.
        Evidence is already weighted: by rarity in the background corpus, and
        to zero for structure shared by many protected documents or exempted
        by an `ipguard: allow` pragma.
        """
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > self.policy.max_input_bytes:
            raise LimitExceededError(
                f"output of {size} bytes exceeds the {self.policy.max_input_bytes}-byte limit "
                "(max_input_bytes)",
                limit="max_input_bytes",
            )
        deadline = time.monotonic() + self.policy.max_check_seconds
        timeout = LimitExceededError(
            f"check of a {size}-byte output exceeded the {self.policy.max_check_seconds} s "
            "time limit (max_check_seconds)",
            limit="max_check_seconds",
        )
        normalized = normalize(text, kind=kind, language=language)
        channels = self.index.query_channels(normalized)
        exempt = exempt_spans(text)
        regions: list[Region] = []
        store = self.index.store
        for cands in self.index.candidates(channels):
            if time.monotonic() > deadline:
                raise timeout
            query = next(c for c in channels if c.channel == cands.channel)
            cfg = self.index.config.channel(cands.channel)

            ranked = rank_documents(cands)
            # The documents a verification pass may align with, fetched in one
            # round trip: one query each was a tenth of checking code (W2).
            loaded = store.load_channels(ranked[:SCREEN_DOCUMENTS].tolist(), cands.channel)
            tokens_in_channel = len(query.ids)
            try:
                found = verify(
                    query,
                    cands,
                    loaded.get,
                    cfg,
                    documents=ranked[:SCREEN_DOCUMENTS],
                    deadline=deadline,
                )
                # The rest only matter when something may act: they can add a
                # match, and they tell structure shared by many documents
                # (common_across_documents) from a copy.
                if len(ranked) > SCREEN_DOCUMENTS and any(
                    region_strength(r, tokens_in_channel, self.policy) != "none" for r in found
                ):
                    rest = ranked[SCREEN_DOCUMENTS:].tolist()
                    for batch in _batches(rest, store.documents(rest), VERIFY_BATCH_WINDOWS):
                        loaded = store.load_channels(batch, cands.channel)
                        found += verify(
                            query, cands, loaded.get, cfg, documents=batch, deadline=deadline
                        )
                        del loaded  # before the next batch loads
            except TimeoutError:
                raise timeout from None
            if not found:
                continue
            tokens = normalized.channel(cands.channel).tokens
            allowed = {
                doc_id
                for doc_id, info in store.documents(sorted({r.doc_id for r in found})).items()
                if info.role == "allow"
            }
            kept = [r for r in found if r.doc_id not in allowed]
            regions.extend(
                self._weigh(query, tokens, kept, exempt, [r for r in found if r.doc_id in allowed])
            )
        sizes = {c.channel: len(c.ids) for c in channels}
        spans = {c.channel: c.spans for c in channels}
        return Analysis(tuple(regions), sizes, normalized.notes, spans)

    def _weigh(
        self,
        query: Any,
        tokens: Sequence[str],
        regions: list[Region],
        exempt: list[tuple[int, int]],
        allowed: list[Region],
    ) -> list[Region]:
        """Regions with evidence weighted by rarity, shared structure, pragmas, allow corpus."""
        if not regions:
            return regions
        shingle = self.index.config.channel(query.channel).shingle
        q_hashes = shingle_hashes(query.ids, shingle)
        weights = np.ones(len(q_hashes))
        for region in allowed:
            weights[shingle_positions(region, shingle)] = 0.0
        if self.background is not None:
            public = shingle_hashes(background_hasher().ids(query.channel, tokens), shingle)
            weights *= self.background.weights(public, self.policy.rarity_scale)
        if exempt:
            token_exempt = np.zeros(len(query.ids) + 1, dtype=np.int64)
            for start, end in exempt:
                inside = (query.spans[:, 0] >= start) & (query.spans[:, 1] <= end)
                token_exempt[:-1] |= inside
            # a shingle touching an exempt token is exempt
            window = np.convolve(token_exempt[:-1], np.ones(shingle, dtype=np.int64), "valid")
            weights[window[: len(weights)] > 0] = 0.0
        if query.channel == "code" and self.policy.anonymous_weight < 1.0:
            weights[_anonymous_shingles(tokens, shingle)] *= self.policy.anonymous_weight
        by_document: dict[int, list[Region]] = {}
        for region in regions:
            by_document.setdefault(region.doc_id, []).append(region)
        cover = np.zeros(len(q_hashes), dtype=np.int64)
        for held in by_document.values():
            mask = np.zeros(len(q_hashes), dtype=bool)
            for region in held:
                mask[shingle_positions(region, shingle)] = True
            cover += mask
        weights[cover >= self.policy.common_across_documents] = 0.0
        hash_list, weight_list = q_hashes.tolist(), weights.tolist()
        return [
            r.with_evidence(int(round(weighted_evidence(r, hash_list, weight_list, shingle))))
            for r in regions
        ]

    def filter(
        self,
        text: str,
        *,
        kind: Kind | None = None,
        language: str | None = None,
        action: Action | None = None,
    ) -> str:
        """`text` as a user may see it: unchanged, with copied spans redacted, or blocked.

        `action` ("redact" or "block") overrides what matches that act do.
        """
        return apply(text, self.check(text, kind=kind, language=language), self.policy, action)

    def verify(self) -> list[str]:
        """Problems with the index's data (empty when it is sound)."""
        return self.index.store.integrity_problems(self.index.config.bands)

    def stats(self) -> IndexStats:
        """Documents, windows, bytes on disk and configuration of the index."""
        documents, windows = self.index.stats_counts()
        return IndexStats(
            location=self.index.store.location,
            documents=documents,
            windows=windows,
            bytes_on_disk=self.index.store.size_bytes(),
            config=self.index.config.to_record(),
        )


def default_background_paths() -> list[str]:
    """The running interpreter's standard library and installed packages."""
    import sysconfig

    paths = sysconfig.get_paths()
    return sorted({paths["stdlib"], paths["purelib"], paths["platlib"]})


def build_background(
    paths: Sequence[str],
    *,
    exclude: Sequence[str] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    progress: Progress | None = None,
    config: IndexConfig | None = None,
) -> Background:
    """Count normalized shingles over a background corpus of public code and prose.

    Paths are walked like `index_paths`; nothing is stored but shingle hashes
    (under a fixed public key) and how many documents hold each.
    """
    from .background import document_shingles

    cfg = config or IndexConfig()
    tokens = background_hasher()
    per_document = []
    options = IngestOptions(exclude=tuple(exclude), max_file_bytes=max_file_bytes)
    for item in walk(paths, options):
        if isinstance(item, Skipped):
            continue
        normalized = normalize(item.text, kind=item.kind, language=item.language)
        per_document.append(document_shingles(normalized, cfg, tokens))
        if progress:
            progress(len(item.text))
    return Background.from_documents(per_document, sources=[str(p) for p in paths])
