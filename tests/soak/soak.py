"""soak.py - the Python soak (`make soak`; not a ctest entry): what
tests/soak/soak.c does, through the Python binding.

Rounds until --seconds pass; each round runs these workloads at once, each
with its own values (ints, or pinned tuples where noted):

    go        go producers and consumers (aput/atake) on a buffer of 16;
    threads   csp.thread producers and consumers with blocking put/take
              (timeout=60) and a go process on each side, unbuffered,
              tuple values (pinned objects);
    asyncio   an asyncio loop on a plain thread (the binding's loop
              executor bridge) with producer and consumer tasks, beside a
              go producer and consumer, on a buffer of 4;
    alts      agents whose every alts offers a put of the next value on A
              and B, takes from A and B and a take from a 1..4 ms timeout:
              go processes (aalts) and a thread (alts);
    pipeline  to_chan -> pipeline (odd rounds: pipeline_blocking) with
              xf.map -> into; values arrive marked and in order;
    mult      onto_chan -> mult -> three taps: a go consumer, a thread
              consumer, reduce;
    pubsub    a go producer -> pub by topic (two subscribers on topic 0),
              topics 1 and 2 merged and reduced, topic 3 read by a go
              consumer; tuple values.

Checks, every round: every value arrives exactly once at every sink meant
to get it (a lost, duplicated, stray or misrouted value fails the round);
every wait is bounded (60 s: a hang fails with the round and workload
named); afterwards, with garbage collected, the runtime's live channels,
pending callback ops and pending timers, the go scheduler's waiting ops
and the binding's pinned values return to their baseline; RSS stays within
10% + 8 MiB of its value after the warm-up rounds (see soak.c for why).
Python has no callback-op API of its own (put_cb/take_cb are what its
blocking, go and asyncio forms are built on), so there is no cb workload.

Output as soak.c's: a line every 10 s, then
    soak: <ops> ops in <secs> s, rounds <n>, rss start <KiB> KiB end <KiB> KiB, chans live end <n>, ops pending end <n>
and "soak: PASS" or "soak: FAIL <why>" (exit status 1).
"""

import argparse
import asyncio
import gc
import os
import sys
import threading
import time

import csp
from csp import _lowlevel as ll
from csp import _sched, _values
from csp import xf

STALL = 60.0          # seconds any one wait may make no progress
WARMUP_ROUNDS = 3
REPORT_EVERY = 10.0
RSS_SLACK_PCT, RSS_SLACK_KIB = 10, 8 * 1024
# A value: bits 0..27 index + 1, 28..35 workload, 36..55 round (mod 2^20);
# bit 60 is set by the pipeline's transform, above every tag bit (and the
# value stays an immediate int for the binding: below 2^61).
ROUND_MASK = (1 << 20) - 1
MARK = 1 << 60

WORKLOADS = ["go", "threads", "asyncio", "alts", "pipeline", "mult", "pubsub"]


class Failed(Exception):
    pass


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def stats():
    gc.collect()
    _values.drain_drops()
    lib = ll.lib
    return {
        "chans": ll.rt_stat(lib.CSP_STAT_CHANS_LIVE),
        "ops": ll.rt_stat(lib.CSP_STAT_OPS_PENDING),
        "timers": ll.rt_stat(lib.CSP_STAT_TIMERS_PENDING),
        "waiting": len(_sched.SCHED.waiting),
        "pinned": len(_values._slots),
    }


class Soak:
    def __init__(self, seconds, values):
        self.seconds, self.values = seconds, values
        self.ops = 0
        self.ops_lock = threading.Lock()
        self.round = 0
        self.t0 = time.monotonic()
        self.rss_base = self.rss_now = 0

    def add_ops(self, n):
        with self.ops_lock:
            self.ops += n

    def summary(self):
        s = stats()
        print(f"soak: {self.ops} ops in {time.monotonic() - self.t0:.0f} s, "
              f"rounds {self.round}, rss start {self.rss_base} KiB end "
              f"{self.rss_now} KiB, chans live end {s['chans']}, ops pending "
              f"end {s['ops']}", flush=True)

    def fail(self, why):
        self.rss_now = rss_kib()
        self.summary()
        print(f"soak: FAIL round {self.round}: {why}", flush=True)
        # Parked processes and blocked threads stay as they are.
        os._exit(1)


class Check:
    """Arrivals per (sink, index) of one workload in one round. WANTS(sink,
    i) says whether sink expects index i (None: all)."""

    def __init__(self, soak, wl, sinks=1, wants=None):
        self.soak, self.wl, self.n = soak, wl, soak.values
        self.sinks, self.wants = sinks, wants
        self.tag = ((soak.round & ROUND_MASK) << 36) | (WORKLOADS.index(wl) << 28)
        self.seen = bytearray(self.n * sinks)
        self.lock = threading.Lock()
        self.errors = []

    def val(self, i):
        return self.tag | (i + 1)

    def error(self, msg):
        with self.lock:
            self.errors.append(msg)

    def record(self, sink, v):
        x = v[1] if type(v) is tuple else v
        if type(x) is not int:
            return self.error(f"value {v!r} is not a soak value")
        x &= ~MARK
        i = (x & ((1 << 28) - 1)) - 1
        if x >> 28 != self.tag >> 28 or not 0 <= i < self.n:
            return self.error(f"stray value {v!r} at sink {sink}")
        if self.wants is not None and not self.wants(sink, i):
            return self.error(f"value {i} misrouted to sink {sink}")
        with self.lock:
            k = sink * self.n + i
            self.seen[k] += 1
            if self.seen[k] != 1:
                self.errors.append(f"value {i} delivered twice to sink {sink}")

    def judge(self):
        lost = []
        for s in range(self.sinks):
            for i in range(self.n):
                want = self.wants is None or self.wants(s, i)
                if want and self.seen[s * self.n + i] == 0:
                    lost.append((i, s))
        if lost or self.errors:
            first = f"{lost[0][0]} at sink {lost[0][1]}" if lost else "-"
            self.soak.fail(f"workload {self.wl}: {len(lost)} values lost "
                           f"(first: {first}), {len(self.errors)} errors "
                           f"(first: {self.errors[0] if self.errors else 'none'})")


def split(n, k, j):
    return range(n * j // k, n * (j + 1) // k)


# -- parties: go processes and threads ---------------------------------------

async def go_producer(ck, ch, idx, left, tuples=False):
    n = 0
    for i in idx:
        v = ck.val(i)
        if not await ch.aput(("v", v) if tuples else v):
            ck.error(f"go put of {i} found the channel closed")
            break
        n += 1
    left[0] -= 1          # go processes run on one thread: no lock needed
    if left[0] == 0:
        ch.close()
    ck.soak.add_ops(n)


async def go_consumer(ck, ch, sink=0):
    n = 0
    while (v := await ch.atake()) is not None:
        ck.record(sink, v)
        n += 1
    ck.soak.add_ops(n + 1)


def thread_producer(ck, ch, idx, left, lock, tuples=False):
    n = 0
    for i in idx:
        v = ck.val(i)
        try:
            ok = ch.put(("v", v) if tuples else v, timeout=STALL)
        except TimeoutError:
            ck.error(f"thread put of {i} timed out")
            break
        if not ok:
            ck.error(f"thread put of {i} found the channel closed")
            break
        n += 1
    with lock:
        left[0] -= 1
        last = left[0] == 0
    if last:
        ch.close()
    ck.soak.add_ops(n)


def thread_consumer(ck, ch, sink=0):
    n = 0
    while True:
        try:
            v = ch.take(timeout=STALL)
        except TimeoutError:
            ck.error("thread take timed out")
            break
        if v is None:
            break
        ck.record(sink, v)
        n += 1
    ck.soak.add_ops(n + 1)


# -- workloads: start(soak) -> (check, [(what, result chan)], finish) -----------

def wl_go(soak):
    ck = Check(soak, "go")
    ch = csp.chan(16)
    left = [3]
    joins = [("go producer", csp.go(go_producer, ck, ch, split(ck.n, 3, j), left))
             for j in range(3)]
    joins += [("go consumer", csp.go(go_consumer, ck, ch)) for _ in range(3)]
    return ck, joins, None


def wl_threads(soak):
    ck = Check(soak, "threads")
    ch = csp.chan()
    left, lock = [3], threading.Lock()
    joins = [("thread producer",
              csp.thread(thread_producer, ck, ch, split(ck.n, 3, j), left, lock, True))
             for j in range(2)]
    # The go producer shares LEFT with the threads, under LOCK (held for
    # two statements, never across an await).

    async def go_side():
        n = 0
        for i in split(ck.n, 3, 2):
            if not await ch.aput(("v", ck.val(i))):
                ck.error(f"go put of {i} found the channel closed")
                break
            n += 1
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            ch.close()
        ck.soak.add_ops(n)
    joins.append(("go producer", csp.go(go_side)))
    joins += [("thread consumer", csp.thread(thread_consumer, ck, ch)) for _ in range(2)]
    joins.append(("go consumer", csp.go(go_consumer, ck, ch)))
    return ck, joins, None


def wl_asyncio(soak):
    ck = Check(soak, "asyncio")
    ch = csp.chan(4)
    left, lock = [3], threading.Lock()

    def producer_done():
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            ch.close()

    async def aio_producer(idx):
        n = 0
        for i in idx:
            if not await ch.aput(ck.val(i)):
                ck.error(f"asyncio put of {i} found the channel closed")
                break
            n += 1
        producer_done()
        ck.soak.add_ops(n)

    async def aio_consumer():
        n = 0
        while (v := await ch.atake()) is not None:
            ck.record(0, v)
            n += 1
        ck.soak.add_ops(n + 1)

    async def aio_main():
        tasks = [aio_producer(split(ck.n, 3, j)) for j in range(2)]
        tasks += [aio_consumer(), aio_consumer()]
        await asyncio.wait_for(asyncio.gather(*tasks), STALL)

    def host():
        try:
            asyncio.run(aio_main())
        except BaseException as e:  # the round fails on it
            ck.error(f"asyncio host: {e!r}")

    async def go_prod():
        n = 0
        for i in split(ck.n, 3, 2):
            if not await ch.aput(ck.val(i)):
                ck.error(f"go put of {i} found the channel closed")
                break
            n += 1
        producer_done()
        ck.soak.add_ops(n)

    t = threading.Thread(target=host, name="soak-asyncio")
    t.start()
    joins = [("go producer", csp.go(go_prod)), ("go consumer", csp.go(go_consumer, ck, ch))]

    def finish():
        t.join(STALL)
        if t.is_alive():
            soak.fail("workload asyncio: the asyncio host thread did not end")
    return ck, joins, finish


class Agents:
    """The alts workload's shared state."""

    def __init__(self, ck):
        self.ck = ck
        self.a, self.b = csp.chan(), csp.chan(2)
        self.taken = 0
        self.lock = threading.Lock()

    def ops(self, idx, j, rnd):
        ops = []
        if j < len(idx):
            v = self.ck.val(idx[j])
            ops += [(self.a, v), (self.b, v)]
        tmo = csp.timeout(1 + rnd % 4)
        return ops + [self.a, self.b, tmo], tmo

    def result(self, v, c, tmo):
        """Account for one alts; True when a put committed."""
        if c is tmo:
            return False
        if v is True:
            return True
        if v is None or v is False:
            self.ck.error(f"alts found {'A' if c is self.a else 'B'} closed")
            return False
        self.ck.record(0, v)
        with self.lock:
            self.taken += 1
        return False

    def stop(self, idx, j):
        return bool(self.ck.errors) or (j >= len(idx) and self.taken == self.ck.n)


def wl_alts(soak):
    ck = Check(soak, "alts")
    ag = Agents(ck)

    async def go_agent(idx, seed):
        j, n, rnd = 0, 0, seed
        while not ag.stop(idx, j):
            rnd = (rnd * 1103515245 + 12345) & 0x7fffffff
            ops, tmo = ag.ops(idx, j, rnd)
            v, c = await csp.aalts(ops)
            n += 1
            if ag.result(v, c, tmo):
                j += 1
        soak.add_ops(n)

    def thread_agent(idx, seed):
        j, n, rnd = 0, 0, seed
        while not ag.stop(idx, j):
            rnd = (rnd * 1103515245 + 12345) & 0x7fffffff
            ops, tmo = ag.ops(idx, j, rnd)
            v, c = csp.alts(ops)       # bounded by the timeout op
            n += 1
            if ag.result(v, c, tmo):
                j += 1
        soak.add_ops(n)

    joins = [("go alts agent", csp.go(go_agent, split(ck.n, 4, k), soak.round * 31 + k))
             for k in range(3)]
    joins.append(("thread alts agent", csp.thread(thread_agent, split(ck.n, 4, 3), soak.round)))

    def finish():
        if ag.b.count():
            ck.error(f"{ag.b.count()} values left in B")
    return ck, joins, finish


def mark(v):
    return v + MARK


def wl_pipeline(soak):
    ck = Check(soak, "pipeline")
    frm = csp.to_chan([ck.val(i) for i in range(ck.n)])
    to = csp.chan(8)
    if soak.round % 2:
        csp.pipeline_blocking(4, to, xf.map(mark), frm)
    else:
        csp.pipeline(4, to, xf.map(mark), frm)
    res = csp.into(to)

    def finish():
        got = res.take(timeout=STALL)
        if got is None:
            soak.fail("workload pipeline: into gave nothing")
        for k, v in enumerate(got):
            if not v & MARK:
                ck.error(f"value at {k} bypassed the transform")
            if v & ((1 << 28) - 1) != k + 1:
                ck.error(f"value at {k} out of order")
            ck.record(0, v)
        soak.add_ops(len(got))
    return ck, [], finish


def count_into(ck, sink):
    def f(acc, v):
        ck.record(sink, v)
        return acc + 1
    return f


def wl_mult(soak):
    ck = Check(soak, "mult", sinks=3)
    src = csp.chan(8)
    m = csp.mult(src)
    taps = [m.tap(csp.chan(4)), m.tap(csp.chan()), m.tap(csp.chan(1))]
    joins = [("go tap consumer", csp.go(go_consumer, ck, taps[0], 0)),
             ("thread tap consumer", csp.thread(thread_consumer, ck, taps[1], 1))]
    red = csp.reduce(count_into(ck, 2), 0, taps[2])
    joins.append(("onto_chan", csp.onto_chan(src, [ck.val(i) for i in range(ck.n)])))

    def finish():
        n = red.take(timeout=STALL)
        if n != ck.n:
            ck.error(f"reduce counted {n} values")
        soak.add_ops(ck.n)
    return ck, joins, finish


def pub_wants(sink, i):
    if sink == 2:
        return i % 4 in (1, 2)
    return i % 4 == (0, 0, None, 3)[sink]


def wl_pubsub(soak):
    ck = Check(soak, "pubsub", sinks=4, wants=pub_wants)
    src = csp.chan(16)
    p = csp.pub(src, lambda v: ((v[1] & ((1 << 28) - 1)) - 1) % 4,
                lambda topic: 8 if topic % 2 == 0 else None)
    subs = [p.sub(t, csp.chan(4) if k % 2 == 0 else csp.chan())
            for k, t in enumerate((0, 0, 1, 2, 3))]
    red = csp.reduce(count_into(ck, 2), 0, csp.merge(subs[2:4]))
    joins = [("subscriber", csp.go(go_consumer, ck, subs[k], s))
             for k, s in ((0, 0), (1, 1), (4, 3))]
    joins.append(("go producer", csp.go(go_producer, ck, src, range(ck.n), [1], True)))
    want = sum(1 for i in range(ck.n) if pub_wants(2, i))

    def finish():
        n = red.take(timeout=STALL)
        if n != want:
            ck.error(f"reduce counted {n} values, want {want}")
        soak.add_ops(want)
    return ck, joins, finish


STARTS = [wl_go, wl_threads, wl_asyncio, wl_alts, wl_pipeline, wl_mult, wl_pubsub]


def run_round(soak):
    started = [(start.__name__[3:], start(soak)) for start in STARTS]
    for wl, (ck, joins, finish) in started:
        for what, res in joins:
            try:
                v = res.take(timeout=STALL)
            except TimeoutError:
                soak.fail(f"workload {wl}: {what} made no progress for {STALL:.0f} s")
            if v is not None:
                soak.fail(f"workload {wl}: {what} returned {v!r}")
    for wl, (ck, joins, finish) in started:
        if finish is not None:
            finish()
        ck.judge()


def settle(soak, base):
    """Wait until the counters are back at BASE: combinators' processes end
    and free their channels after the values they moved arrived, and a
    timeout an agent stopped waiting for still fires. Polls a state with a
    deadline (no timed guess)."""
    t0 = time.monotonic()
    while True:
        s = stats()
        if s == base:
            return time.monotonic() - t0
        if time.monotonic() - t0 > STALL:
            soak.fail(f"after the round: {s} (baseline {base}) for {STALL:.0f} s")
        time.sleep(0.001)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3600)
    ap.add_argument("--values", type=int, default=2000)
    args = ap.parse_args()
    if args.seconds <= 0:
        ap.error("--seconds must be positive")
    if args.values < 8 or args.values >= 1 << 27:
        ap.error("--values must be in [8, 2**27)")
    soak = Soak(args.seconds, args.values)
    errors = []
    csp.set_exception_handler(lambda e: errors.append(e))
    base = stats()
    soak.rss_now = rss_kib()
    print(f"soak: Python {sys.version.split()[0]}, csp {csp.__version__}, "
          f"{args.values} values per workload per round, {len(STARTS)} "
          f"workloads, {args.seconds:.0f} s; baseline {base}, rss {soak.rss_now} KiB",
          flush=True)
    end = soak.t0 + args.seconds
    next_report = soak.t0 + REPORT_EVERY
    settle_max = 0.0
    while True:
        soak.round += 1
        run_round(soak)
        if errors:
            soak.fail(f"exception in a csp process or thread: {errors[0]!r}")
        settle_max = max(settle_max, settle(soak, base))
        soak.rss_now = rss_kib()
        if soak.round == WARMUP_ROUNDS:
            soak.rss_base = soak.rss_now
        now = time.monotonic()
        if now >= next_report or soak.round == WARMUP_ROUNDS:
            s = stats()
            print(f"soak: {now - soak.t0:4.0f} s round {soak.round} ops {soak.ops} "
                  f"rss {soak.rss_now} KiB chans {s['chans']} ops pending {s['ops']} "
                  f"timers {s['timers']} waiting {s['waiting']} pinned {s['pinned']} "
                  f"settle max {settle_max * 1000:.0f} ms", flush=True)
            while next_report <= now:
                next_report += REPORT_EVERY
        if now >= end and soak.round >= WARMUP_ROUNDS:
            break
    soak.rss_now = rss_kib()
    soak.summary()
    bound = soak.rss_base + soak.rss_base * RSS_SLACK_PCT // 100 + RSS_SLACK_KIB
    if soak.rss_now > bound:
        print(f"soak: FAIL rss grew from {soak.rss_base} KiB to {soak.rss_now} KiB "
              f"(bound: {RSS_SLACK_PCT}% + {RSS_SLACK_KIB} KiB)", flush=True)
        return 1
    print("soak: PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
