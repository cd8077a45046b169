"""End to end through the Python API: every language, prose, redaction, removal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import PROTECTED_PROSE
from samples import PROTECTED, UNRELATED, disguise

from ipguard import Guard, Policy
from ipguard.errors import InputError

LANGUAGES = sorted(PROTECTED)


@pytest.mark.parametrize("language", LANGUAGES)
def test_renamed_reformatted_copy_is_blocked_naming_its_source(guard: Guard, language: str) -> None:
    answer = f"Here is the function.\n\n```{language}\n{disguise(language)}\n```\n"
    verdict = guard.check(answer)
    assert verdict.action == "block"
    top = verdict.matches[0]
    expected = "typescript" if language == "tsx" else language
    assert Path(top.source).name.startswith(f"intervals_{expected}.")
    assert top.license == "LicenseRef-test"
    first, last = top.source_lines
    assert 1 <= first < last <= PROTECTED[language].count("\n") + 1


_EXPLANATION = (
    "The approach below sorts the items by their first field, then walks through them "
    "once, extending the current group while the next item belongs to it. Sorting "
    "dominates the running time, so the whole function runs in O(n log n) time and uses "
    "O(n) extra space. If the input is already sorted you can skip the sort entirely. "
)


def _unfenced_answers(code: str) -> dict[str, str]:
    """An answer's code without a fence: indented among prose, in HTML, numbered."""
    escaped = code.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    indented = "\n".join("    " + line if line.strip() else "" for line in code.splitlines())
    return {
        "indented": "Here is how you can do it:\n\n"
        + indented
        + "\n\nThis runs in O(n log n) time because of the sort.\n",
        "html": f"<p>Here is the code:</p>\n<pre><code>{escaped}</code></pre>\n<p>Done.</p>\n",
        "numbered": "\n".join(f"{i + 1:3d}  {line}" for i, line in enumerate(code.splitlines())),
        # Mostly prose: read as prose, its indented code had become words.
        "indented-in-long-prose": _EXPLANATION * 3 + "\n\n" + indented + "\n\n" + _EXPLANATION,
        "indented-beside-a-fence": "```text\nsample output\n```\n\n" + indented + "\n",
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_copy_without_a_fence_in_an_answer_is_blocked(guard: Guard, language: str) -> None:
    # Kotlin's grammar, after a line of prose, took a stray quote for a string
    # and made the rest one token; numbered lines shared no shingle.
    for form, answer in _unfenced_answers(disguise(language)).items():
        assert guard.check(answer).action == "block", form


@pytest.mark.parametrize("language", LANGUAGES)
def test_unrelated_code_is_allowed(guard: Guard, language: str) -> None:
    verdict = guard.check(f"```{language}\n{UNRELATED[language]}\n```")
    assert verdict.action == "allow", verdict.matches


def test_protected_paragraph_with_new_casing_and_punctuation_is_blocked(guard: Guard) -> None:
    disguised = PROTECTED_PROSE.upper().replace(",", " -").replace(".", "!")
    verdict = guard.check("As requested: " + disguised)
    assert verdict.action == "block"
    assert verdict.matches[0].channel == "text"
    assert verdict.matches[0].source.endswith("chart.txt")


def test_unrelated_code_without_a_fence_is_allowed(guard: Guard) -> None:
    for language in LANGUAGES:
        for form, answer in _unfenced_answers(UNRELATED[language]).items():
            assert guard.check(answer).action == "allow", (language, form)


def test_novel_prose_and_empty_output_are_allowed(guard: Guard) -> None:
    assert guard.check("").action == "allow"
    novel = "A bakery on the corner sells rye loaves on Tuesdays and closes early in August."
    assert guard.check(novel).action == "allow"


def test_redact_replaces_exactly_the_matched_span(built_index: Path) -> None:
    intro, outro = "Intro sentence that is new. ", " Closing words that are new too."
    text = intro + PROTECTED_PROSE + outro
    with Guard.open(str(built_index), policy=Policy(action="redact")) as guard:
        verdict = guard.check(text)
        assert verdict.action == "redact"
        start, end = verdict.matches[0].output_span
        assert text[start:end].startswith("The cartographers")
        assert text[start:end].endswith("lock and key")
        filtered = guard.filter(text)
    assert filtered == intro + Policy().redact_marker + "." + outro


def test_block_replaces_the_whole_output(guard: Guard) -> None:
    assert guard.filter("So: " + PROTECTED_PROSE) == guard.policy.block_message
    assert guard.filter("So: " + PROTECTED_PROSE, action="redact").startswith("So: [ipguard")


def test_invalid_utf8_is_replaced_and_still_checked(guard: Guard, tmp_path: Path) -> None:
    from ipguard.ingest import read_input

    raw = b"\xff\xfe" + PROTECTED_PROSE.encode() + b"\xc3"
    path = tmp_path / "out.txt"
    path.write_bytes(raw)
    _name, text = read_input(str(path), max_bytes=1 << 20)
    assert "\ufffd" in text
    assert guard.check(text).action == "block"


def test_oversized_output_is_refused_not_passed(built_index: Path) -> None:
    policy = Policy(max_input_bytes=100)
    with (
        Guard.open(str(built_index), policy=policy) as guard,
        pytest.raises(InputError, match="limit"),
    ):
        guard.check("x" * 200)


def test_reindexing_unchanged_files_is_a_no_op_and_changes_replace(
    corpus_dir: Path, tmp_path: Path
) -> None:
    index = str(tmp_path / "i.db")
    work = tmp_path / "src"
    work.mkdir()
    (work / "a.py").write_text(PROTECTED["python"])
    (work / "b.txt").write_text(PROTECTED_PROSE)
    with Guard.open(index, create=True) as guard:
        first = guard.index_paths([str(work)])
        assert (first.added, first.unchanged) == (2, 0)
        again = guard.index_paths([str(work)])
        assert (again.added, again.replaced, again.unchanged, again.windows) == (0, 0, 2, 0)
        (work / "b.txt").write_text("Completely different words about sailing boats and knots.")
        changed = guard.index_paths([str(work)])
        assert (changed.replaced, changed.unchanged) == (1, 1)
        assert guard.stats().documents == 2
        assert guard.check(PROTECTED_PROSE).action == "allow"


def test_remove_deletes_every_trace(corpus_dir: Path, tmp_path: Path) -> None:
    import sqlite3

    index = str(tmp_path / "r.db")
    with Guard.open(index, create=True) as guard:
        guard.index_paths([str(corpus_dir)], source_name="samples")
        before = guard.stats()
        removed = guard.remove(source=str(corpus_dir / "chart.txt"))
        assert removed == 1
        assert guard.check(PROTECTED_PROSE).action == "allow"
        assert guard.stats().documents == before.documents - 1
        assert guard.remove(source_name="samples") == before.documents - 1
        assert guard.stats().documents == 0
    db = sqlite3.connect(index)
    for table in ("documents", "channels", "segments"):
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    assert not list(Path(f"{index}.bands").iterdir())  # no segment file holds a band key


@pytest.mark.parametrize("language", LANGUAGES)
def test_partial_copy_without_its_signature_is_blocked(guard: Guard, language: str) -> None:
    # The middle of the function, renamed and reformatted, after novel code:
    # it uses parameters and helpers whose declarations it leaves out.
    lines = disguise(language).splitlines()
    body = lines[len(lines) // 5 : len(lines) - len(lines) // 5]
    head = f"```{language}\n{UNRELATED[language]}\n"
    answer = head + "\n".join(body) + "\n```\n"
    verdict = guard.check(answer)
    assert verdict.action == "block"
    # and the match spans most of the copied lines, not just a lucky stretch
    covered = sum(
        min(end, len(answer)) - max(start, len(head))
        for start, end in (m.output_span for m in verdict.matches if m.action == "block")
        if end > len(head)
    )
    assert covered >= 0.8 * len("\n".join(body)), covered


def _prepared(text: str, source: str):  # type: ignore[no-untyped-def]
    from ipguard.config import IndexConfig
    from ipguard.guard import DocumentPreparer
    from ipguard.model import Document

    record = DocumentPreparer(IndexConfig(), bytes(32), 1_000_000)(
        Document(source=source, text=text, kind="text")
    )
    assert sum(c.keys.size for c in record.channels) * 8 > 3 * 4096  # over several pages
    return record


def _key_arena(jobs: int = 2):  # type: ignore[no-untyped-def]
    import multiprocessing

    from ipguard.guard import _KeyArena

    arena = _KeyArena(jobs, multiprocessing.get_context("fork"))
    arena.take_slot()
    return arena


def test_keys_shipped_through_the_arena_arrive_whole_and_the_pickle_without_them() -> None:
    import pickle

    from ipguard.guard import _Shipped

    record = _prepared(PROTECTED_PROSE * 20, "a.txt")
    arena = _key_arena()
    shipped = arena.ship(record)
    assert isinstance(shipped, _Shipped)
    sent = pickle.dumps(shipped)
    keys_bytes = sum(c.keys.nbytes for c in record.channels)
    assert len(sent) < len(pickle.dumps(record)) - 0.9 * keys_bytes
    received = arena.receive(pickle.loads(sent))
    for got, want in zip(received.channels, record.channels, strict=True):
        assert got.keys.shape == want.keys.shape
        assert (got.keys == want.keys).all()
        assert (got.ids == want.ids).all()
    arena.close()


def test_releasing_the_arena_keeps_the_keys_not_yet_received() -> None:
    first = _prepared(PROTECTED_PROSE * 20, "a.txt")
    second = _prepared(PROTECTED_PROSE.upper() * 21, "b.txt")
    arena = _key_arena()
    shipped = [arena.ship(first), arena.ship(second)]
    early = arena.receive(shipped[0])
    arena.release()  # the first record is written: its whole pages go back
    assert not early.channels[0].keys.ravel()[:512].any()
    late = arena.receive(shipped[1])
    for got, want in zip(late.channels, second.channels, strict=True):
        assert (got.keys == want.keys).all()
    arena.close()


def test_keys_that_do_not_fit_the_arena_go_with_the_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ipguard.guard as guard_module

    monkeypatch.setattr(guard_module, "ARENA_SLICE", 8192)
    record = _prepared(PROTECTED_PROSE * 20, "a.txt")
    arena = _key_arena()
    assert arena.ship(record) is record
    arena.close()


def test_a_worker_beyond_the_arenas_slices_sends_its_keys_with_the_record() -> None:
    record = _prepared(PROTECTED_PROSE * 20, "a.txt")
    arena = _key_arena(jobs=1)
    arena.take_slot()  # a second worker for one slice
    assert arena.ship(record) is record
    arena.close()


def test_without_a_way_to_give_pages_back_there_is_no_arena(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mmap

    from ipguard.guard import _KeyArena

    assert _KeyArena.create(2) is not None
    monkeypatch.delattr(mmap, "MADV_REMOVE")
    assert _KeyArena.create(2) is None


def test_the_workers_pipes_are_widened_where_the_system_allows() -> None:
    import fcntl
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ipguard.guard import PIPE_BYTES, _widen_pipes

    getsize = getattr(fcntl, "F_GETPIPE_SZ", None)
    if getsize is None:
        pytest.skip("pipe sizes are Linux's")
    executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    try:
        pipes = [executor._call_queue._writer, executor._result_queue._writer]  # type: ignore[attr-defined]
        assert all(fcntl.fcntl(p.fileno(), getsize) < PIPE_BYTES for p in pipes)
        _widen_pipes(executor)
        assert all(fcntl.fcntl(p.fileno(), getsize) == PIPE_BYTES for p in pipes)
        assert executor.submit(abs, -3).result() == 3  # and they still carry work
    finally:
        executor.shutdown()
    _widen_pipes(object())  # type: ignore[arg-type]  # an executor without them: left alone


def test_indexing_with_workers_widens_their_pipes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipguard import guard as guard_module

    widened: list[object] = []
    real = guard_module._widen_pipes
    monkeypatch.setattr(
        guard_module, "_widen_pipes", lambda executor: widened.append(executor) or real(executor)
    )
    work = tmp_path / "src"
    work.mkdir()
    (work / "a.py").write_text(PROTECTED["python"])
    with Guard.open(str(tmp_path / "i.db"), create=True) as guard:
        assert guard.index_paths([str(work)], jobs=2).added == 1
    assert len(widened) == 1


def _table(rows: int, name: str, call: str) -> str:
    """A generated table: every line alike once numbers and names are normalized."""
    lines = [f"def {name}():", "    rows = []"]
    lines += [f"    rows.append({call}({i}, {i * 7 % 13}, 'k{i % 5}'))" for i in range(rows)]
    return "\n".join([*lines, "    return rows", ""])


def test_a_repetitive_output_against_a_repetitive_file_is_bounded_and_still_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every window of such a file shares every key with every other: one
    # check of 30 table lines against 6,000 made 5 M candidate triples (2.5 s,
    # 680 MB). Past MAX_CANDIDATE_PAIRS a document keeps a few windows per key.
    import ipguard.index as index_module

    work = tmp_path / "src"
    work.mkdir()
    (work / "table.py").write_text(_table(1500, "table", "make_row"))
    output = "Here:\n\n```python\n" + _table(30, "build", "make_entry") + "```\n"
    seen: list[int] = []
    real = index_module.Index.candidates

    def candidates(self, channels):  # type: ignore[no-untyped-def]
        found = real(self, channels)
        seen.append(sum(len(c.doc_ids) for c in found))
        return found

    monkeypatch.setattr(index_module.Index, "candidates", candidates)
    with Guard.open(str(tmp_path / "i.db"), create=True) as guard:
        guard.index_paths([str(work)])
        monkeypatch.setattr(index_module, "MAX_CANDIDATE_PAIRS", 1 << 40)
        assert guard.check(output).action == "block"
        monkeypatch.setattr(index_module, "MAX_CANDIDATE_PAIRS", 20_000)
        verdict = guard.check(output)
    uncapped, capped = seen
    assert uncapped > 20_000
    assert capped <= 20_000
    assert verdict.action == "block"
    assert verdict.matches[0].source.endswith("table.py")


def test_few_per_document_keeps_each_documents_first_windows_per_key() -> None:
    from ipguard.index import KEY_WINDOWS_PER_DOCUMENT, _few_per_document
    from ipguard.stores import window_base

    k = KEY_WINDOWS_PER_DOCUMENT
    wins = np.array(
        [window_base(2, "code") + i for i in range(k + 5)]
        + [window_base(1, "code") + i for i in range(3)]
        + [window_base(2, "code") + i for i in range(4)],
        dtype=np.int64,
    )
    keys = np.array([7] * (k + 5) + [7] * 3 + [9] * 4, dtype=np.int64)
    order = np.random.default_rng(3).permutation(len(keys))
    few = _few_per_document(keys[order], wins[order])
    kept_keys, kept_wins = keys[order][few], wins[order][few]
    # In (key, window) order, as `_best_documents_first` takes them fastest.
    assert np.array_equal(np.lexsort((kept_wins, kept_keys)), np.arange(len(few)))
    kept = sorted(zip(kept_keys.tolist(), kept_wins.tolist(), strict=True))
    expected = sorted(
        [(7, window_base(2, "code") + i) for i in range(k)]
        + [(7, window_base(1, "code") + i) for i in range(3)]
        + [(9, window_base(2, "code") + i) for i in range(4)]
    )
    assert kept == expected


#: The same opening in every file of a corpus, as a licence banner or a
#: framework's set-up code would be.
_SHARED_OPENING = """import logging
import os

log = logging.getLogger("orchard")
SETTINGS = {"retries": 3, "backoff": 0.5, "region": os.environ.get("REGION", "north")}


def connect(settings, attempt=0):
    while attempt < settings["retries"]:
        try:
            return open_channel(settings["region"], timeout=30)
        except ChannelError as error:
            log.warning("attempt %d failed: %s", attempt, error)
            attempt += 1
            pause(settings["backoff"] * attempt)
    raise ChannelError("no channel after %d attempts" % attempt)

"""


def _generated_function(seed: int) -> str:
    """A function of random statements: unlike any other once normalized."""
    rng = np.random.default_rng(seed)
    shapes = [
        "    {a} = {b} + {c} * 2",
        "    if {a} > {b}:\n        {c} = {a} - 1",
        "    for {a} in range({b}):\n        {c}.append({a})",
        "    {a} = helper({b}, {c})",
        "    while {a}:\n        {a} = {a} // 3",
        "    {a} = [{b}, {c}][0]",
        "    {a} = not {b} and {c}",
        "    {a}.update({b}={c})",
    ]
    names = ["alpha", "beta", "gamma", "delta"]
    body = [
        shapes[int(i)].format(a=names[i % 4], b=names[(i + 1) % 4], c=names[(i + 2) % 4])
        for i in rng.integers(0, len(shapes), 30)
    ]
    return f"def generated_{seed}(alpha, beta, gamma, delta):\n" + "\n".join(body) + "\n"


def _shared_opening_corpus(tmp_path: Path) -> Path:
    """150 files of generated code and one holding the intervals sample, all opening alike."""
    work = tmp_path / "src"
    work.mkdir()
    for seed in range(150):
        (work / f"module_{seed}.py").write_text(_SHARED_OPENING + _generated_function(seed))
    (work / "intervals.py").write_text(_SHARED_OPENING + PROTECTED["python"])
    return work


def _indexed_opening_corpus(tmp_path: Path) -> tuple[Guard, str]:
    """An open index of `_shared_opening_corpus`, and an output: the opening, then a copy."""
    guard = Guard.open(str(tmp_path / "i.db"), create=True)
    guard.index_paths([str(_shared_opening_corpus(tmp_path))])
    return guard, f"```python\n{_SHARED_OPENING}{disguise('python')}\n```\n"


def test_an_output_sharing_an_opening_with_many_files_is_bounded_and_its_source_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each file holds the opening once, so keeping a few windows per document
    # and key does not bound this: past MAX_CANDIDATE_PAIRS the documents
    # sharing most keys with the output keep theirs, up to the bound.
    import ipguard.index as index_module

    work = _shared_opening_corpus(tmp_path)
    output = f"```python\n{_SHARED_OPENING}{disguise('python')}\n```\n"
    seen: list[int] = []
    real = index_module.Index.candidates

    def candidates(self, channels):  # type: ignore[no-untyped-def]
        found = real(self, channels)
        # triples per channel: each channel is bounded on its own
        seen.append(max(int(c.band_hits.sum()) for c in found))
        return found

    monkeypatch.setattr(index_module.Index, "candidates", candidates)
    with Guard.open(str(tmp_path / "i.db"), create=True) as guard:
        guard.index_paths([str(work)])
        monkeypatch.setattr(index_module, "MAX_CANDIDATE_PAIRS", 1 << 40)
        whole = guard.check(output)
        bound = seen[0] // 4
        monkeypatch.setattr(index_module, "MAX_CANDIDATE_PAIRS", bound)
        bounded = guard.check(output)
    assert seen[1] <= bound
    for verdict in (whole, bounded):
        assert verdict.action == "block"
        assert Path(verdict.matches[0].source).name == "intervals.py"
    assert [m.source for m in bounded.matches] == [m.source for m in whole.matches]


def test_a_check_looks_up_a_bounded_number_of_windows_per_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The opening's keys are held by 151 files each; with a budget of 20
    # windows per key (the floor), a check reads at most that many of each,
    # and still finds the copy and takes the opening for shared structure.
    import ipguard.index as index_module

    guard, output = _indexed_opening_corpus(tmp_path)
    with guard:
        store = guard.index.store
        looked_up: list[np.ndarray] = []
        real = store.lookup

        def lookup(keys, limit=None):  # type: ignore[no-untyped-def]
            found = real(keys, limit)
            looked_up.append(found[0])
            return found

        monkeypatch.setattr(store, "lookup", lookup)
        monkeypatch.setattr(index_module, "LOOKUP_WINDOWS", 1 << 20)  # every window of a key
        whole = guard.check(output)
        monkeypatch.setattr(index_module, "LOOKUP_WINDOWS", 0)
        monkeypatch.setattr(index_module, "MIN_WINDOWS_PER_KEY", 20)
        bounded = guard.check(output)
    assert np.unique(looked_up[0], return_counts=True)[1].max() > 150
    assert np.unique(looked_up[1], return_counts=True)[1].max() == 20
    assert bounded.action == whole.action == "block"
    assert [m.source for m in bounded.matches] == [m.source for m in whole.matches]
    assert Path(bounded.matches[0].source).name == "intervals.py"


def test_documents_past_the_screened_ones_are_verified_a_bounded_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 40 protected files of 1.9 MB holding one function took a check of it to
    # 219 MB when the 30 after the screened two were loaded together.
    from ipguard import guard as guard_module

    guard, output = _indexed_opening_corpus(tmp_path)
    with guard:
        store = guard.index.store
        batches: list[list[int]] = []
        real = store.load_channels

        def load_channels(doc_ids, channel):  # type: ignore[no-untyped-def]
            batches.append(list(doc_ids))
            return real(doc_ids, channel)

        monkeypatch.setattr(store, "load_channels", load_channels)
        whole = guard.check(output)
        together = len(batches)
        budget = 2 * max(info.windows for info in store.documents(range(1, 200)).values())
        monkeypatch.setattr(guard_module, "VERIFY_BATCH_WINDOWS", budget)
        store._forget()  # nothing cached: every batch is read
        bounded = guard.check(output)
        infos = store.documents(range(1, 200))
    later = batches[together + 1 :]  # after the screened documents
    assert len(later) > 1
    assert all(sum(infos[d].windows for d in batch) <= budget for batch in later)
    assert [d for batch in later for d in batch] == [d for b in batches[1:together] for d in b]
    assert bounded == whole


def test_batches_keep_the_order_and_hold_one_large_document_alone() -> None:
    from ipguard.guard import _batches
    from ipguard.stores import DocumentInfo

    def info(doc_id: int, windows: int) -> DocumentInfo:
        return DocumentInfo(doc_id, f"s{doc_id}", None, None, None, "h", windows)

    infos = {1: info(1, 40), 2: info(2, 50), 3: info(3, 500), 4: info(4, 10), 5: info(5, 90)}
    assert list(_batches([1, 2, 3, 4, 5, 6], infos, 100)) == [[1, 2], [3], [4, 5, 6]]
    assert list(_batches([], infos, 100)) == []


def test_a_cpp_header_named_dot_h_is_indexed_as_cpp(tmp_path: Path) -> None:
    # Read with the C grammar, the header's templates and `std::` became
    # errors and placeholders, and a copy matched a shorter span, weaker.
    answer = f"```cpp\n{disguise('cpp')}\n```\n"
    found = {}
    for name in ("intervals.h", "intervals.hpp"):
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        (folder / name).write_text(PROTECTED["cpp"], encoding="utf-8")
        with Guard.open(str(folder / "index.ipguard.db"), create=True) as guard:
            guard.index_paths([str(folder / name)])
            verdict = guard.check(answer)
        assert verdict.action == "block"
        top = verdict.matches[0]
        found[name] = (top.similarity, top.evidence, top.source_lines, top.output_span)
    assert found["intervals.h"] == found["intervals.hpp"]


#: The team's own Perl module, mostly documentation, as CPAN modules are.
_PERL_MODULE = """package Ledger::Totals;

=head1 NAME

Ledger::Totals - keeps running totals of a ledger, account by account

=head1 DESCRIPTION

Each entry of the ledger adds its amount to its account's total; closed
ledgers are skipped with a warning, given once per ledger.

=cut

sub new {
    my ( $class, %args ) = @_;
    my $self = bless { ledger => $args{ledger}, totals => {}, warned => {} }, $class;
    return $self;
}

sub refresh_totals {
    my $self   = shift;
    my $ledger = $self->{ledger};
    unless ( $ledger->is_open ) {
        $self->warn_once( $ledger->name, "ledger closed" );
        return;
    }
    foreach my $entry ( $ledger->entries ) {
        next if $entry->is_void;
        $self->{totals}{ $entry->account } += $entry->amount;
    }
    return $self->{totals};
}

sub warn_once {
    my ( $self, $name, $message ) = @_;
    return if $self->{warned}{$name}++;
    warn sprintf( "%s: %s\\n", $name, $message );
}

1;
"""


def test_a_sub_of_an_indexed_perl_module_is_caught_labelled_or_not(tmp_path: Path) -> None:
    # Perl has no grammar here: its module is read by the lexer, and a sub of
    # it must be too, whatever it looks like (`$self->` is PHP's as well).
    module = tmp_path / "Totals.pm"
    module.write_text(_PERL_MODULE, encoding="utf-8")
    start = _PERL_MODULE.index("sub refresh_totals")
    sub = _PERL_MODULE[start : _PERL_MODULE.index("sub warn_once")]
    with Guard.open(str(tmp_path / "index.ipguard.db"), create=True) as guard:
        guard.index_paths([str(module)])
        renamed = sub.replace("$ledger", "$book").replace("$entry", "$line")
        for verdict in (
            guard.check(sub, language="perl"),
            guard.check(sub),
            guard.check(f"Here is one way:\n\n```perl\n{sub}```\n"),
            guard.check(renamed.replace("refresh_totals", "update_sums")),
        ):
            assert verdict.action == "block"
            assert verdict.matches[0].source == str(module)


#: The team's own prose in scripts written without spaces between words.
_CHINESE = (
    "在很久很久以前，有一个小村庄坐落在群山之间。村里的人们每天清晨都会到河边打水，然"
    "后在田野里辛勤劳作，直到太阳落山。村长是一位年迈的老人，他每年都会记录下庄稼的收"
    "成和天气的变化，并把这些记录保存在祠堂的木箱里。有一年夏天，连续下了四十天的大雨"
    "，河水漫过了堤岸，冲走了半个村子的房屋。村长翻开木箱里的旧册子，发现六十年前也发"
    "生过同样的洪水，当时的村民在山腰上挖了一条水渠，把河水引向了东边的山谷。于是他召"
    "集了所有的年轻人，沿着旧册子里画的路线，重新挖开了那条早已被泥土填满的水渠。"
)
_JAPANESE = (
    "むかしむかし、山あいの小さな村に、一人の年老いた地図職人が住んでいました。彼は毎"
    "朝早く起きて、川のほとりを歩き、海岸線の形を丁寧に書き写していました。職人には一"
    "つだけ決まりがありました。海岸線は必ず水の上から描くこと、決して岸から描いてはな"
    "らないということです。なぜなら、岸は自分の形について嘘をつくからです。測量船には"
    "いつも二本の測鉛と銅の六分儀が積まれ、どの測定も別々の手で二度行われてから、港の"
    "事務所の金庫にしまわれた原図に書き込まれました。"
)
_NOVEL_CHINESE = (
    "城市的另一头有一家很小的面包店，店主每天凌晨三点起床揉面。她相信好面包需要时间，"
    "所以从不使用快速发酵的方法。附近的学生常常在放学后来买刚出炉的小圆面包，而退休的"
    "老师们则喜欢在周末的早晨坐在窗边，一边喝茶一边看报纸。"
)


def test_prose_without_spaces_between_words_is_matched_in_part_and_edited(
    tmp_path: Path,
) -> None:
    # Each clause had been one word: a paragraph gave too few for a window,
    # and a part of it or one changed character matched nothing.
    for name, text in (("zh.txt", _CHINESE), ("ja.txt", _JAPANESE)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    with Guard.open(str(tmp_path / "index.ipguard.db"), create=True) as guard:
        guard.index_paths([str(tmp_path / "zh.txt"), str(tmp_path / "ja.txt")])
        for text in (_CHINESE, _JAPANESE):
            third = text[len(text) // 3 : 2 * len(text) // 3]
            edited = "".join(
                "的" if i % 25 == 10 and c not in "，。、" else c for i, c in enumerate(text)
            )
            for output in (third, edited, "以下是内容：\n\n" + third + "\n\n希望对你有帮助。"):
                verdict = guard.check(output)
                assert verdict.action == "block"
                assert verdict.matches[0].channel == "text"
        assert guard.check(_NOVEL_CHINESE).action == "allow"
