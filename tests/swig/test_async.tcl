# test_async.tcl - callback operations of bindings/csp.i from Tcl: script
# procedures made into C callbacks by libffi closures (bindings/ffi.c),
# run when the loop is drained, on the thread that drains it.
source [file join [file dirname [info script]] harness.tcl]

test take_async_calls_back_once_with_value {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    take_async $ch $loop {record t}
    assert_eq 1 [put $ch 42 1000]
    drain_until $loop {[llength [calls t]] > 0}
    loop_wait $loop 20
    loop_drain $loop
    assert_eq [list [list $CSP_OK 42]] [calls t] "calls"
    chan_release $ch
    loop_free $loop
}

test callback_runs_on_the_draining_thread_not_the_timer_thread {
    set loop [loop_new [rt_default]]
    set t [timeout [rt_default] 5]
    take_async $t $loop {record t}
    drain_until $loop {[llength [calls t]] > 0}
    assert_eq [thread_id] [lindex $::calls(t) 0 1] "thread"
    assert_eq [list [list $CSP_ECLOSED 0]] [calls t]
    chan_release $t
    loop_free $loop
}

test ready_take_calls_back_from_next_drain_not_inline {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    put $ch 7 0
    take_async $ch $loop {record t}
    assert_eq {} [calls t] "before the drain"
    drain_until $loop {[llength [calls t]] > 0}
    assert_eq [list [list $CSP_OK 7]] [calls t]
    chan_release $ch
    loop_free $loop
}

test put_async_calls_back_with_ok_when_taken {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    put_async $ch 9 $loop {record p}
    assert_eq 9 [take $ch 1000]
    drain_until $loop {[llength [calls p]] > 0}
    assert_eq [list [list $CSP_OK]] [calls p]
    chan_release $ch
    loop_free $loop
}

test put_async_on_closed_calls_back_with_eclosed {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    chan_close $ch
    put_async $ch 9 $loop {record p}
    drain_until $loop {[llength [calls p]] > 0}
    assert_eq [list [list $CSP_ECLOSED]] [calls p]
    chan_release $ch
    loop_free $loop
}

test take_async_on_closed_calls_back_with_eclosed_and_zero {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    take_async $ch $loop {record t}
    chan_close $ch
    drain_until $loop {[llength [calls t]] > 0}
    assert_eq [list [list $CSP_ECLOSED 0]] [calls t]
    chan_release $ch
    loop_free $loop
}

test put_async_of_zero_raises_einval_without_callback {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    set before [closures_live]
    assert_raises "*EINVAL*" { put_async $ch 0 $loop {record p} }
    assert_eq $before [closures_live] "closures"
    loop_wait $loop 10
    loop_drain $loop
    assert_eq {} [calls p]
    chan_release $ch
    loop_free $loop
}

test alts_async_timeout_wins_with_its_index {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    # Before the timeout is made: it closes 20 ms after its creation.
    set t0 [now_ns]
    set t [timeout [rt_default] 20]
    set a [alts_new]
    alts_take $a $ch
    alts_take $a $t
    alts_async $a 0 $loop {record a}
    alts_free $a
    drain_until $loop {[llength [calls a]] > 0}
    assert_eq [list [list $CSP_ECLOSED 1 0]] [calls a]
    assert_eq 1 [expr {[now_ns] - $t0 >= 20000000}] "waited 20 ms"
    chan_release $t
    chan_release $ch
    loop_free $loop
}

test alts_async_take_wins_with_value {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    set t [timeout [rt_default] 10000]
    set a [alts_new]
    alts_take $a $t
    alts_take $a $ch
    alts_async $a 0 $loop {record a}
    assert_eq 1 [put $ch 5 1000]
    drain_until $loop {[llength [calls a]] > 0}
    assert_eq [list [list $CSP_OK 1 5]] [calls a]
    alts_free $a
    chan_release $t
    chan_release $ch
    loop_free $loop
}

test alts_async_default_with_nothing_ready_calls_back_eagain {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    set a [alts_new]
    alts_take $a $ch
    alts_async $a $CSP_ALTS_DEFAULT $loop {record a}
    drain_until $loop {[llength [calls a]] > 0}
    assert_eq [list [list $CSP_EAGAIN -1 0]] [calls a]
    alts_free $a
    chan_release $ch
    loop_free $loop
}

test raising_callback_goes_to_bgerror_and_drain_goes_on {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 2]
    interp bgerror {} {record bg}
    proc fails {rc v} { error "callback failed on $v" }
    take_async $ch $loop fails
    take_async $ch $loop {record t}
    put $ch 1 0
    put $ch 2 0
    drain_until $loop {[llength [calls t]] > 0}
    update
    interp bgerror {} bgerror
    assert_eq [list [list $CSP_OK 2]] [calls t]
    assert_eq 1 [llength [calls bg]] "background errors"
    assert_eq 1 [string match "callback failed on 1*" \
                     [lindex [calls bg] 0 0]] "error message"
    chan_release $ch
    loop_free $loop
}

test callback_keeps_the_interpreter_result {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    proc sets_result {rc v} { set ::got $v; return "not this" }
    take_async $ch $loop sets_result
    put $ch 3 0
    loop_wait $loop 1000
    assert_eq 1 [loop_drain $loop] "drained"
    assert_eq 3 $::got
    chan_release $ch
    loop_free $loop
}

test op_cancel_withdraws_and_callback_never_runs {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    set id [take_async $ch $loop {record t}]
    assert_eq 1 [op_live $id] "live before"
    assert_eq 1 [op_cancel $id] "withdrawn"
    assert_eq 0 [op_live $id] "live after"
    assert_eq $CSP_EAGAIN [offer $ch 4] "no taker left"
    loop_wait $loop 10
    loop_drain $loop
    assert_eq {} [calls t]
    chan_release $ch
    loop_free $loop
}

test op_cancel_after_callback_returns_zero {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    put $ch 1 0
    set id [take_async $ch $loop {record t}]
    drain_until $loop {[llength [calls t]] > 0}
    assert_eq 0 [op_cancel $id]
    assert_eq 0 [op_cancel 123456789] "unknown id"
    chan_release $ch
    loop_free $loop
}

test loop_free_calls_waiting_ops_back_with_ecanceled {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    take_async $ch $loop {record t}
    put_async $ch 8 $loop {record p}
    set ch2 [chan_new [rt_default] $CSP_BUF_NONE 0]
    put_async $ch2 8 $loop {record p2}
    loop_free $loop
    assert_eq [list [list $CSP_OK 8]] [calls t] "completed take"
    assert_eq [list [list $CSP_OK]] [calls p] "completed put"
    assert_eq [list [list $CSP_ECANCELED]] [calls p2] "waiting put"
    assert_eq $CSP_EAGAIN [offer $ch 1] "nothing left waiting"
    chan_release $ch2
    chan_release $ch
}

test closures_are_freed_when_ops_complete_or_are_cancelled {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    set before [closures_live]
    set ids {}
    for {set i 0} {$i < 20} {incr i} {
        lappend ids [take_async $ch $loop {record t}]
    }
    assert_eq [expr {$before + 20}] [closures_live] "while waiting"
    for {set i 1} {$i <= 10} {incr i} { put $ch $i 1000 }
    foreach id [lrange $ids 10 end] { assert_eq 1 [op_cancel $id] }
    drain_until $loop {[llength [calls t]] == 10}
    assert_eq $before [closures_live] "after"
    chan_release $ch
    loop_free $loop
}

test many_async_ops_each_call_back_exactly_once {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 16]
    set n 2000
    for {set i 1} {$i <= $n} {incr i} {
        put_async $ch $i $loop {record p}
        take_async $ch $loop {record t}
        if {$i % 97 == 0} {
            set tm [timeout [rt_default] [expr {$i % 3}]]
            take_async $tm $loop {record tm}
            chan_release $tm
        }
    }
    drain_until $loop {[llength [calls t]] == $n &&
                       [llength [calls tm]] == $n / 97} 20000
    loop_wait $loop 20
    loop_drain $loop
    assert_eq $n [llength [calls p]] "put callbacks"
    assert_eq $n [llength [calls t]] "take callbacks"
    set seen [lsort -integer [lmap c [calls t] {lindex $c 1}]]
    for {set i 1} {$i <= $n} {incr i} {
        if {[lindex $seen [expr {$i - 1}]] != $i} {
            error "value $i missing or doubled"
        }
    }
    foreach c $::calls(tm) { assert_eq [thread_id] [lindex $c 1] "thread" }
    chan_release $ch
    loop_free $loop
}

test op_completing_at_once_in_a_callback_calls_back_after_it_returns {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 2]
    set ::order {}
    proc outer {loop ch rc v} {
        take_async $ch $loop {apply {{rc v} { lappend ::order "inner $v" }}}
        lappend ::order "outer $v returns"
    }
    put $ch 1 0
    put $ch 2 0
    take_async $ch $loop [list outer $loop $ch]
    drain_until $loop {[llength $::order] == 2}
    assert_eq {{outer 1 returns} {inner 2}} $::order
    chan_release $ch
    loop_free $loop
}

test script_callback_may_start_another_async_op {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 4]
    proc again {loop ch rc v} {
        lappend ::got $v
        if {$v < 3} {
            put $ch [expr {$v + 1}] 0
            take_async $ch $loop [list again $loop $ch]
        }
    }
    set ::got {}
    put $ch 1 0
    take_async $ch $loop [list again $loop $ch]
    drain_until $loop {[llength $::got] == 3}
    assert_eq {1 2 3} $::got
    chan_release $ch
    loop_free $loop
}
harness::run $argv
