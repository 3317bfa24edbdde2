"""Pacing requests: an evenly spaced rate that finds the API's limit, shares it fairly with
other runners on the same account, and takes up what they leave.

The schedule is GCRA (a virtual schedule): each request gets the next slot ``1/rate`` after
the previous one; a small ``tolerance`` lets the schedule catch up after the event loop woke a
little late, without bursting. aiolimiter, which this replaced, fixes its rate when it is built.

What the API says, read as two kinds of signal:

- **Rate signals** (the API is at its limit): a 429, or 503s that recur in step with the rate:
  most of a second's answers (``unavailable_share``, an overloaded backend), or more than a
  fault's share of them (``UNAVAILABLE_STEP``) that stop when the rate is cut (a limit answered
  with 503, as nginx's limit_req does; tried, see _in_step). Only these move the rate down, and
  only these name a limit.
- **Faults**: a 500, a 502, a sporadic 503, 503s that go on at a lower rate. The client's
  retries handle them; the rate does not move, or a cut tried on them is undone. (Counted in
  ``faults``, so the run can say what it ignored.)

How the rate moves, TCP congestion control in requests per second (every figure measured in
``make bench`` and checked in tests/test_ratelimit.py on a hand-moved clock):

- **Slow start** (``--rate auto``): from ``start`` the rate doubles every
  ``slow_start_doubling`` seconds until the first rate signal, or until the API's latency rises
  well above the quietest seen (an API that queues is at its limit too). A rate signal ends it
  at 0.4 of the rate or less (TCP's halves): the rate had doubled within the last second, and a
  one-second bucket lets that through until its burst is spent. If the API then accepts that
  rate for ``EXIT_QUIET`` seconds without a word, its limit banked no burst, and what it
  accepted in the second before the signal was the limit itself: the rate goes back up to
  ``decrease`` of it.
- **Multiplicative decrease**: a rate signal cuts the rate to ``decrease`` × what the API was
  seen to accept (at most once per ``cooldown``, longer when latency is long: one overload
  answers every request then in flight). Each runner on one account loses the same share of
  its own rate, which is what makes shares converge.
- **Additive increase**: between signals the rate grows by ``increase`` requests per second,
  second after second, the same for every runner whatever its rate. Additive increase with
  multiplicative decrease converges to equal shares (Chiu and Jain, 1989); multiplicative
  increase alone does not, and the former 1%-a-second probe was multiplicative.
- **Taking up freed capacity**: when no rate signal has come for longer than twice this
  runner's usual spell between signals (at least ``quiet`` seconds), the increase doubles every
  ``quiet`` seconds (CUBIC's convex probe, BBR's probe for bandwidth): a runner whose neighbour
  finished, or whose quota window ended, reaches the new ceiling in seconds, not minutes.
- **A limit that holds still**: when the API accepted about the same (within
  ``STEADY_SPREAD``) over the seconds before this runner's last two cuts, that is its limit,
  and after a cut the rate comes straight back to ``STEADY`` of it, then probes as above. A
  limit kept as a sliding window, as Django REST framework's throttles keep it, banks nothing
  while the rate is below it: the seconds spent climbing back from a cut were lost (one runner
  held 86% of such a limit over a job; 92% now). Runners that hear each other compare the
  rates they cut from instead, taken midway to the teller's so that the shares stay equal,
  and near such a limit probe by a share of their rate (as one runner, together).
- **Quota windows**: a cut in which nearly nothing was accepted is a window (or a pause), not a
  lower limit: the rate to come back to (``good``) stands, and once the API accepts again the
  rate doubles every ``recover_doubling`` seconds back to it. The first cut of a window looks
  like a limit (the second before it was accepted in full); a window-cut right after it undoes
  what it took from ``good``, so a fixed ``--rate N`` is back at N about a second after the window.

**Neighbours on one host** (neighbours.py): a cut made on the API's word is told to the other
runners of this user on this machine that send with the same URL and key, with the rate it cut
to, and they cut too, as one runner would: each no longer needs 429s of its own to learn that
the account is full. A runner well below that rate (one that started late) did not fill the
account: it climbs to the teller's rate instead of cutting. A runner that finishes says so,
with its rate, and the others share that rate among the runners still sending at once. Each
one's share of the limit may be too small to count (eight runners after a drop to 30/s: under
4/s each), so for them the share of their answers accepted since the last cut tells a window
from a limit, and their climb between two cuts is held to ``GROUP_CLIMB`` of their rate: the
group grows by every runner's step but cuts no faster than each of them can. A pause the API
asked for (below) is told too, and the others keep it without a test of their own. And each
request, once its slot comes, waits for its place in the one stream of the runners on the host,
so that their requests reach the API evenly spaced, not in clumps a limiter with no burst
refuses.

``Retry-After`` is the client's business and always wins for the request it answered. A 429's
Retry-After of ``PAUSE_AFTER`` or more is the pacer's too: a quota window or a limit counted
per minute, which accepts nothing before then, so no request is sent before then, once the
first such pause has shown that the API's word holds (see _asked_to_wait).

With ``auto_concurrency`` the pacer also bounds the requests in flight by Little's law: the rate
it aims at × the mean latency × ``headroom`` (+2), within ``concurrency_bounds``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .neighbours import Heard, Neighbours, Told

__all__ = ["AUTO_CEILING", "AUTO_CONCURRENCY", "AUTO_START", "Pacer"]

AUTO_START = 10.0  # --rate auto begins here: the former fixed default, polite to any API
AUTO_CEILING = 1000.0  # and never goes above this
AUTO_CONCURRENCY = (4, 128)  # --concurrency auto stays within these
_LN2 = math.log(2)
MIN_EVIDENCE = 3  # successes in a cut's interval before they are read as the API's limit
COUNTED = 12  # successes in less than a second before their rate is one to cut to
LONE_COUNTED = 8  # ... for a runner that has never heard a neighbour (see _signal)
EPISODE = 2.0  # seconds after a limit-cut in which a window-cut shows it was a window
SLOW_START_EXIT = 0.4  # the rate's share left when a rate signal ends slow start (see _limit)
EXIT_QUIET = 1.5  # seconds without a rate signal after slow start that show its limit banks no burst
STEADY_CUTS = 2  # limit-cuts at which the API accepted about the same: a limit that holds still
STEADY_SPREAD = 0.04  # ... "about the same": the most over the least, less one
STEADY_RATE_SPREAD = 0.08  # ... the same for rates compared by runners that hear each other
STEADY = 0.97  # the share of a limit that holds still that the rate comes back to after a cut
STEADY_PROBE = 0.005  # share of its rate a runner that hears neighbours gains a second near it
STEADY_ACCEPTED = 0.9  # ... and the least share of its answers since the last cut accepted there
GROUP_CLIMB = 0.05  # share of its rate a runner that hears neighbours gains, at most, between cuts
PAUSE_AFTER = 2.0  # a 429 whose Retry-After is this long or longer pauses every request (throttled)
PROBE_AFTER = 1.0  # ... the first such pause: a request this far into it tests the API's word
UNAVAILABLE_STEP = 0.1  # 503s above this share of a second's answers may be a throttle's (_in_step)
UNAVAILABLE_FEW = 4  # ... and at least this many in the second (3: faults beside a limit tried it)
TRIAL = 1.0  # seconds of answers after a cut on such 503s that say whether they stopped
TRIAL_ANSWERS = 50  # ... and at least this many answers
STOPPED = 0.05  # ... of which at most this share 503: they stopped
TRIAL_CUTS = 3  # cuts after which 503s that have not stopped are faults
FAULTS_FOR = 60.0  # 503s that went on after such a cut are faults below unavailable_share this long


@dataclass(slots=True)
class _Trial:
    """Cuts made on 503s that may be a throttle's (see Pacer._in_step), until the answers to the
    requests sent after the latest say whether the 503s stopped. What the pacer held before the
    first, to go back to if they did not."""

    rate: float
    good: float | None
    limit_found: float | None
    verified: float | None
    at_cuts: tuple[float, ...]
    at: float = 0.0  # the latest cut (answers to requests sent before it do not count)
    cuts: int = 0  # cuts made for the trial
    seen: int = 0  # the pacer's cuts after the latest: more means another signal cut since
    answers: int = 0
    unavailable: int = 0
    signals: int = 0  # 503s counted as rate signals for it
    provisional: int = 0  # 503s counted as faults until the trial says


@dataclass
class Pacer:
    """Attributes read by the run's figures: ``rate`` (aimed at now), ``good`` (the rate to come
    back to after a window, or None), ``limit_found``, ``cuts``, ``windows``, ``told``,
    ``throttled_answers`` (rate signals), ``faults`` (503s read as faults), ``pauses`` (the API
    asked for one, see ``throttled``; ``pauses_told``: of those, one a neighbour told of),
    ``retry_after_held`` (whether the API's long Retry-After
    held when tested; None: not tested), ``inflight_limit``."""

    ceiling: float
    start: float | None = None  # slow start from here (--rate auto); None: at the ceiling
    adaptive: bool = True
    auto_concurrency: bool = False
    concurrency_bounds: tuple[int, int] = AUTO_CONCURRENCY
    headroom: float = 1.5
    floor: float = 0.5
    decrease: float = 0.85  # a rate signal: the rate goes to this share of itself
    window_decrease: float = 0.75  # a cut in a quota window (nothing accepted)
    increase: float = 0.5  # requests/s gained a second: the same for every runner (fairness)
    quiet: float = 1.5  # seconds without a rate signal after which the increase doubles
    quiet_most: float = 4.0  # ... however long this runner's usual spell between signals
    outage_share: float = 0.25  # accepted below this share of the best: a window, not a limit
    recover_doubling: float = 0.5  # seconds to double, below the good rate
    slow_start_doubling: float = 1.0  # seconds to double, before the first rate signal
    cooldown: float = 0.25
    unavailable_share: float = 0.25  # 503s are a rate signal above this share of a second's answers
    unavailable_min: int = 5  # and at least this many in the second
    tolerance: float = 0.05
    # Runners on this host sending to the same account (neighbours.py): a cut made on the API's
    # word is told to them, and one they tell is made here too.
    neighbours: Neighbours | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rate: float = field(init=False)
    good: float | None = field(default=None, init=False)
    verified: float | None = field(default=None, init=False)  # most successes in a second, lately
    limit_found: float | None = field(default=None, init=False)
    slow_start: bool = field(default=False, init=False)
    cuts: int = field(default=0, init=False)
    windows: int = field(default=0, init=False)  # cuts read as quota windows
    told: int = field(default=0, init=False)  # cuts a neighbour's signal made
    heard: bool = field(default=False, init=False)  # a neighbour's signal came (neighbours.py)
    throttled_answers: int = field(default=0, init=False)
    faults: int = field(default=0, init=False)
    pauses: int = field(default=0, init=False)
    pauses_told: int = field(default=0, init=False)  # of those, pauses a neighbour told of
    retry_after_held: bool | None = field(default=None, init=False)
    inflight: int = field(default=0, init=False)
    inflight_limit: int = field(default=0, init=False)
    _next: float = field(default=0.0, init=False)
    _last_cut: float = field(default=float("-inf"), init=False)
    _last_signal: float = field(default=float("-inf"), init=False)
    _spell: float = field(default=0.0, init=False)  # moving mean of the time between limit-cuts
    _last_limit: float | None = field(default=None, init=False)
    _good_before: float | None = field(default=None, init=False)  # good before the last limit-cut
    _last_window: float = field(default=float("-inf"), init=False)  # the last window-cut
    _hold: float = field(default=float("-inf"), init=False)  # no request before this (a pause)
    _test_from: float | None = field(default=None, init=False)  # requests sent from here test the word
    _said_until: float = field(default=float("-inf"), init=False)  # ... which was: nothing before this
    _since_cut: int = field(default=0, init=False)  # successes since the last cut
    _refused_since_cut: int = field(default=0, init=False)  # rate signals since the last cut
    _steady: bool = field(default=False, init=False)  # runners that hear each other: near a steady limit
    _exit: float | None = field(default=None, init=False)  # accepted as slow start ended (succeeded)
    _at_cuts: deque[float] = field(default_factory=lambda: deque(maxlen=STEADY_CUTS), init=False)
    _accepted: deque[float] = field(default_factory=deque, init=False)  # success times, last 1 s
    _unavailable: deque[float] = field(default_factory=deque, init=False)  # 503 times, last 1 s
    _trial: _Trial | None = field(default=None, init=False)  # a cut on 503s, being tried (_in_step)
    _faults_until: float = field(default=float("-inf"), init=False)  # 503s tried and found faults
    _latency_min: float = field(default=math.inf, init=False)
    _latency: float = field(default=0.0, init=False)  # moving mean of successes' latency
    _samples: int = field(default=0, init=False)
    _waiters: deque[asyncio.Future[None]] = field(default_factory=deque, init=False)

    def __post_init__(self) -> None:
        if self.ceiling <= 0:
            raise ValueError("rate must be positive")
        self.floor = min(self.floor, self.ceiling)
        if self.start is not None and self.adaptive:
            self.rate = min(self.start, self.ceiling)
            self.slow_start = self.rate < self.ceiling
        else:
            # A rate the user asked for is the good rate until the API says otherwise.
            self.rate = self.ceiling
            self.good = self.ceiling
        self._last_signal = self.clock()
        self.inflight_limit = self.concurrency_bounds[0] if self.auto_concurrency else 0

    # --- the schedule ---------------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait for a place among the requests in flight (auto concurrency), for this request's
        slot and, beside other runners on this host, for its place in their one stream; with auto
        concurrency, ``release()`` must follow the answer."""
        if self.auto_concurrency:
            while self.inflight >= self.inflight_limit:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
            self.inflight += 1
        try:
            while True:
                await self._slot()
                if self.neighbours is None:
                    return
                # Its place in the one stream of the runners on this host (neighbours.py).
                place = self.neighbours.place(self.rate)
                if place <= 1e-6:
                    return
                await self.sleep(place)
                self._listen(self.clock())
                if self.clock() >= self._hold:
                    return
                # A pause the API asked for began while it waited: it takes a slot after it.
        except BaseException:
            self.release()
            raise

    async def _slot(self) -> None:
        """Wait for this request's slot in this runner's schedule."""
        while True:
            now = self.clock()
            self._listen(now)
            slot = max(self._next, now - self.tolerance, self._hold)  # none in a pause
            self._next = slot + 1.0 / self.rate
            if slot - now <= 1e-6:
                return
            cuts = self.cuts
            await self.sleep(slot - now)
            # Listened to again as the slot comes: a request given its slot a second ahead (a
            # slow runner's) otherwise went out unaware of a pause told meanwhile, and each of
            # eight runners sent one into every quota window (real runs, bench/RESULTS.md).
            self._listen(self.clock())
            if self.cuts == cuts and self.clock() >= self._hold:
                return
            # Cut while this request waited: its slot was given at the former rate. It takes
            # one at the new rate, or a cut would hold only after every slot already given
            # (up to a runner's whole concurrency, sent at the rate the API refused). Its slot
            # falls in a pause the API asked for: it takes one after the pause.

    def _listen(self, now: float) -> None:
        """What a neighbour told since the last look (at most every neighbours.POLL), acted on."""
        if self.neighbours is not None and self.adaptive:
            heard = self.neighbours.heard(now)
            if heard is not None:
                self._told(now, heard)

    def release(self) -> None:
        if not self.auto_concurrency:
            return
        self.inflight -= 1
        self._wake()

    def _wake(self) -> None:
        free = self.inflight_limit - self.inflight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    # --- what the API said ----------------------------------------------------------------

    def fault(self) -> None:
        """A 500, 502 or 504: the backend's fault, which the retries handle; the rate stands."""
        self.faults += 1

    def throttled(
        self, status: int = 429, *, retry_after: float | None = None, latency: float | None = None
    ) -> None:
        """The API pushed back: 429 (a rate signal, always), or 503 (a rate signal only when
        503s recur in step with the rate; a sporadic one is a fault the retries handle).
        ``latency``: how long ago the refused request was sent.

        A 429 whose ``retry_after`` is ``PAUSE_AFTER`` or longer pauses every request until
        then, at a fixed rate too (see _asked_to_wait). A 503's Retry-After is a fault's and
        pauses nothing."""
        now = self.clock()
        hold, cuts = self._hold, self.cuts
        if status == 429:
            self._asked_to_wait(now, retry_after, now - (latency or 0.0))
        if not self.adaptive:
            return
        if status != 429:
            self._tried(now, now - (latency or 0.0), unavailable=True)
            verdict = self._in_step(now)
            if verdict == "fault":
                self.faults += 1
                if self._trial is not None:
                    self._trial.provisional += 1  # the trial says what it was
                return
            if verdict == "trial":
                self._trial_cut(now, answered=True)
                return
        self._refused()
        self._signal(now)
        if self._hold > hold and self.cuts == cuts and self.retry_after_held:
            self._tell(now, "pause")  # a pause with no cut (a cut tells its pause itself; _tell)

    def _refused(self) -> None:
        """An answer just read as a rate signal, counted before the cut it may make."""
        self.throttled_answers += 1
        self._refused_since_cut += 1

    def _in_step(self, now: float) -> Literal["overload", "trial", "fault"]:
        """What a 503 just answered is: a rate signal (most of a second's answers 503, the
        ``unavailable_share``: the backend is overloaded, and a lower rate is what helps), a
        fault, or a reason to try whether the 503s are in step with the rate.

        Some APIs and gateways answer their limit with 503 (nginx's limit_req does by default).
        When only overload counted, one runner against such a limit of 100/s had 14-17% of its
        requests refused for the whole run (event model; 17-18% in real runs against an
        independent fake API, and some rows failed once their retries ran out). Such 503s stop
        when the rate goes below the limit; faults, even a tenth of the answers from a broken
        backend, go on at any rate. So a share of 503s above a fault's (``UNAVAILABLE_STEP``)
        is tried (_tried): the rate is cut as for a rate signal until they stop, and if they
        have not after ``TRIAL_CUTS`` cuts, the cuts are undone and such 503s are faults for
        ``FAULTS_FOR``."""
        unavailable = self._unavailable
        unavailable.append(now)
        while unavailable and unavailable[0] < now - 1.0:
            unavailable.popleft()
        count = len(unavailable)
        share = count / (count + self._window(now))
        if count < UNAVAILABLE_FEW or share <= UNAVAILABLE_STEP:
            return "fault"
        if self._trial is not None:  # every cut on 503s in a trial is the trial's, up to TRIAL_CUTS
            return "trial" if self._trial.cuts < TRIAL_CUTS else "fault"
        if count >= self.unavailable_min and share > self.unavailable_share:
            return "overload"
        # Not in slow start, whose rate doubles a second: a throttle's 503s pass the overload
        # share within a second there, and a few faults in one second at its low rates would
        # have ended it far below any limit, as one 503 once did (issue 19's 12/s).
        return "fault" if self.slow_start or now < self._faults_until else "trial"

    def _trial_cut(self, now: float, *, answered: bool = False) -> None:
        """A cut on 503s that may be a throttle's (see _in_step), tried; ``answered``: a 503
        just answered is its rate signal (else the 503s since the trial's latest cut)."""
        trial = self._trial
        if trial is None:
            trial = self._trial = _Trial(
                rate=self.rate,
                good=self.good,
                limit_found=self.limit_found,
                verified=self.verified,
                at_cuts=tuple(self._at_cuts),
            )
        if answered:
            trial.signals += 1
            self._refused()
        cuts = self.cuts
        self._signal(now)
        if self.cuts > cuts:
            trial.at, trial.seen, trial.answers, trial.unavailable = now, self.cuts, 0, 0
            trial.cuts += 1

    def _tried(self, now: float, sent: float, *, unavailable: bool) -> None:
        """An answer to a request sent at ``sent``, for the trial of 503s (see _in_step). Once
        ``TRIAL`` seconds of answers to requests sent after its latest cut are in: the 503s
        stopped (a throttle's: they were rate signals); or another cut is tried; or, after
        ``TRIAL_CUTS``, they are faults, and the cuts are undone (when no other signal cut
        since): the rate was cut briefly, not driven down by faults no rate would stop."""
        trial = self._trial
        if trial is None or sent < trial.at:
            return
        trial.answers += 1
        trial.unavailable += unavailable
        if now - trial.at < TRIAL or trial.answers < TRIAL_ANSWERS:
            return
        if trial.unavailable <= STOPPED * trial.answers:
            self._trial = None
            self.faults -= trial.provisional
            self.throttled_answers += trial.provisional
            return
        if trial.cuts < TRIAL_CUTS:
            self._trial_cut(now)
            return
        self._trial = None
        self._faults_until = now + FAULTS_FOR
        self._unavailable.clear()  # counted at the trial's rates, they are no overload at this one
        self.throttled_answers -= trial.signals
        self.faults += trial.signals
        if self.cuts == trial.seen:
            self.rate, self.good = trial.rate, trial.good
            self.limit_found, self.verified = trial.limit_found, trial.verified
            self._at_cuts.clear()
            self._at_cuts.extend(trial.at_cuts)
            self._exit = None
            self._size()

    def _asked_to_wait(self, now: float, retry_after: float | None, sent: float) -> None:
        """A 429 refused a request sent at ``sent``, saying when to come back. A limit counted
        per second answers a Retry-After of one second (DRF's and the sandbox's round up to
        it); one of ``PAUSE_AFTER`` or longer says that nothing will be accepted before then: a
        quota window, or a limit counted per minute, as DRF's "120/min" is, and every request
        sent before then would be refused. One runner against such a limit had 44% of its
        requests answered 429; paused as asked, 3% (tests/test_ratelimit.py).

        Some APIs answer every 429 with the same long Retry-After whatever their limit. So the
        first pause is tested: requests wait ``PROBE_AFTER``, and if the next one sent is
        accepted while the API had said to wait a second or more longer, its word did not hold
        and a long Retry-After pauses nothing from then on (``retry_after_held``); if it is
        refused too, the pause lasts as long as the API said, and every later one as well."""
        if self._tests_the_word(sent):
            self._test_from = None  # a request sent after the test pause was refused: the word holds
            self.retry_after_held = True
            self._pause_until(now, self._said_until)
        if retry_after is None or retry_after < PAUSE_AFTER or self.retry_after_held is False:
            return
        if self.retry_after_held:
            self._pause_until(now, now + retry_after)
        elif self._test_from is None:
            self._said_until = now + retry_after
            self._test_from = now + PROBE_AFTER
            self._pause_until(now, self._test_from)

    def paused_for(self) -> float:
        """Seconds left of a pause the API asked for (0: none): what the progress line shows,
        so that a run waiting out a minute's quota does not look hung."""
        return max(0.0, self._hold - self.clock())

    def _tests_the_word(self, sent: float) -> bool:
        """A request sent at ``sent`` went after the pause that tests the API's word (halfway
        into it: answers to the requests in flight when it began, which a latency read off a
        clock may place a little late, are no test)."""
        return self._test_from is not None and sent >= self._test_from - PROBE_AFTER / 2

    def _pause_until(self, now: float, until: float) -> bool:
        """No request before ``until`` (acquire); whether that began a pause (none was on). The
        pause is no quiet spell: the increase does not double for it (see _increase)."""
        began = now >= self._hold and until > now
        self.pauses += began
        self._hold = max(self._hold, until)
        self._last_signal = max(self._last_signal, self._hold)
        return began

    def leave(self) -> None:
        """This runner sends no more: its neighbours may take up its share."""
        if self.adaptive:
            self._tell(self.clock(), "left")

    def _tell(self, now: float, kind: Told) -> None:
        """Tell the neighbours this runner's rate, and the pause it keeps when the API asked for
        one: at a quota window's start each of eight runners on one host otherwise paid 429s of
        its own to learn of it (7.5-10.9% of requests refused; model)."""
        if self.neighbours is not None:
            # Only a pause on the API's tested word: the one that tests it lasts a second, and
            # told of it, the others came back together into the window's last second.
            pause = max(0.0, self._hold - now) if self.retry_after_held else 0.0
            self.neighbours.tell(self.rate, kind=kind, pause=pause)

    def _told(self, now: float, heard: Heard) -> None:
        """A neighbour finished, or cut to ``heard.rate`` (0: it did not say) on the API's word.
        Finished: its rate is shared among the runners still sending; when it did not say its
        rate, the increase doubles from now as after a quiet spell, twice over, where it waited
        out this runner's usual spell first (up to 4 s). Cut: a runner well below that rate did
        not fill the account: it ends slow start and climbs to the neighbour's rate instead of
        cutting. Cut as well, a runner that started late sat at a fraction of the others' rate,
        a gap AIMD closes by 15% a cut (model, eight runners started over 2 s finished
        1.31-1.41x apart; 1.06-1.18x with this). Otherwise it cuts, as one runner would."""
        if not self.heard:
            self._at_cuts.clear()  # counts of its own, where a group's rates are compared now
        self.heard = True
        if heard.pause > 0 and self.retry_after_held is not False:
            # The API asked it to wait, and its word held when tested: this runner's requests
            # would be refused until then too, and the API's word needs no test of its own.
            self.retry_after_held, self._test_from = True, None
            self.pauses_told += self._pause_until(now, now + heard.pause)
        if heard.kind == "pause":
            return
        rate = heard.rate
        if heard.kind == "left":
            if rate > 0 and self.neighbours is not None:
                # Its rate, shared among those still sending (this one included): the group
                # holds what it held. Probing for it instead, four runners of which two finish
                # early held 98.5-99.6% of the limit over the job; eight with unequal shards
                # against DRF's window, 93-94% (model).
                self.rate = min(self.ceiling, self.rate + rate / self.neighbours.present())
                self.good = max(self.good or 0.0, self.rate)
                self._at_cuts.clear()  # the rates that met the limit were a bigger group's
                self._last_signal = now
                return
            usual = max(self.quiet, min(2.0 * self._spell, self.quiet_most))
            self._last_signal = min(self._last_signal, now - usual - 2.0 * self.quiet)
            return
        if rate > 0 and self.rate < self.decrease * rate:
            self._last_signal = now
            self.slow_start = False
            self.good = max(self.good or 0.0, min(self.ceiling, rate))
            return
        self._signal(now, told=True, teller=rate / self.decrease if rate > 0 else 0.0)

    def _signal(self, now: float, *, told: bool = False, teller: float = 0.0) -> None:
        """A rate signal (a 429, 503s in step, answers queueing, or a neighbour's cut when
        ``told``; ``teller``: that neighbour's rate before its cut, when it said): cut, unless
        one was just made."""
        self._last_signal = max(now, self._hold)  # a pause is no quiet spell (_pause_until)
        since = now - self._last_cut
        if since < self._cut_gap():
            return
        # What the API accepted: since the last cut when that was recent (its bucket has been
        # empty since), else over the last second; from a handful of answers, nothing is told.
        successes = self._since_cut if since < 1.0 else self._window(now)
        accepted = successes / since if since < 1.0 else float(successes)
        # The share of the answers since the last cut that were accepted. For a runner that hears
        # neighbours, with a small share of the limit, too few to count: a quarter or more of
        # them accepted is no window, which refuses everything (read as one, the good rate stood
        # and eight runners after a drop came back to it, 15-20% refused; model).
        answered = self._since_cut + self._refused_since_cut
        share = self._since_cut / answered if answered else 1.0
        mostly = self.heard and self._since_cut >= 2 and share >= self.outage_share
        self._last_cut, self._since_cut, self._refused_since_cut, self._exit = now, 0, 0, None
        self.cuts += 1
        self._next = min(self._next, now)  # the slots given at the former rate are taken again
        if told:
            self.told += 1
        if (successes >= MIN_EVIDENCE or mostly) and accepted >= self.outage_share * (self.verified or 0):
            # A rate read from a few answers in a fraction of a second is noise. Runners that
            # hear each other cut together anyway, and a noisy deep cut there left two of four
            # runners at a third of the others' rate for a minute (bench/RESULTS.md). A runner
            # alone may cut to a rate read from fewer answers (it follows a dropped limit
            # sooner), but not from three: runners on different hosts each took such a cut at
            # random in the second after slow start and finished up to 1.4x apart (model).
            counted = since >= 1.0 or successes >= COUNTED or (not self.heard and successes >= LONE_COUNTED)
            # The rate that met the limit, for a runner that hears neighbours: its own, or midway
            # to the teller's, which draws the group's rates together (see _hold_steady).
            before = (self.rate + teller) / 2 if teller > 0 else self.rate
            self._limit(accepted, counted=counted, before=before, share=share)
        else:
            # A window or a pause: the good rate stands, and slow start goes on after it. A
            # limit-cut just before was this window's first answer: it did not lower the limit.
            self.windows += 1
            self._last_window = now
            if self._good_before is not None and since < EPISODE:
                self.good, self._good_before = self._good_before, None
            self.rate = max(self.floor, self.rate * self.window_decrease)
        if not told:
            self._tell(now, "cut")  # after the cut: the rate it went to is the news
        self._size()

    def _cut_gap(self) -> float:
        """Cuts far enough apart to tell something: one overload answers every request then in
        flight (latency), and a slow runner needs time for a few answers to say whether the API
        accepted anything at all (too soon, a limit would be read as a window)."""
        return max(self.cooldown, 1.5 * self._latency, 2 * MIN_EVIDENCE / self.rate)

    def succeeded(self, latency: float | None = None) -> None:
        now = self.clock()
        self._tried(now, now - (latency or 0.0), unavailable=False)
        if latency is not None and self._tests_the_word(now - latency):
            # The request that tests the API's long Retry-After was accepted: a second or more
            # before the API had said, its word did not hold (else too close to tell: test again).
            self._test_from = None
            if self._said_until - (now - latency) >= PROBE_AFTER:
                self.retry_after_held = False
        self._accepted.append(now)
        self._since_cut += 1
        if self.adaptive and (n := self._window(now)) > (self.verified or 0):
            self.verified = n
        if latency is not None:
            self._observe(latency)
        if not self.adaptive:
            self._size()
            return
        if self._queueing():
            # Answers far slower than when the API was quiet: requests wait in its queue. A rate
            # signal as a 429 is (TCP's delay signal): slow start ends, the rate is cut.
            if self.slow_start:
                self._limit(float(self._window(now)), queueing=True)
                self._last_signal = self._last_cut = now
            else:
                self._signal(now)
        elif self.slow_start:
            self.rate = min(self.ceiling, self.rate + _LN2 / self.slow_start_doubling)
        elif self._exit is not None and now - self._last_signal >= EXIT_QUIET:
            # Slow start ended below its rate and the API has accepted this for EXIT_QUIET without
            # a word: its limit banks no burst (a one-second bucket would still be refusing the
            # overshoot), so what it accepted in the second before the signal was the limit.
            self.good = max(self.good or 0.0, min(self.ceiling, self.decrease * self._exit))
            if not self.heard:  # one of the counts that show a limit holding still (_hold_steady)
                self._at_cuts.append(self._exit)
            self._exit = None
        elif self.good is not None and self.rate < self.good:
            self.rate = min(self.good, self.rate + _LN2 / self.recover_doubling)
        else:  # per success, so that it adds up to this much a second
            self.rate = min(self.ceiling, self.rate + self._increase(now) / max(self.rate, 1.0))
        self._size()

    def _increase(self, now: float) -> float:
        """Requests per second gained per second now: additive, doubling after a quiet spell."""
        step = self.increase
        # Quiet for longer than this runner's usual spell between signals: the capacity it was
        # sharing has grown (a neighbour finished, a window ended).
        usual = max(self.quiet, min(2.0 * self._spell, self.quiet_most))
        quiet = now - self._last_signal - usual
        if quiet > 0:
            # No steeper than slow start, which doubles the rate a second. A quiet spell is
            # time, not answers: after a minute with none (an input that stalled), the first
            # success took a runner from 34/s to the ceiling, 1,000/s.
            growth: float = 2.0 ** min(quiet / self.quiet, 20.0)
            return min(step * growth, self.rate * _LN2 / self.slow_start_doubling)
        # Near a limit that holds still, runners that hear each other probe as one runner would:
        # eight adding 0.5/s each found the limit again within a second of coming back to it.
        if self._steady:
            return STEADY_PROBE * self.rate
        if self.heard:
            # A group grows by every runner's step, and cuts no more often than each can (every
            # 1.5 s at 4/s, _cut_gap): eight runners after a drop to 30/s gained more between two
            # cuts than a cut took, and held 20-30% above the limit (model). A runner alone is not
            # held back: its step is what makes runners apart converge (Chiu and Jain).
            step = min(step, GROUP_CLIMB * self.rate / self._cut_gap())
        return step

    # --- latency and concurrency ----------------------------------------------------------

    def _observe(self, latency: float) -> None:
        self._samples += 1
        self._latency_min = min(self._latency_min, latency)
        weight = 0.05 if self._samples > 20 else 1.0 / self._samples
        self._latency += weight * (latency - self._latency)

    def _queueing(self) -> bool:
        """The API answers far slower than it did when quiet: requests wait in its queue."""
        return self._samples >= 50 and self._latency > 2 * self._latency_min + 0.05

    def _limit(
        self,
        accepted: float,
        *,
        queueing: bool = False,
        counted: bool = True,
        before: float = 0.0,
        share: float = 1.0,
    ) -> None:
        """The API accepts about ``accepted`` a second (told by a rate signal, or by queueing):
        the rate goes to ``decrease`` of it, and that is the rate to come back to after a window.
        ``before``: the rate that met the limit, ``share``: of the answers since the last cut, those
        accepted (see _signal)."""
        now = self.clock()
        if self._last_limit is not None:
            self._spell += 0.3 * (min(now - self._last_limit, 60.0) - self._spell)
        self._last_limit = now
        self.limit_found = self.verified = accepted
        # A limit met again soon after a window: that was no window, but a limit lower than the
        # good rate, which a sliding window (DRF's) shows as a second of refusing everything
        # while its log of the higher rate runs out. Read as a window, the good rate came back
        # each time: one runner against such a limit dropped from 100/s to 30/s had a third of
        # its requests refused for as long as it ran (model); now the rate follows what was
        # accepted since, and a window-cut does not bring the former good rate back.
        after_window = now - self._last_window < EPISODE
        self._good_before = None if queueing or after_window else self.good
        exiting = self.slow_start and not queueing
        # The same share of every runner's own rate (what makes shares converge); only when the
        # API accepted far less than was sent (a rate asked for far above the limit, the end of
        # slow start) does what it accepted set the new rate: a count over a second is too noisy
        # to cut by otherwise.
        # ``counted``: ``accepted`` is worth cutting to (see _signal).
        if after_window and counted and not self.heard:
            base = min(self.rate, accepted)
        else:
            base = (before or self.rate) if accepted >= 0.5 * self.rate or not counted else accepted
        rate = self.decrease * base
        if exiting:
            # Slow start doubles the rate every second, and an API's one-second bucket lets the
            # overshoot through until its burst is spent: the first 429 comes at up to 2.75x
            # the limit. So slow start ends at SLOW_START_EXIT of the rate at most, below the
            # limit at once, as TCP's halves its window. Eight runners on one host, real runs:
            # 1.6-2.4% of requests refused at 0.5 (half of them in the second after slow
            # start), 1.2-1.3% at 0.4; in the event model 1.0% and 0.7% (15% cuts: 2.6%).
            # 0.4 once spread runners on different hosts to 1.6x; that came from the noisy
            # deep cuts LONE_COUNTED now holds back.
            rate = min(rate, SLOW_START_EXIT * self.rate)
        self.rate = max(self.floor, min(self.ceiling, rate))
        self.good = self.rate
        self.slow_start = False
        if exiting:
            self._exit = accepted  # the limit, if the exit's rate goes unanswered (succeeded)
        elif not queueing:
            if not self.heard:
                self._hold_steady(accepted)
            elif accepted >= 0.75 * before and share >= STEADY_ACCEPTED and self._hold <= now:
                # (A group held above a limit, a fifth of it refused, also cuts from about the
                # same rates each time: that is no limit to come back to.)
                self._hold_steady(before, rates=True)
            else:
                # Far less accepted than sent: the limit moved, whatever the rates say. Or a cut
                # into a pause the API asked for, a quota window's start, which a rate below
                # the limit meets too (counted, two runners in windows at 40/s came back to 94%
                # of it after a window and crept up from there; a quarter of the seeds, model).
                self._at_cuts.clear()
                self._steady = False

    def _hold_steady(self, accepted: float, *, rates: bool = False) -> None:
        """What the API accepted before this cut, and before the last: about the same, and that
        is a limit holding still, which the rate comes straight back near. A sliding window
        (DRF's throttles) banks nothing below its limit, so every second spent climbing back
        from a cut is lost: one runner, 6,000 rows, a limit of 100/s kept that way: 86% of it
        over the job with plain AIMD, 92% with this (tests/test_ratelimit.py). A one-second
        bucket hides the climb (it banks what goes unused), and what it accepts before a cut
        varies with what it banked: there this rarely holds.

        Runners that hear each other (``rates``) compare rates, not counts: each one's share is
        too small to count 4% apart, and raised by each one's own count, their shares drifted
        apart (1.17x among four, model). A rate is no noisy count, but two runners' rates at
        their cuts were 4.5-8% apart at one cut in two: held to 4%, one of a pair came back near
        the limit and the other climbed from 85% (91.6% of DRF's window in the worst of eight
        seeds; 93.8% with STEADY_RATE_SPREAD). The rate that met the limit is taken midway to the
        teller's (see _signal), so every group cut draws the shares together, which the fast
        way back would otherwise keep apart; near the limit they then probe as one runner
        (STEADY_PROBE). Eight runners on one host against DRF's window, model: 90-91% of the
        limit over a 6,000-row job with plain AIMD, 94-95% with this; real runs, 84-86% before
        and 87-90% after (bench/RESULTS.md)."""
        seen = self._at_cuts
        seen.append(accepted)
        # Counts under 25 cannot be told 4% apart: at 12/s (one of eight runners apart), two
        # equal counts are chance, not a limit holding still. A rate is not a count.
        if (
            len(seen) == STEADY_CUTS
            and (rates or STEADY_SPREAD * min(seen) >= 1)
            and max(seen) <= (1 + (STEADY_RATE_SPREAD if rates else STEADY_SPREAD)) * min(seen)
        ):
            self.good = max(self.rate, min(self.ceiling, STEADY * min(seen)))
            self._steady = rates
        else:
            self._steady = False

    def _size(self) -> None:
        """In flight = rate × latency (Little's law) with headroom, within the bounds."""
        if not self.auto_concurrency:
            return
        lo, hi = self.concurrency_bounds
        latency = self._latency or 0.05
        wanted = math.ceil(self.rate * latency * self.headroom) + 2
        before = self.inflight_limit
        self.inflight_limit = max(lo, min(hi, wanted))
        if self.inflight_limit > before:
            self._wake()

    def _window(self, now: float) -> int:
        """Successes in the last second."""
        accepted = self._accepted
        while accepted and accepted[0] < now - 1.0:
            accepted.popleft()
        return len(accepted)
