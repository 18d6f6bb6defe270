// CSP performance anchors W1-W8 in C++ with Boost.Fiber (Debian libboost-fiber-dev 1.74).
// Build: g++ -O2 -std=c++17 bench.cpp -o bench-fiber -lboost_fiber -lboost_context -pthread
// Usage: ./bench-fiber [scale] [--threads N] [W1 W2 ...]
//   --threads 1 (default): round_robin scheduler, one thread.
//   --threads N>1: algo::work_stealing over N threads (idle threads spin).
// Prints one line per workload: "W1 pingpong: 123.4 ns/round-trip".
#include <boost/fiber/all.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace bf = boost::fibers;
using clk = std::chrono::steady_clock;
using buf_chan = bf::buffered_channel<long>;
using unbuf_chan = bf::unbuffered_channel<long>;

static double scale = 1.0;
static int g_threads = 1;
static long n_of(long base) { long v = (long)(base * scale + 0.5); return v < 1 ? 1 : v; }
static double ns_since(clk::time_point t0) {
    return (double)std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
}
static long status_kb(const char *field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    size_t len = strlen(field);
    while (std::getline(f, line))
        if (line.compare(0, len, field) == 0 && line[len] == ':') return atol(line.c_str() + len + 1);
    return 0;
}
static void check(bool ok, const char *what) {
    if (!ok) { fprintf(stderr, "check failed: %s\n", what); exit(1); }
}

// Detached fiber on a 16 KiB stack: pooled (reused, never returned to the OS) with one
// thread; plain malloc'd with several, because pooled_fixedsize_stack is not thread-safe
// (a fiber stolen by another thread frees its stack there).
template <class F> static void spawn_small(F &&fn) {
    static bf::pooled_fixedsize_stack pooled(16 * 1024);
    static bf::fixedsize_stack plain(16 * 1024);
    if (g_threads > 1) bf::fiber(std::allocator_arg, plain, std::forward<F>(fn)).detach();
    else bf::fiber(std::allocator_arg, pooled, std::forward<F>(fn)).detach();
}

// Note: buffered_channel needs a power-of-two capacity and holds capacity-1 values.
static void w1() {
    long N = n_of(1000000);
    unbuf_chan a, b;
    bf::fiber echo([&] { long v; while (a.pop(v) == bf::channel_op_status::success) b.push(v + 1); });
    auto t0 = clk::now();
    long s = 0;
    for (long i = 0; i < N; i++) { a.push(i); s += b.value_pop(); }
    double el = ns_since(t0);
    a.close(); echo.join();
    check(s == N * (N - 1) / 2 + N, "w1 sum");
    printf("W1 pingpong: %.1f ns/round-trip\n", el / N);
}

template <class Chan> static void spsc(const char *name, Chan &ch, long N) {
    auto t0 = clk::now();
    long s = 0;
    bf::fiber cons([&] { for (long i = 0; i < N; i++) s += ch.value_pop(); });
    bf::fiber prod([&] { for (long i = 0; i < N; i++) ch.push(i); });
    prod.join(); cons.join();
    double el = ns_since(t0);
    check(s == N * (N - 1) / 2, name);
    printf("%s: %.1f ns/msg\n", name, el / N);
}
static void w2() { buf_chan ch(1024); spsc("W2 spsc-buffered", ch, n_of(10000000)); }
static void w3() { unbuf_chan ch; spsc("W3 spsc-unbuffered", ch, n_of(1000000)); }

static void w4() {
    long per = n_of(2500000), N = per * 4;
    buf_chan ch(1024);
    std::atomic<long> s{0};
    std::vector<bf::fiber> fs;
    auto t0 = clk::now();
    for (int c = 0; c < 4; c++)
        fs.emplace_back([&] { long t = 0; for (long i = 0; i < per; i++) t += ch.value_pop(); s += t; });
    for (int p = 0; p < 4; p++)
        fs.emplace_back([&] { for (long i = 0; i < per; i++) ch.push(i); });
    for (auto &f : fs) f.join();
    double el = ns_since(t0);
    check(s == 4 * (per * (per - 1) / 2), "w4 sum");
    printf("W4 mpmc: %.1f ns/msg\n", el / N);
}

// W5 is not expressible: Boost.Fiber channels have no select/alts.

// W6 (daisy chain, bench/anchors/SPEC.md): N+1 unbuffered channels and N fibers; fiber i
// takes v from c[i] and puts v+1 on c[i+1]; main puts 0 on c[0] and takes from c[N].
// 16 KiB malloc'd stacks: the default size (128 KiB, so one mmap each) would exceed
// vm.max_map_count at 1M fibers.
static void w6() {
    long N = n_of(1000000);
    long base = status_kb("VmRSS");
    bf::fixedsize_stack salloc(16 * 1024);
    auto t0 = clk::now();
    std::vector<unbuf_chan> chs(N + 1);
    for (long i = 0; i < N; i++) {
        unbuf_chan *in = &chs[i], *out = &chs[i + 1];
        bf::fiber(std::allocator_arg, salloc, [in, out] { out->push(in->value_pop() + 1); }).detach();
    }
    chs[0].push(0);
    long v = chs[N].value_pop();
    double el = ns_since(t0);
    long peak = status_kb("VmHWM");
    check(v == N, "w6 value");
    printf("W6 spawn: %.1f ns/process %.0f B/process (peak RSS delta)\n", el / N,
           (double)(peak - base) * 1024 / N);
}

// W6s: the first form of W6 (N fibers each put their id on one channel of capacity 1024,
// main then takes all N): not expressible in core.async or csp (1024 pending puts per
// channel at most); kept as a memory probe.
static void w6s() {
    long N = n_of(1000000);
    buf_chan ch(1024);
    long base = status_kb("VmRSS");
    bf::fixedsize_stack salloc(16 * 1024);
    auto t0 = clk::now();
    for (long i = 0; i < N; i++)
        bf::fiber(std::allocator_arg, salloc, [&ch, i] { ch.push(i); }).detach();
    long s = 0;
    for (long i = 0; i < N; i++) s += ch.value_pop();
    double el = ns_since(t0);
    long peak = status_kb("VmHWM");
    check(s == N * (N - 1) / 2, "w6s sum");
    printf("W6s spawn-shared: %.1f ns/process %.0f B/process (peak RSS delta)\n", el / N,
           (double)(peak - base) * 1024 / N);
}

// W6w: spawn in waves of 1024 (spawn 1024, take 1024): at most 1024 puts pending (core.async's limit).
static void w6w() {
    long N = n_of(1000000);
    buf_chan ch(1024);
    // spawn_small: pooled stacks are reused across waves (malloc'd ones get trimmed and re-faulted).
    auto t0 = clk::now();
    long s = 0;
    for (long done = 0; done < N;) {
        long k = std::min(1024L, N - done);
        for (long j = 0; j < k; j++)
            spawn_small([&ch, id = done + j] { ch.push(id); });
        for (long j = 0; j < k; j++) s += ch.value_pop();
        done += k;
    }
    double el = ns_since(t0);
    check(s == N * (N - 1) / 2, "w6w sum");
    printf("W6w spawn-waves: %.1f ns/process\n", el / N);
}

static void w7() {
    const int P = 503;
    long N = n_of(10000000);
    std::vector<unbuf_chan *> chs;
    for (int i = 0; i < P; i++) chs.push_back(new unbuf_chan());
    unbuf_chan done;
    std::vector<bf::fiber> fs;
    for (int i = 0; i < P; i++) {
        unbuf_chan *in = chs[i], *out = chs[(i + 1) % P];
        fs.emplace_back([in, out, &done] {
            long v;
            while (in->pop(v) == bf::channel_op_status::success) {
                if (v == 0) { done.push(0); return; }
                out->push(v - 1);
            }
        });
    }
    auto t0 = clk::now();
    chs[0]->push(N);
    done.value_pop();
    double el = ns_since(t0);
    for (auto c : chs) c->close();
    for (auto &f : fs) f.join();
    for (auto c : chs) delete c;
    printf("W7 ring: %.1f ns/hop\n", el / N);
}

static std::vector<int> timer_durations(long N) {
    uint64_t x = 42;
    std::vector<int> out(N);
    for (long i = 0; i < N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        out[i] = 1 + (int)((x >> 33) % 100);
    }
    return out;
}

static size_t pow2_above(long n) { size_t c = 2; while (c <= (size_t)n) c <<= 1; return c; }

static void w8() {
    long N = n_of(100000);
    auto durs = timer_durations(N);
    buf_chan late(pow2_above(N)); // room for all N: no fiber ever waits to report
    auto t0 = clk::now();
    for (long i = 0; i < N; i++) {
        int ms = durs[i];
        spawn_small([&late, ms] {
            auto s = clk::now();
            boost::this_fiber::sleep_for(std::chrono::milliseconds(ms));
            late.push((long)(ns_since(s) - ms * 1e6));
        });
    }
    std::vector<double> ls(N);
    for (long i = 0; i < N; i++) ls[i] = late.value_pop() / 1e6;
    double el = ns_since(t0);
    std::sort(ls.begin(), ls.end());
    printf("W8 timers: %.1f ms total, lateness p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", el / 1e6, ls[N / 2], ls[N * 99 / 100], ls[N - 1]);
}

int main(int argc, char **argv) {
    int threads = 1;
    std::set<std::string> want;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) g_threads = threads = atoi(argv[++i]);
        else if (i == 1 && (isdigit((unsigned char)argv[i][0]) || argv[i][0] == '.')) scale = atof(argv[i]);
        else { std::string w = argv[i]; for (auto &c : w) c = toupper(c); want.insert(w); }
    }
    fprintf(stderr, "# boost.fiber %d.%d threads=%d scale=%g\n", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000, threads, scale);
    std::vector<std::thread> workers;
    bf::mutex mtx;
    bf::condition_variable cv;
    bool finished = false;
    if (threads > 1) {
        for (int t = 1; t < threads; t++)
            workers.emplace_back([&] {
                bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);
                std::unique_lock<bf::mutex> lk(mtx);
                cv.wait(lk, [&] { return finished; });
            });
        bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);
    }
    struct { const char *name; void (*fn)(); } all[] = {
        {"W1", w1}, {"W2", w2}, {"W3", w3}, {"W4", w4}, {"W7", w7}, {"W8", w8}, {"W6W", w6w}, {"W6S", w6s}, {"W6", w6}};
    for (auto &w : all) {
        if (!want.empty() && !want.count(w.name)) continue;
        w.fn();
        fflush(stdout);
    }
    if (threads > 1) {
        { std::unique_lock<bf::mutex> lk(mtx); finished = true; }
        cv.notify_all();
        for (auto &t : workers) t.join();
    }
    return 0;
}
