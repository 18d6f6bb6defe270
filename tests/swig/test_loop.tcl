# test_loop.tcl - csp completions driven by Tcl's own event loop: the
# loop's descriptor as a Tcl channel under `fileevent ... readable`, the
# program in vwait, every stage a callback, a timeout channel bounding
# the whole.
source [file join [file dirname [info script]] harness.tcl]

# A three-stage pipeline: produce 1..N on SRC, square on OUT, sum in the
# sink, which alts OUT against a deadline of LIMIT_MS. Sets ::done to
# "ok SUM" or "timeout SUM".
proc pipeline {n limit_ms {produce 1}} {
    set rt [rt_default]
    set ::loop [loop_new $rt]
    set ::src [chan_new $rt $::CSP_BUF_FIXED 4]
    set ::out [chan_new $rt $::CSP_BUF_FIXED 4]
    set ::deadline [timeout $rt $limit_ms]
    set ::sum 0
    set fc [loop_channel $::loop]
    fileevent $fc readable [list loop_drain $::loop]

    proc produce {i n rc} {
        if {$i > $n} { chan_close $::src; return }
        put_async $::src $i $::loop [list produce [expr {$i + 1}] $n]
    }
    proc stage {rc v} {
        if {$rc == $::CSP_ECLOSED} { chan_close $::out; return }
        put_async $::out [expr {$v * $v}] $::loop \
            {apply {{rc} { take_async $::src $::loop stage }}}
    }
    proc sink {} {
        set a [alts_new]
        alts_take $a $::out
        alts_take $a $::deadline
        alts_async $a $::CSP_ALTS_PRIORITY $::loop sunk
        alts_free $a
    }
    proc sunk {rc idx v} {
        if {$idx == 1} { set ::done "timeout $::sum"; return }
        if {$rc == $::CSP_ECLOSED} { set ::done "ok $::sum"; return }
        incr ::sum $v
        sink
    }
    if {$produce} { produce 1 $n $::CSP_OK }
    take_async $::src $::loop stage
    sink
    vwait ::done
    close $fc
    chan_release $::deadline
    chan_release $::out
    chan_release $::src
    loop_free $::loop
    return $::done
}

test fileevent_driven_pipeline_finishes_before_its_timeout {
    set n 500
    set want 0
    for {set i 1} {$i <= $n} {incr i} { incr want [expr {$i * $i}] }
    assert_eq "ok $want" [pipeline $n 20000]
}

test fileevent_driven_pipeline_repeats_without_losing_values {
    for {set round 0} {$round < 20} {incr round} {
        assert_eq "ok 385" [pipeline 10 20000] "round $round"
    }
}

test stalled_pipeline_ends_at_its_timeout {
    set t0 [now_ns]
    assert_eq "timeout 0" [pipeline 10 50 0]
    assert_eq 1 [expr {[now_ns] - $t0 >= 50000000}] "waited 50 ms"
}

harness::run $argv
