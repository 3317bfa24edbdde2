"""The run: prepared input -> bounded queue -> N async workers -> reporter, as one object.

Every input row produces exactly one RowResult: invalid rows straight from the mapper, the
others from the worker that sent them, and rows never tried (interrupt, abort, --limit) as
``not_sent`` with the reason. The queue is bounded, so memory does not grow with the file.
``arun_import`` is the async core; ``run_import`` a thin sync wrapper for callers with no loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .absent import Absentees, check_absent
from .baseline import Remote, TooLarge, pages_for
from .client import KelviqClient, Sleep
from .config import ImportConfig
from .delivery import Delivery
from .errors import AuthenticationError, ImporterError, NotSent, OutputError, RunAborted, Unreachable
from .journal import Journal, default_state_path
from .logs import event
from .mapping import Mapped
from .metrics import RunMetrics, write_metrics
from .planner import NOT_LISTED, Rules, Send, Skip, decide
from .prepare import Prepared, prepare
from .report import Reporter, RowResult, Summary, counts_text, default_report_dir, file_sha256
from .sources import materialised
from .statuses import Status
from .syncapi import refuse_running_loop
from .timeline import Timeline

__all__ = ["Prepared", "arun_import", "prepare", "run_import"]

OnResult = Callable[[RowResult], None]
FAILURE_RATE_MIN_ROWS = 20  # a failure rate means little before this many rows were sent
GRACE_S = 3.0  # after a stop signal, how long requests in flight may still finish


@dataclass
class _Control:
    """Why the run is stopping, if it is, and the counts the error budget reads."""

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

    @property
    def aborted(self) -> str | None:
        if self.stop_signal is not None:
            return f"interrupted by {signal.Signals(self.stop_signal).name}"
        return str(self.abort) if self.abort is not None else None


def run_import(
    config: ImportConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
    on_result: OnResult | None = None,
    prepared: Prepared | None = None,
    timeline: Timeline | None = None,
    handle_signals: bool = False,
) -> Summary:
    """Import ``config.input`` and write the report; returns the Summary.

    Raises InputError/UsageError before anything is sent, and RunAborted when another run
    holds the journal. A run that stops early (refused key, error budget, SIGINT/SIGTERM)
    still writes a full report and returns a Summary whose ``aborted`` says why.

    ``on_result`` sees every row's result as it is written; ``timeline`` (pass one to watch
    a run from another thread, as the progress display does) collects the live figures.
    ``handle_signals``: a first SIGINT/SIGTERM stops the run gracefully (the CLI's choice);
    a library leaves the host's signals alone unless asked, and always restores them.
    Inside a running event loop (Jupyter, an async task), use ``await arun_import(...)``.
    """
    refuse_running_loop("run_import", "arun_import")
    return asyncio.run(
        arun_import(
            config,
            transport=transport,
            sleep=sleep,
            on_result=on_result,
            prepared=prepared,
            timeline=timeline,
            handle_signals=handle_signals,
        )
    )


async def arun_import(
    config: ImportConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
    on_result: OnResult | None = None,
    prepared: Prepared | None = None,
    timeline: Timeline | None = None,
    handle_signals: bool = False,
) -> Summary:
    """``run_import`` for callers inside an event loop; the same arguments and Summary.

    Reading and mapping the file (``prepare``) is blocking work done on the loop's thread;
    a host that must stay responsive meanwhile can run ``prepare`` in a thread first and pass
    ``prepared``.
    """
    try:
        summary = await _arun(
            config,
            transport=transport,
            sleep=sleep,
            on_result=on_result,
            prepared=prepared,
            timeline=timeline,
            handle_signals=handle_signals,
        )
    except ImporterError as exc:
        _write_metrics(config, exit_code=exc.exit_code, summary=None)
        raise
    _write_metrics(config, exit_code=summary.exit_code, summary=summary)
    return summary


def _write_metrics(config: ImportConfig, *, exit_code: int, summary: Summary | None) -> None:
    """The run as metrics (--metrics-file), whatever its end: finished, aborted or refused."""
    if config.metrics_file is None:
        return
    name = config.job_name or Path(config.input_name or str(config.input)).name.split(".")[0] or "import"
    write_metrics(
        config.metrics_file,
        RunMetrics(
            job=name,
            exit_code=exit_code,
            counts=summary.counts if summary is not None else {},
            duration_s=summary.duration_s if summary is not None else 0.0,
            requests=summary.requests if summary is not None else 0,
            throttled=summary.throttled if summary is not None else 0,
            rate_limit_found=summary.rate_limit_found if summary is not None else None,
            absent=summary.absent if summary is not None else None,
        ),
    )


async def _arun(
    config: ImportConfig,
    *,
    transport: httpx.AsyncBaseTransport | None,
    sleep: Sleep | None,
    on_result: OnResult | None,
    prepared: Prepared | None,
    timeline: Timeline | None,
    handle_signals: bool,
) -> Summary:
    with materialised(config) as ready:
        prepared = prepared or prepare(ready)
        journal = None
        if ready.use_journal and not ready.dry_run:
            journal = Journal.open(
                ready.journal or default_state_path(ready.base_url, ready.shard), base_url=ready.base_url
            )
        try:
            run = _Run(
                config=ready,
                prepared=prepared,
                journal=journal,
                timeline=timeline or Timeline(),
                transport=transport,
                sleep=sleep,
                on_result=on_result,
            )
            return await run.execute(handle_signals=handle_signals)
        finally:
            if journal is not None:
                journal.close()


@dataclass
class _Run:
    """One import: its settings, input, journal, report and live state, and the async work."""

    config: ImportConfig
    prepared: Prepared
    journal: Journal | None
    timeline: Timeline
    transport: httpx.AsyncBaseTransport | None = None
    sleep: Sleep | None = None
    on_result: OnResult | None = None
    control: _Control = field(default_factory=_Control)
    reporter: Reporter = field(init=False)
    report_dir: Path = field(init=False)
    baseline: str | None = field(init=False, default=None)  # set when kelviq's list was used
    absentees: Absentees | None = field(init=False, default=None)  # set by --absent

    def __post_init__(self) -> None:
        config, table, journal = self.config, self.prepared.table, self.journal
        self.report_dir = config.report_dir or default_report_dir(config.report_root)
        protected = tuple(p for p in (config.path, config.mapping, journal.path if journal else None) if p)
        self.reporter = Reporter(
            self.report_dir,
            table.columns,
            encoding=table.encoding,
            delimiter=table.delimiter,
            protected=protected,
        )
        self._debug = logging.getLogger("kelviq_import").isEnabledFor(logging.DEBUG)

    async def execute(self, *, handle_signals: bool) -> Summary:
        config, prepared = self.config, self.prepared
        event(
            logging.INFO,
            "run_start",
            f"{'validating' if config.dry_run else 'importing'} {config.display} ({prepared.rows} rows, "
            f"mode {config.mode}) into {'nothing (dry run)' if config.dry_run else config.base_url}",
            input=config.display,
            rows=prepared.rows,
            mode=config.mode,
            base_url=None if config.dry_run else config.base_url,
            concurrency=config.concurrency,
            rate=config.rate,
            report_dir=str(self.report_dir),
        )
        started = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        self.timeline.total = prepared.rows
        try:
            if config.dry_run:
                for item in prepared.mapped():
                    self.emit(_unsent(item, "valid", None) if item.payload is not None else _invalid(item))
            else:
                await self._send_all(handle_signals)
        finally:
            summary = self._summary(started, time.perf_counter() - t0)
            self.reporter.close(summary, self.timeline.series())
            self._log_end(summary)
        return summary

    def emit(self, result: RowResult) -> None:
        self.reporter.write(result)
        self.timeline.row(result.status)
        if self._debug:
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
        if self.on_result is not None:
            self.on_result(result)

    async def _send_all(self, handle_signals: bool) -> None:
        timeline = self.timeline

        def on_retry(reason: str, wait: float) -> None:
            timeline.retry(reason, wait)
            event(
                logging.INFO,
                "retry",
                f"retrying in {wait:.2f} s: {reason}",
                reason=reason,
                wait_s=round(wait, 3),
            )

        config = self.config
        api = KelviqClient(
            config.base_url,
            config.api_key,
            concurrency=config.workers,
            rate=config.rate,
            auto_concurrency=config.concurrency == "auto" and config.rate is not None,
            timeout=config.timeout,
            retry=config.retry,
            transport=self.transport,
            sleep=self.sleep,
            on_retry=on_retry,
            on_response=timeline.response,
            share_pace=True,
        )
        timeline.pacer = api.pacer
        restore = _catch_stop_signals(self.control) if handle_signals else (lambda: None)
        try:
            async with api:
                await self._drive(api)
                if self.config.absent is not None and self.control.aborted is None:
                    await self._check_absent(api)
        finally:
            restore()

    async def _drive(self, api: KelviqClient) -> None:
        await _Driver(run=self, api=api).drive()

    async def _check_absent(self, api: KelviqClient) -> None:
        """After the rows: kelviq's customers in scope that the input no longer holds (absent.py)."""
        config = self.config
        assert config.absent is not None
        try:
            self.absentees = await check_absent(
                api,
                present=self.prepared.customer_ids(),
                journal=self.journal,
                marker=self.prepared.mapping.static_metadata,
                shard=config.shard,
                mode=config.absent,
                scope=config.absent_scope,
                key=config.absent_key,
                guard=config.absent_guard,
                report_dir=self.report_dir,
                protected=self.reporter.protected,
                concurrency=min(config.workers, 16),
            )
        except (RunAborted, NotSent) as exc:
            self.control.stop(abort=exc if isinstance(exc, RunAborted) else RunAborted(str(exc)))
            return
        found = self.absentees
        event(
            logging.WARNING if found.absent else logging.INFO,
            "absent",
            f"{found.absent} of {found.scope} customers in scope are absent from the input"
            + (f"; tagged {found.tagged}, untagged {found.untagged}" if config.absent == "tag" else "")
            + f"; {self.report_dir / 'absent.csv'}",
            absent=found.absent,
            scope=found.scope,
            tagged=found.tagged,
            untagged=found.untagged,
        )

    def _summary(self, started: dt.datetime, elapsed: float) -> Summary:
        config, prepared, reporter, timeline = self.config, self.prepared, self.reporter, self.timeline
        table = prepared.table
        return Summary(
            input=config.display,
            input_sha256=file_sha256(config.path),
            base_url=None if config.dry_run else config.base_url,
            dry_run=config.dry_run,
            counts={k: reporter.counts[k] for k in sorted(reporter.counts)},
            rows=reporter.total,
            started_at=started.isoformat(timespec="seconds"),
            finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            duration_s=round(elapsed, 3),
            rows_per_second=round(reporter.total / elapsed, 1) if elapsed > 0 else 0.0,
            report_dir=str(self.report_dir),
            aborted=self.control.aborted,
            signal=self.control.stop_signal,
            mapping=prepared.mapping.describe(),
            mode=config.mode,
            journal=str(self.journal.path) if self.journal is not None else None,
            requests=timeline.requests,
            retries=timeline.retries,
            throttled=timeline.throttled,
            requests_per_second=round(timeline.requests / elapsed, 1) if elapsed > 0 else 0.0,
            rate_final=round(pacer.rate, 1) if (pacer := timeline.pacer) is not None else None,
            rate_limit_found=(
                round(pacer.limit_found, 1) if pacer is not None and pacer.limit_found is not None else None
            ),
            rate_signals=pacer.throttled_answers if pacer is not None else 0,
            faults=pacer.faults if pacer is not None else 0,
            cuts=pacer.cuts if pacer is not None else 0,
            windows=pacer.windows if pacer is not None else 0,
            told=pacer.told if pacer is not None else 0,
            pauses=pacer.pauses if pacer is not None else 0,
            pauses_told=pacer.pauses_told if pacer is not None else 0,
            retry_after_held=pacer.retry_after_held if pacer is not None else None,
            file_format=config.input_kind or table.kind_name,
            sheet=table.sheet,
            encoding=table.encoding,
            delimiter=table.delimiter,
            header_row=table.header_row,
            on_duplicate=prepared.on_duplicate,
            problems=reporter.problems_json(),
            unused_columns=prepared.mapper.unused,
            limit=config.limit,
            baseline=self.baseline,
            notice=table.notice,
            shard=str(config.shard) if config.shard is not None else None,
            absent=self.absentees.absent if self.absentees is not None else None,
            absent_tagged=self.absentees.tagged if self.absentees is not None else 0,
            absent_untagged=self.absentees.untagged if self.absentees is not None else 0,
        )

    def _log_end(self, summary: Summary) -> None:
        aborted = summary.aborted
        if aborted:
            event(logging.WARNING, "abort", f"run aborted: {aborted}", reason=aborted, signal=summary.signal)
        counts = counts_text(summary.counts)
        event(
            logging.WARNING if aborted else logging.INFO,
            "run_end",
            f"{'aborted: ' + aborted + '; ' if aborted else ''}{summary.rows} rows: {counts} "
            f"in {summary.duration_s:.1f} s; report {summary.report_dir}",
            counts=summary.counts,
            rows=summary.rows,
            duration_s=summary.duration_s,
            requests=summary.requests,
            retries=summary.retries,
            aborted=aborted,
        )


class _Driver:
    """The async part of a run: one producer reading rows into a bounded queue, N workers
    delivering them, a pre-flight before the first request, and the grace period on a stop."""

    def __init__(self, *, run: _Run, api: KelviqClient) -> None:
        self.run, self.api = run, api
        self.config, self.control, self.emit = run.config, run.control, run.emit
        self.journal = run.journal
        self.queue: asyncio.Queue[Send | None] = asyncio.Queue(maxsize=run.config.workers * 4)
        self.deliver = Delivery(run.config, api, run.journal)
        # Tasks inside a request now (workers, the pre-flight): what the grace period cancels.
        self.inflight: set[asyncio.Future[Any]] = set()
        self.checked = False
        self.account_size: int | None = None  # customers in kelviq, as the pre-flight heard
        self.workers: list[asyncio.Task[None]] = []
        run.control.on_stop = self.stop_sending

    async def drive(self) -> None:
        self.workers = [asyncio.create_task(self.worker()) for _ in range(self.config.workers)]
        producer = asyncio.create_task(self.produce())
        tasks = [producer, *self.workers]
        watchdog = asyncio.create_task(self.watch_progress())
        try:
            # A worker that dies (a report or journal that cannot be written) must stop the
            # producer too, or it would wait forever for room in the queue.
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            await asyncio.gather(*tasks)
        finally:
            for pending in [watchdog, *tasks, *self.inflight]:
                pending.cancel()

    async def watch_progress(self) -> None:
        """Abort when no write has been accepted for RetryPolicy.stall_after seconds: an API
        that answers every write 429 (or 5xx) would keep the run, and its journal's lock, going
        for days; the next night could not start. Real time, checked a few times a second."""
        limit = self.config.retry.stall_after
        while self.control.not_sent_reason() is None:
            await asyncio.sleep(min(1.0, limit / 10))
            stalled = time.monotonic() - self.api.last_progress
            if stalled >= limit and self.control.not_sent_reason() is None:
                seen = self.run.timeline.answers_text()
                self.control.stop(
                    abort=RunAborted(
                        f"no write has succeeded for {stalled:.0f} s (--stall-timeout {limit / 60:g} min; "
                        f"answers: {seen}); the API is not taking writes: run again later"
                    )
                )

    def stop_sending(self) -> None:
        """Nothing new starts; what is in flight gets GRACE_S, then is cancelled (not_sent: a
        re-run reconciles it through the journal's intents)."""
        self.api.stop()

        def cancel() -> None:
            for task in self.inflight:
                task.cancel()

        asyncio.get_running_loop().call_later(GRACE_S, cancel)

    async def preflight_once(self) -> None:
        """Before the first row that needs a request, not before the run: a re-run where
        nothing changed costs no request at all, and a refused key or an unreachable API still
        sends no row."""
        if self.checked:
            return
        self.checked = True
        task = asyncio.ensure_future(self.api.preflight())
        self.inflight.add(task)  # a stop signal cancels it after the grace, like any request
        try:
            await asyncio.wait({task})
        finally:
            self.inflight.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is None and not task.cancelled():
            self.account_size = task.result()
        if isinstance(exc, RunAborted) and not isinstance(exc, OutputError):
            self.control.stop(abort=exc)  # AuthenticationError, Unreachable, not the kelviq API
        elif exc is not None and not isinstance(exc, NotSent):
            raise exc

    def count(self, result: RowResult) -> None:
        control = self.control
        control.sent_rows += 1
        if result.status == "failed":
            control.failed_rows += 1
            if control.abort is None and (budget := _budget_exceeded(self.config, control)) is not None:
                control.stop(abort=budget)

    async def worker(self) -> None:
        control, emit = self.control, self.emit
        while (send := await self.queue.get()) is not None:
            item = send.item
            reason = control.not_sent_reason()
            if reason is not None:
                emit(_unsent(item, "not_sent", reason))
                continue
            # The worker awaits the delivery itself (a task per row cost a third of the
            # throughput); being in ``inflight`` lets the grace period cancel it mid-request.
            me = asyncio.current_task()
            assert me is not None
            self.inflight.add(me)
            try:
                result = await self.deliver(item, send.known, send.digest, send.intent)
            except asyncio.CancelledError:
                if control.not_sent_reason() is None:
                    raise  # not the grace period's cancel: the run itself is being torn down
                emit(_unsent(item, "not_sent", f"{control.not_sent_reason()} (cancelled in flight)"))
                continue  # the queue still holds rows to report not_sent
            except NotSent:
                emit(_unsent(item, "not_sent", control.not_sent_reason() or "not sent"))
                continue
            except RunAborted as exc:
                if isinstance(exc, OutputError):
                    raise
                control.stop(abort=exc)  # a refused key, an unreachable API
                emit(_unsent(item, "not_sent", control.not_sent_reason()))
                continue
            finally:
                self.inflight.discard(me)
            self.count(result)
            emit(result)

    async def load_baseline(self) -> tuple[Remote | None, str | None]:
        """kelviq's customer list, when rows are to be compared with it (baseline.py), and what
        the run says about it: always with --baseline kelviq; with auto when listing costs
        fewer requests than it saves.

        What listing saves: a row the journal does not know costs a POST, and a second request
        when the customer exists (refused, then PATCHed, and reported updated though nothing
        changed); listed, an unchanged customer costs nothing. So auto lists when the pages
        are fewer than the rows the journal does not cover (all of them without a journal).
        A listing that fails leaves the journal alone to judge."""
        config, run = self.config, self.run
        if config.baseline == "journal" or config.full:
            return None, None
        journal, rows = self.journal, run.prepared.rows
        fresh = journal is None or journal.is_new() or len(journal) == 0
        # A listing is at least one page: with at most one row the journal does not know, it
        # cannot pay, and a re-run where nothing changed still makes no request at all.
        known = None if fresh or config.baseline != "auto" else journal
        if known is not None and not known.unknown_more_than(run.prepared.customer_ids(), 1):
            return None, None
        await self.preflight_once()
        if self.control.not_sent_reason() is not None:
            return None, None
        budget = None if config.baseline == "kelviq" else rows
        if self.account_size == 0 and config.baseline == "auto":
            return None, "kelviq holds no customers: nothing to compare with"
        pages = pages_for(self.account_size) if self.account_size is not None else None
        if budget is not None and pages is not None and pages >= budget:
            return None, (
                f"not listed: kelviq holds {self.account_size} customers ({pages} pages), "
                f"no fewer requests than the {budget} rows to send"
            )
        if known is not None:
            limit = pages if pages is not None else rows // 2
            if not known.unknown_more_than(run.prepared.customer_ids(), limit):
                return None, (
                    f"not listed: the journal does not know {limit} or fewer of the file's customers, "
                    f"no more than the {limit} pages a listing costs"
                )
        return await self._list(budget)

    async def _list(self, budget: int | None) -> tuple[Remote | None, str | None]:
        remote = Remote()
        try:
            listing = await remote.load(self.api, concurrency=min(self.config.workers, 16), budget=budget)
        except (TooLarge, NotSent, RunAborted) as exc:
            remote.close()
            said = None
            if isinstance(exc, TooLarge):
                said = f"not listed: more than {budget} pages, more requests than rows to send"
            elif isinstance(exc, AuthenticationError | Unreachable):
                self.control.stop(abort=exc)
            elif isinstance(exc, RunAborted):
                said = f"listing failed, compared with the journal only: {exc}"
                event(logging.WARNING, "baseline", said)
            return None, said
        said = f"kelviq's list: {listing.customers} customers in {listing.pages} pages"
        event(logging.INFO, "baseline", f"compared with {said}", customers=listing.customers)
        return remote, said

    async def produce(self) -> None:
        remote, self.run.baseline = await self.load_baseline()
        try:
            await self._produce(remote)
        finally:
            if remote is not None:
                remote.close()

    async def _produce(self, remote: Remote | None) -> None:
        """Each row's fate from the planner; rows to send go to the workers in batches."""
        config, control, emit, journal = self.config, self.control, self.emit, self.journal
        rules = Rules.of(config)
        queued = 0
        # Rows go to the workers in small batches whose write-ahead intents are committed
        # together before any of them can be sent. An intent for a row that is then never
        # sent is harmless: the next run finds the customer absent and creates it.
        batch: list[Send] = []
        batch_size = max(1, min(64, config.workers * 2))

        async def flush() -> None:
            if journal is not None and batch:
                journal.record_intents((send.item.customer_id, send.digest) for send in batch)
            for send in batch:
                await self.queue.put(send)
            batch.clear()

        for item in self.run.prepared.mapped():
            stopping = item.payload is not None and (reason := control.not_sent_reason()) is not None
            if stopping and self.queue.empty():
                emit(_unsent(item, "not_sent", reason or ""))
                continue
            known, intent = (None, None)
            if journal is not None and item.payload is not None:
                known, intent = journal.lookup(item.customer_id)
            listed = NOT_LISTED if remote is None or item.payload is None else remote.get(item.customer_id)
            decision = decide(item, journal=known, intent=intent, listed=listed, queued=queued, rules=rules)
            if isinstance(decision, Skip):
                if decision.holds and journal is not None:
                    journal.record(item.customer_id, decision.digest, decision.result.kelviq_id)
                emit(decision.result)
                continue
            await self.preflight_once()
            if (reason := control.not_sent_reason()) is not None:
                emit(_unsent(item, "not_sent", reason))
                continue
            batch.append(decision)
            queued += 1
            if len(batch) >= batch_size:
                await flush()
        await flush()
        for _ in self.workers:
            await self.queue.put(None)


def _budget_exceeded(config: ImportConfig, state: _Control) -> RunAborted | None:
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


def _catch_stop_signals(control: _Control) -> Callable[[], None]:
    """First SIGINT/SIGTERM: stop sending, finish what is in flight, write the report. A second
    one goes to whatever handler the host had, restored exactly (an Airflow or Celery worker
    keeps its own), as it is when the run ends."""
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def release() -> None:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        previous.clear()

    def stop(signum: int) -> None:
        control.stop(signum=signum)
        release()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            before = signal.getsignal(sig)
            loop.add_signal_handler(sig, stop, sig)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread (embedded use): leave signals to the host
        previous[sig] = before
    return release


def _invalid(item: Mapped) -> RowResult:
    return RowResult(
        row=item.row,
        customer_id=item.customer_id,
        status="skipped" if item.skipped else "invalid",
        error=item.problem,
        cells=item.cells,
        problems=item.problems,
    )


def _unsent(item: Mapped, status: Status, error: str | None) -> RowResult:
    return RowResult(row=item.row, customer_id=item.customer_id, status=status, error=error, cells=item.cells)
