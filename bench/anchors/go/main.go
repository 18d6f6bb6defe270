// CSP performance anchors W1-W8 in Go (goroutines, channels, select, timers).
// Usage: go run . [scale] [W1 W2 ...]   (scale shrinks every N; default 1)
// Prints one line per workload: "W1 pingpong: 123.4 ns/round-trip".
package main

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

var scale = 1.0

func n(base int) int {
	v := int(float64(base)*scale + 0.5)
	if v < 1 {
		v = 1
	}
	return v
}

func perUnit(d time.Duration, units int) float64 { return float64(d.Nanoseconds()) / float64(units) }

// W1: two goroutines, two unbuffered channels, N round trips.
func w1() {
	N := n(1_000_000)
	a, b := make(chan int), make(chan int)
	go func() {
		for v := range a {
			b <- v + 1
		}
		close(b)
	}()
	t0 := time.Now()
	s := 0
	for i := 0; i < N; i++ {
		a <- i
		s += <-b
	}
	el := time.Since(t0)
	close(a)
	check(s == N*(N-1)/2+N, "w1 sum")
	fmt.Printf("W1 pingpong: %.1f ns/round-trip\n", perUnit(el, N))
}

func spsc(name string, N, capacity int) {
	ch := make(chan int, capacity)
	done := make(chan int)
	t0 := time.Now()
	go func() {
		s := 0
		for i := 0; i < N; i++ {
			s += <-ch
		}
		done <- s
	}()
	go func() {
		for i := 0; i < N; i++ {
			ch <- i
		}
	}()
	s := <-done
	el := time.Since(t0)
	check(s == N*(N-1)/2, name+" sum")
	fmt.Printf("%s: %.1f ns/msg\n", name, perUnit(el, N))
}

func w2() { spsc("W2 spsc-buffered", n(10_000_000), 1024) }
func w3() { spsc("W3 spsc-unbuffered", n(1_000_000), 0) }

// W4: 4 producers x N/4 into one channel of capacity 1024, 4 consumers each taking N/4.
func w4() {
	per := n(2_500_000)
	N := per * 4
	ch := make(chan int, 1024)
	res := make(chan int, 4)
	t0 := time.Now()
	for c := 0; c < 4; c++ {
		go func() {
			s := 0
			for i := 0; i < per; i++ {
				s += <-ch
			}
			res <- s
		}()
	}
	for p := 0; p < 4; p++ {
		go func() {
			for i := 0; i < per; i++ {
				ch <- i
			}
		}()
	}
	s := 0
	for c := 0; c < 4; c++ {
		s += <-res
	}
	el := time.Since(t0)
	check(s == 4*(per*(per-1)/2), "w4 sum")
	fmt.Printf("W4 mpmc: %.1f ns/msg\n", perUnit(el, N))
}

// W5: 100 producers, each on its own unbuffered channel; one consumer selects over all.
func w5producers(per int) []chan int {
	chs := make([]chan int, 100)
	for i := range chs {
		chs[i] = make(chan int)
	}
	for i := range chs {
		go func(c chan int) {
			for j := 0; j < per; j++ {
				c <- 1
			}
		}(chs[i])
	}
	return chs
}

func w5() {
	per := n(10_000)
	N := per * 100
	t0 := time.Now()
	chs := w5producers(per)
	s := 0
	for i := 0; i < N; i++ {
		s += select100(chs)
	}
	el := time.Since(t0)
	check(s == N, "w5 sum")
	fmt.Printf("W5 fan-in-select: %.1f ns/msg\n", perUnit(el, N))
}

// W5r: the same with reflect.Select, Go's only way to select over a run-time list.
func w5r() {
	per := n(10_000)
	N := per * 100
	t0 := time.Now()
	chs := w5producers(per)
	cases := make([]reflect.SelectCase, 100)
	for i, c := range chs {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)}
	}
	s := 0
	for i := 0; i < N; i++ {
		_, v, _ := reflect.Select(cases)
		s += int(v.Int())
	}
	el := time.Since(t0)
	check(s == N, "w5r sum")
	fmt.Printf("W5r fan-in-select(reflect): %.1f ns/msg\n", perUnit(el, N))
}

// W6 (daisy chain, SPEC.md): N+1 unbuffered channels and N goroutines;
// goroutine i takes v from c[i] and puts v+1 on c[i+1]; main puts 0 on c[0] and takes
// from c[N]. All N goroutines are alive and parked at once; creation is timed.
// Memory per goroutine is the peak RSS growth plus the page-table growth (VmPTE);
// the chain runs twice in one process, cold and then warm (stacks and memory reused).
func w6once(N int, label string) {
	resetPeak()
	base, pte0 := rssKB("VmRSS"), rssKB("VmPTE")
	t0 := time.Now()
	chs := make([]chan int, N+1)
	for i := range chs {
		chs[i] = make(chan int)
	}
	for i := 0; i < N; i++ {
		go func(in, out chan int) { out <- <-in + 1 }(chs[i], chs[i+1])
	}
	chs[0] <- 0
	v := <-chs[N]
	el := time.Since(t0)
	peak, pte := rssKB("VmHWM"), rssKB("VmPTE")
	check(v == N, "w6 value")
	rss := float64(peak-base) * 1024 / float64(N)
	pt := float64(pte-pte0) * 1024 / float64(N)
	fmt.Printf("%s: %.1f ns/process %.0f B/process (RSS %.0f + page tables %.0f, peak delta)\n",
		label, perUnit(el, N), rss+pt, rss, pt)
}

func w6() {
	N := n(1_000_000)
	w6once(N, "W6 spawn")
	runtime.GC()
	w6once(N, "W6warm spawn-rerun")
}

// resetPeak resets VmHWM to the current RSS (Linux: clear_refs 5), so that a
// rerun measures its own peak.
func resetPeak() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// W6s: the first form of W6: N goroutines each put their id on one channel of capacity
// 1024, main then takes all N. Not expressible in core.async or csp (at most 1024
// pending puts per channel); kept as a memory probe for systems without that limit.
func w6s() {
	N := n(1_000_000)
	ch := make(chan int, 1024)
	base := rssKB("VmRSS")
	t0 := time.Now()
	for i := 0; i < N; i++ {
		go func(id int) { ch <- id }(i)
	}
	s := 0
	for i := 0; i < N; i++ {
		s += <-ch
	}
	el := time.Since(t0)
	peak := rssKB("VmHWM")
	check(s == N*(N-1)/2, "w6s sum")
	fmt.Printf("W6s spawn-shared: %.1f ns/process %.0f B/process (peak RSS delta)\n",
		perUnit(el, N), float64(peak-base)*1024/float64(N))
}

// W6w: the same spawn in waves of 1024 (spawn 1024, take 1024), so that no more than
// 1024 puts are ever pending on the channel: the form core.async (and csp) can run.
func w6w() {
	N := n(1_000_000)
	ch := make(chan int, 1024)
	t0 := time.Now()
	s := 0
	for done := 0; done < N; {
		k := N - done
		if k > 1024 {
			k = 1024
		}
		for j := 0; j < k; j++ {
			go func(id int) { ch <- id }(done + j)
		}
		for j := 0; j < k; j++ {
			s += <-ch
		}
		done += k
	}
	el := time.Since(t0)
	check(s == N*(N-1)/2, "w6w sum")
	fmt.Printf("W6w spawn-waves: %.1f ns/process\n", perUnit(el, N))
}

// W7: 503 goroutines in a ring of unbuffered channels, one token passed N hops.
func w7() {
	const P = 503
	N := n(10_000_000)
	chs := make([]chan int, P)
	for i := range chs {
		chs[i] = make(chan int)
	}
	done := make(chan int)
	for i := 0; i < P; i++ {
		go func(in, out chan int) {
			for {
				v := <-in
				if v == 0 {
					done <- 0
					return
				}
				out <- v - 1
			}
		}(chs[i], chs[(i+1)%P])
	}
	t0 := time.Now()
	chs[0] <- N
	<-done
	el := time.Since(t0)
	fmt.Printf("W7 ring: %.1f ns/hop\n", perUnit(el, N))
}

// W8: N goroutines, each waits on its own timer of 1..100 ms (fixed-seed LCG), then signals.
func w8() {
	N := n(100_000)
	durs := timerDurations(N)
	late := make(chan time.Duration, N) // capacity N: no process ever waits to report
	t0 := time.Now()
	for i := 0; i < N; i++ {
		go func(ms int) {
			d := time.Duration(ms) * time.Millisecond
			s := time.Now()
			<-time.After(d)
			late <- time.Since(s) - d
		}(durs[i])
	}
	ls := make([]float64, N)
	for i := 0; i < N; i++ {
		ls[i] = float64((<-late).Nanoseconds()) / 1e6
	}
	el := time.Since(t0)
	sort.Float64s(ls)
	fmt.Printf("W8 timers: %.1f ms total, lateness p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
		float64(el.Nanoseconds())/1e6, ls[len(ls)/2], ls[len(ls)*99/100], ls[len(ls)-1])
}

// timerDurations: the shared fixed-seed sequence, d = 1 + (x >> 33) % 100 with
// x = x*6364136223846793005 + 1442695040888963407, x0 = 42 (same in every anchor).
func timerDurations(N int) []int {
	x := uint64(42)
	out := make([]int, N)
	for i := range out {
		x = x*6364136223846793005 + 1442695040888963407
		out[i] = 1 + int((x>>33)%100)
	}
	return out
}

func rssKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

func check(ok bool, what string) {
	if !ok {
		fmt.Fprintln(os.Stderr, "check failed:", what)
		os.Exit(1)
	}
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 {
		if f, err := strconv.ParseFloat(args[0], 64); err == nil {
			scale = f
			args = args[1:]
		}
	}
	all := []struct {
		name string
		fn   func()
	}{{"W1", w1}, {"W2", w2}, {"W3", w3}, {"W4", w4}, {"W5", w5}, {"W5r", w5r}, {"W7", w7}, {"W6", w6}, {"W8", w8}, {"W6W", w6w}, {"W6S", w6s}}
	want := map[string]bool{}
	for _, a := range args {
		want[strings.ToUpper(a)] = true
	}
	fmt.Fprintf(os.Stderr, "# go %s GOMAXPROCS=%d scale=%g\n", runtime.Version(), runtime.GOMAXPROCS(0), scale)
	for _, w := range all {
		if len(want) == 0 || want[strings.ToUpper(w.name)] {
			w.fn()
		}
	}
}
