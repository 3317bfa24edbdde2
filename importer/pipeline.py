"""reader -> mapper -> bounded queue -> N async workers -> reporter.

Every input row produces exactly one RowResult: invalid rows straight from the mapper, the
others from the worker that sent them, and rows that could not be sent after an abort as
``failed`` with the reason. The queue is bounded, so memory does not grow with the file.
"""

from __future__ import annotations

import array
import asyncio
import datetime as dt
import logging
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from .client import KelviqClient, NotSent, Outcome, Sleep
from .config import ImportConfig
from .contract import Payload, Refusal, differences, refusal
from .errors import ImporterError, InputError, OutputError, RunAborted
from .journal import Journal, JournalEntry, default_state_path, payload_hash
from .logs import event
from .mapping import InputSettings, Mapped, Mapping, RowMapper, create_payload, load_mapping
from .problems import Problem
from .readers import EXCEL_SUFFIXES, Table, open_table
from .report import Reporter, RowResult, Summary, default_report_dir, file_sha256
from .timeline import Timeline

__all__ = ["run_import", "prepare", "Prepared"]

OnResult = Callable[[RowResult], None]


@dataclass(frozen=True)
class Prepared:
    """An input checked and ready: its table, compiled mapping and in-file duplicates."""

    table: Table
    mapping: Mapping
    mapper: RowMapper
    rows: int
    duplicates: dict[str, list[int]]  # customerId -> the rows that share it
    on_duplicate: str = "error"

    def mapped(self) -> Iterator[Mapped]:
        dups = self.duplicates
        keep_first = self.on_duplicate == "first"
        for src in self.table.rows():
            item = self.mapper.map(src)
            if dups and item.customer_id in dups:
                rows = dups[item.customer_id]
                if self.on_duplicate != "error":
                    kept = rows[0] if keep_first else rows[-1]
                    if item.row != kept:
                        why = Problem(
                            kind=f"is a duplicate of an imported row (--on-duplicate {self.on_duplicate})",
                            column=self.mapper.id_column,
                            value=item.customer_id,
                            detail=f"row {kept} is imported",
                        )
                        item = replace(item, payload=None, problems=(why,), skipped=True)
                    yield item
                    continue
                others = [r for r in rows if r != item.row]
                shown = ", ".join(str(r) for r in others[:5])
                more = f" and {len(others) - 5} more" if len(others) > 5 else ""
                problem = Problem(
                    kind="appears more than once in the file: keep one row per customer, "
                    "or use --on-duplicate first|last",
                    column=self.mapper.id_column,
                    value=item.customer_id,
                    detail=f"{len(rows)} times; also row{'s' if len(others) > 1 else ''} {shown}{more}",
                )
                item = replace(item, payload=None, problems=(*item.problems, problem))
            yield item


def prepare(config: ImportConfig) -> Prepared:
    """Open the input, resolve the mapping, and find duplicate customerIds: no network."""
    from_file = load_mapping(config.mapping) if config.mapping else None
    settings = from_file.input if from_file is not None else InputSettings()
    workbook = config.input.name.lower().endswith(EXCEL_SUFFIXES)
    # Flags win over the mapping's [input]; a setting that does not apply to this kind of file
    # (a sheet for the failed.csv of a workbook, an encoding for a workbook) is left out.
    table = open_table(
        config.input,
        sheet=config.sheet or (settings.sheet if workbook else None),
        encoding=config.encoding or (None if workbook else settings.encoding),
        delimiter=config.delimiter or (None if workbook else settings.delimiter),
        header_row=config.header_row or settings.header_row,
    )
    mapping = from_file or Mapping.guess(table.columns)
    mapper = mapping.compile(table.columns, where=str(config.input), empty=config.empty)  # type: ignore[arg-type]
    rows, duplicates = _scan_ids(table, mapper)
    if rows == 0 and not config.allow_empty:
        # Loud by default: a nightly export that arrives with a header and nothing else is
        # far more often a broken export than an empty customer list.
        raise InputError(
            f"{config.input}: no data rows below the header (line {table.header_row}); "
            "pass --allow-empty if an empty file is normal for this job"
        )
    return Prepared(table, mapping, mapper, rows, duplicates, config.on_duplicate)


def _scan_ids(table: Table, mapper: RowMapper) -> tuple[int, dict[str, list[int]]]:
    """Count rows and find customerIds used more than once, in 8 bytes a row.

    A first pass keeps only a 64-bit hash per row and sorts them in place; only when two
    hashes are equal does a second pass collect the rows of those candidates, comparing the
    ids themselves, so a hash collision can never pass for a duplicate.
    """
    import numpy as np

    hashes = array.array("q")
    count = 0
    for src in table.rows():
        count += 1
        cid = mapper.customer_id(src)
        if cid:
            hashes.append(hash(cid))
    if len(hashes) < 2:
        return count, {}
    h = np.frombuffer(hashes, dtype=np.int64)
    h.sort()  # in place: no second copy of a million-row array
    same = h[1:] == h[:-1]
    if not same.any():
        return count, {}
    candidates = set(np.unique(h[1:][same]).tolist())
    del h, same, hashes
    rows_by_id: dict[str, list[int]] = {}
    for src in table.rows():
        cid = mapper.customer_id(src)
        if cid and hash(cid) in candidates:
            rows_by_id.setdefault(cid, []).append(src.row)
    return count, {cid: rows for cid, rows in rows_by_id.items() if len(rows) > 1}


FAILURE_RATE_MIN_ROWS = 20  # a failure rate means little before this many rows were sent


@dataclass
class _RunState:
    timeline: Timeline
    abort: ImporterError | None = None
    stop_signal: int | None = None
    sent_rows: int = 0
    failed_rows: int = 0
    on_stop: Callable[[], None] | None = None  # set by the driver: stop the client sending

    def stop(self, *, abort: ImporterError | None = None, signum: int | None = None) -> None:
        """The first reason to stop wins; from now on no request starts."""
        if self.abort is None and self.stop_signal is None:
            self.abort, self.stop_signal = abort, signum
            if self.on_stop is not None:
                self.on_stop()

    def not_sent_reason(self) -> str | None:
        if self.stop_signal is not None:
            return (
                f"not sent: interrupted by {signal.Signals(self.stop_signal).name}; "
                "run the same command again to finish"
            )
        if self.abort is not None:
            return f"not sent: run aborted: {self.abort}"
        return None


def run_import(
    config: ImportConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
    on_result: OnResult | None = None,
    prepared: Prepared | None = None,
    timeline: Timeline | None = None,
) -> Summary:
    """Import ``config.input`` and write the report; returns the Summary.

    Raises InputError/UsageError before anything is sent, and RunAborted when another run
    holds the journal. A run that stops early (refused key, error budget, SIGINT/SIGTERM)
    still writes a full report and returns a Summary whose ``aborted`` says why.

    ``on_result`` sees every row's result as it is written; ``timeline`` (pass one to watch
    a run from another thread, as the progress display does) collects the live figures.
    """
    prepared = prepared or prepare(config)
    journal = None
    if config.use_state and not config.dry_run:
        journal = Journal.open(config.state or default_state_path(config.base_url), base_url=config.base_url)
    try:
        return _run(config, prepared, journal, transport, sleep, on_result, timeline or Timeline())
    finally:
        if journal is not None:
            journal.close()


def _run(
    config: ImportConfig,
    prepared: Prepared,
    journal: Journal | None,
    transport: httpx.AsyncBaseTransport | None,
    sleep: Sleep | None,
    on_result: OnResult | None,
    timeline: Timeline,
) -> Summary:
    report_dir = config.report_dir or default_report_dir(config.report_root)
    table = prepared.table
    protected = tuple(p for p in (config.input, config.mapping, journal.path if journal else None) if p)
    reporter = Reporter(
        report_dir, table.columns, encoding=table.encoding, delimiter=table.delimiter, protected=protected
    )
    event(
        logging.INFO,
        "run_start",
        f"{'validating' if config.dry_run else 'importing'} {config.input} ({prepared.rows} rows, "
        f"mode {config.mode}) into {'nothing (dry run)' if config.dry_run else config.base_url}",
        input=str(config.input),
        rows=prepared.rows,
        mode=config.mode,
        base_url=None if config.dry_run else config.base_url,
        concurrency=config.concurrency,
        rate=config.rate,
        report_dir=str(report_dir),
    )
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    timeline.total = prepared.rows
    state = _RunState(timeline)
    aborted: str | None = None
    try:
        asyncio.run(_pipeline(config, prepared, journal, reporter, state, transport, sleep, on_result))
    except KeyboardInterrupt:
        aborted = "interrupted"
        raise
    finally:
        if state.stop_signal is not None:
            aborted = f"interrupted by {signal.Signals(state.stop_signal).name}"
        elif state.abort is not None:
            aborted = str(state.abort)
        elapsed = time.perf_counter() - t0
        summary = Summary(
            input=str(config.input),
            input_sha256=file_sha256(Path(config.input)),
            base_url=None if config.dry_run else config.base_url,
            dry_run=config.dry_run,
            counts={k: reporter.counts[k] for k in sorted(reporter.counts)},
            rows=reporter.total,
            started_at=started.isoformat(timespec="seconds"),
            finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            duration_s=round(elapsed, 3),
            rows_per_second=round(reporter.total / elapsed, 1) if elapsed > 0 else 0.0,
            report_dir=str(report_dir),
            aborted=aborted,
            signal=state.stop_signal,
            mapping=prepared.mapping.describe(),
            extra={
                "mode": config.mode,
                "journal": str(journal.path) if journal is not None else None,
                "requests": timeline.requests,
                "retries": timeline.retries,
                "sheet": prepared.table.sheet,
                "encoding": prepared.table.encoding,
                "delimiter": prepared.table.delimiter,
                "header_row": prepared.table.header_row,
                "on_duplicate": prepared.on_duplicate,
                "problems": reporter.problems_json(),
                "unused_columns": list(prepared.mapper.unused),
                "limit": config.limit,
            },
        )
        reporter.close(summary, timeline.series())
        if aborted:
            event(
                logging.WARNING, "abort", f"run aborted: {aborted}", reason=aborted, signal=state.stop_signal
            )
        level = logging.WARNING if aborted else logging.INFO
        counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items()) or "no rows"
        event(
            level,
            "run_end",
            f"{'aborted: ' + aborted + '; ' if aborted else ''}{summary.rows} rows: {counts} "
            f"in {summary.duration_s:.1f} s; report {report_dir}",
            counts=summary.counts,
            rows=summary.rows,
            duration_s=summary.duration_s,
            requests=timeline.requests,
            retries=timeline.retries,
            aborted=aborted,
        )
    return summary


_Work = tuple[Mapped, "JournalEntry | None", bytes]


async def _pipeline(
    config: ImportConfig,
    prepared: Prepared,
    journal: Journal | None,
    reporter: Reporter,
    state: _RunState,
    transport: httpx.AsyncBaseTransport | None,
    sleep: Sleep | None,
    on_result: OnResult | None,
) -> None:
    debug = logging.getLogger("kelviq_import").isEnabledFor(logging.DEBUG)

    timeline = state.timeline

    def emit(result: RowResult) -> None:
        reporter.write(result)
        timeline.row(result.status)
        if debug:
            event(
                logging.DEBUG,
                "row",
                f"row {result.row} {result.customer_id!r}: {result.status}"
                + (f" ({result.error})" if result.error else ""),
                row=result.row,
                customer_id=result.customer_id,
                status=result.status,
                http_status=result.http_status,
                attempts=result.attempts,
            )
        if on_result is not None:
            on_result(result)

    if config.dry_run:
        for item in prepared.mapped():
            emit(_unsent(item, "valid", None) if item.payload is not None else _invalid(item))
        return

    def on_retry(reason: str, wait: float) -> None:
        timeline.retry(reason, wait)
        event(
            logging.INFO, "retry", f"retrying in {wait:.2f} s: {reason}", reason=reason, wait_s=round(wait, 3)
        )

    api = KelviqClient(
        config.base_url,
        config.api_key,
        concurrency=config.concurrency,
        rate=config.rate,
        timeout=config.timeout,
        retry=config.retry,
        transport=transport,
        sleep=sleep,
        on_retry=on_retry,
        on_response=timeline.response,
    )
    restore = _catch_stop_signals(state)
    try:
        async with api:
            await _drive(config, prepared, journal, api, state, emit)
    finally:
        restore()


GRACE_S = 3.0  # after a stop signal, how long requests in flight may still finish


async def _drive(
    config: ImportConfig,
    prepared: Prepared,
    journal: Journal | None,
    api: KelviqClient,
    state: _RunState,
    emit: OnResult,
) -> None:
    queue: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=config.concurrency * 4)
    checked = False
    # Tasks inside a request now (workers, the pre-flight): what the grace period cancels.
    inflight: set[asyncio.Future[Any]] = set()
    loop = asyncio.get_running_loop()

    def stop_sending() -> None:
        # Nothing new starts; what is in flight gets GRACE_S, then is cancelled (not_sent:
        # a re-run reconciles it through the journal's intents).
        api.stop()

        def cancel() -> None:
            for task in inflight:
                task.cancel()

        loop.call_later(GRACE_S, cancel)

    state.on_stop = stop_sending

    async def preflight_once() -> None:
        # Before the first row that needs a request, not before the run: a re-run where
        # nothing changed costs no request at all, and a refused key or an unreachable API
        # still sends no row.
        nonlocal checked
        if not checked:
            checked = True
            task = asyncio.ensure_future(api.preflight())
            inflight.add(task)  # a stop signal cancels it after the grace, like any request
            try:
                await asyncio.wait({task})
            finally:
                inflight.discard(task)
            exc = None if task.cancelled() else task.exception()
            if isinstance(exc, RunAborted) and not isinstance(exc, OutputError):
                state.stop(abort=exc)  # AuthenticationError, Unreachable, not the kelviq API
            elif exc is not None and not isinstance(exc, NotSent):
                raise exc

    deliver = _Delivery(config, api, journal)

    def count(result: RowResult) -> None:
        state.sent_rows += 1
        if result.status == "failed":
            state.failed_rows += 1
            if state.abort is None and (budget := _budget_exceeded(config, state)) is not None:
                state.stop(abort=budget)

    async def worker(lane: int) -> None:
        api.use_lane(lane)
        while (work := await queue.get()) is not None:
            item, known, digest = work
            reason = state.not_sent_reason()
            if reason is not None:
                emit(_unsent(item, "not_sent", reason))
                continue
            # The worker awaits the delivery itself (a task per row cost a third of the
            # throughput); being in ``inflight`` lets the grace period cancel it mid-request.
            me = asyncio.current_task()
            assert me is not None
            inflight.add(me)
            try:
                result = await deliver(item, known, digest)
            except asyncio.CancelledError:
                if state.not_sent_reason() is None:
                    raise  # not the grace period's cancel: the run itself is being torn down
                emit(_unsent(item, "not_sent", f"{state.not_sent_reason()} (cancelled in flight)"))
                continue  # the queue still holds rows to report not_sent
            except NotSent:
                emit(_unsent(item, "not_sent", state.not_sent_reason() or "not sent"))
                continue
            except RunAborted as exc:
                if isinstance(exc, OutputError):
                    raise
                state.stop(abort=exc)  # a refused key, an unreachable API
                emit(_unsent(item, "not_sent", state.not_sent_reason()))
                continue
            finally:
                inflight.discard(me)
            count(result)
            emit(result)

    async def produce() -> None:
        queued = 0
        for item in prepared.mapped():
            if item.payload is None:
                emit(_invalid(item))
                continue
            reason = state.not_sent_reason()
            if reason is not None and queue.empty():
                emit(_unsent(item, "not_sent", reason))
                continue
            digest = payload_hash(item.payload)
            known = journal.get(item.customer_id) if journal is not None else None
            if known is not None and known.payload_hash == digest and not config.full:
                emit(
                    RowResult(
                        row=item.row,
                        customer_id=item.customer_id,
                        status="unchanged",
                        kelviq_id=known.kelviq_id,
                        cells=item.cells,
                    )
                )
                continue
            if config.limit is not None and queued >= config.limit:
                emit(_unsent(item, "not_sent", f"not sent: a trial run (--limit {config.limit})"))
                continue
            await preflight_once()
            if (reason := state.not_sent_reason()) is not None:
                emit(_unsent(item, "not_sent", reason))
                continue
            await queue.put((item, known, digest))
            queued += 1
        for _ in workers:
            await queue.put(None)

    workers = [asyncio.create_task(worker(i)) for i in range(config.concurrency)]
    producer = asyncio.create_task(produce())
    tasks = [producer, *workers]
    try:
        # A worker that dies (a report or journal that cannot be written) must stop the
        # producer too, or it would wait forever for room in the queue.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        await asyncio.gather(*tasks)
    finally:
        for pending in [*tasks, *inflight]:
            pending.cancel()


def _budget_exceeded(config: ImportConfig, state: _RunState) -> RunAborted | None:
    failed, sent = state.failed_rows, state.sent_rows
    if config.max_failures is not None and failed > config.max_failures:
        return RunAborted(
            f"error budget exhausted: {failed} rows failed (--max-failures {config.max_failures})"
        )
    rate = config.max_failure_rate
    if rate is not None and sent >= FAILURE_RATE_MIN_ROWS and failed / sent > rate:
        return RunAborted(
            f"error budget exhausted: {failed} of {sent} rows sent failed "
            f"({failed / sent:.0%} > --max-failure-rate {rate:g})"
        )
    return None


class _Delivery:
    """One row's conversation with the API under the chosen mode, and the journal entry after.

    How each refusal is read is contract.refusal's business; where an answer does not say
    whether the customer exists, kelviq is asked (KelviqClient.exists) before deciding.
    """

    def __init__(self, config: ImportConfig, api: KelviqClient, journal: Journal | None) -> None:
        self.mode = config.mode
        self.on_conflict = config.on_conflict
        self.api = api
        self.journal = journal

    async def _refusal(self, outcome: Outcome, cid: str) -> Refusal | None:
        """What a refused write means: None when it was no refusal (gave up, 5xx, bad 2xx)."""
        answer = outcome.answer
        if outcome.ok or answer is None or not 400 <= answer.status < 500 or answer.status == 429:
            return None
        kind = refusal(answer)
        if kind == "unclear":
            found = await self.api.exists(cid)
            if found is not None:
                kind = "exists" if found else "unknown"
        return kind

    async def _ours(self, outcome: Outcome, cid: str, payload: Payload, intent: bytes | None) -> bool:
        """After "already exists": was it this importer's own earlier POST (an answer lost in
        this run, or in a run killed mid-request, per the journal's intent)? Then kelviq holds
        what we sent; a look at the customer confirms it where the API allows."""
        if not outcome.uncertain and intent is None:
            return False
        found = await self.api.retrieve(cid)
        if found.ok and found.body is not None:
            return not differences(payload, found.body)
        return outcome.uncertain or intent == payload_hash(payload)

    async def __call__(self, item: Mapped, known: JournalEntry | None, digest: bytes) -> RowResult:
        assert item.payload is not None
        cid, payload = item.customer_id, item.payload
        attempts = 0
        journal = self.journal
        intent = journal.intent(cid) if journal is not None else None
        if journal is not None:
            journal.record_intent(cid, digest)

        def result(status: str, outcome: Outcome, error: str | None = None) -> RowResult:
            kelviq_id = outcome.kelviq_id or (known.kelviq_id if known else None)
            if status in ("created", "updated") and journal is not None:
                journal.record(cid, digest, kelviq_id)
            return RowResult(
                row=item.row,
                customer_id=cid,
                status=status,
                http_status=outcome.http_status,
                kelviq_id=kelviq_id,
                attempts=attempts,
                error=error if error is not None else outcome.error,
                cells=item.cells,
            )

        if self.mode == "update" or (self.mode == "upsert" and known is not None):
            outcome = await self.api.update(cid, payload)
            attempts += outcome.attempts
            if outcome.ok:
                return result("updated", outcome)
            kind = await self._refusal(outcome, cid)
            if kind != "unknown":
                return result("failed", outcome)
            if self.mode == "update":
                return result(
                    "failed", outcome, f"no customer {cid!r} in kelviq (--mode update): {outcome.error}"
                )
            # The journal knew it, the API does not (deleted since): create it again.
            if journal is not None:
                journal.forget(cid)
            known = None
        outcome = await self.api.create(create_payload(payload))
        attempts += outcome.attempts
        if outcome.ok:
            return result("created", outcome)
        if await self._refusal(outcome, cid) != "exists":
            return result("failed", outcome)
        if await self._ours(outcome, cid, payload, intent):
            # An earlier attempt of ours reached the API before its answer was lost.
            return result("created", outcome, "")
        if self.mode == "upsert":
            outcome = await self.api.update(cid, payload)
            attempts += outcome.attempts
            return result("updated" if outcome.ok else "failed", outcome)
        if self.on_conflict == "unchanged":
            return result("unchanged", outcome, "already exists in kelviq; left as it is")
        return result(
            "failed", outcome, f"customer {cid!r} already exists in kelviq (--mode create): {outcome.error}"
        )


def _catch_stop_signals(state: _RunState) -> Callable[[], None]:
    """First SIGINT/SIGTERM: stop sending, finish what is in flight, write the report.
    A second one: the default action (immediate stop)."""
    loop = asyncio.get_running_loop()
    installed: list[int] = []

    def stop(signum: int) -> None:
        state.stop(signum=signum)
        for sig in installed:
            loop.remove_signal_handler(sig)
        installed.clear()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop, sig)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread (embedded use): leave signals to the host
        installed.append(sig)

    def restore() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return restore


def _invalid(item: Mapped) -> RowResult:
    return RowResult(
        row=item.row,
        customer_id=item.customer_id,
        status="skipped" if item.skipped else "invalid",
        error=item.problem,
        cells=item.cells,
        problems=item.problems,
    )


def _unsent(item: Mapped, status: str, error: str | None) -> RowResult:
    return RowResult(row=item.row, customer_id=item.customer_id, status=status, error=error, cells=item.cells)
