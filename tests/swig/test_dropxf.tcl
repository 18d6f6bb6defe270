# test_dropxf.tcl - script drop hooks (chan_new_drop, chan_new_xf's drop)
# and script transforms (xf_*) of bindings/csp.i from Tcl. A drop call is
# queued to the loop from whichever thread drops and runs from a drain,
# once per value; its closure goes when the channel is freed (through
# csp_chan_on_free). A script step runs only on the interpreter's thread;
# from a go process the value is dropped and the exception handler gets
# EPERM from a drain.
source [file join [file dirname [info script]] harness.tcl]

# The values recorded under TAG, checking each call ran on this thread.
proc values_here {tag} {
    set out {}
    if {![info exists ::calls($tag)]} { return {} }
    foreach c $::calls($tag) {
        assert_eq [thread_id] [lindex $c 1] "thread of a $tag call"
        lappend out {*}[lindex $c 0]
    }
    return $out
}

# Drain LOOP until nothing more comes for a few ms (the drops of a
# release are queued at once; this only lets a late one show up).
proc settle {loop} {
    while {[loop_wait $loop 20]} { loop_drain $loop }
}

test drop_hook_gets_each_value_a_sliding_buffer_evicts_once_on_the_loop_thread {
    set rt [rt_default]
    set loop [loop_new $rt]
    set ch [chan_new_drop $rt $CSP_BUF_SLIDING 2 $loop {record d}]
    foreach v {1 2 3 4 5} { assert_eq 1 [put $ch $v 0] }
    drain_until $loop {[llength [calls d]] >= 3}
    settle $loop
    assert_eq {1 2 3} [values_here d]
    chan_release $ch
    loop_free $loop
}

test drop_hook_gets_each_value_a_full_dropping_buffer_refuses {
    set rt [rt_default]
    set loop [loop_new $rt]
    set ch [chan_new_drop $rt $CSP_BUF_DROPPING 2 $loop {record d}]
    foreach v {1 2 3 4} { assert_eq 1 [put $ch $v 0] }
    drain_until $loop {[llength [calls d]] >= 2}
    settle $loop
    assert_eq {3 4} [values_here d]
    assert_eq 1 [take $ch 0]
    chan_release $ch
    loop_free $loop
}

test drop_hook_gets_the_values_still_buffered_when_the_channel_is_released {
    set rt [rt_default]
    set loop [loop_new $rt]
    set ch [chan_new_drop $rt $CSP_BUF_FIXED 4 $loop {record d}]
    foreach v {7 8 9} { put $ch $v 0 }
    chan_release $ch
    drain_until $loop {[llength [calls d]] >= 3}
    settle $loop
    assert_eq {7 8 9} [values_here d]
    loop_free $loop
}

test drop_hook_gets_the_puts_a_delivered_promise_ignores {
    set rt [rt_default]
    set loop [loop_new $rt]
    set ch [chan_new_drop $rt $CSP_BUF_PROMISE 0 $loop {record d}]
    foreach v {1 2 3} { put $ch $v 0 }
    assert_eq 1 [take $ch 0]
    chan_release $ch
    drain_until $loop {[llength [calls d]] >= 3}
    assert_eq {2 3 1} [values_here d]
    loop_free $loop
}

test drop_hook_runs_from_a_drain_never_inside_the_put {
    set rt [rt_default]
    set loop [loop_new $rt]
    set ch [chan_new_drop $rt $CSP_BUF_SLIDING 1 $loop {record d}]
    put $ch 1 0
    put $ch 2 0
    assert_eq {} [calls d] "before the drain"
    # A drop inside a drain (a callback's put) waits for the next drain.
    take_async $ch $loop [list apply {{ch rc v} { put $ch 3 0; put $ch 4 0 }} $ch]
    loop_drain $loop
    assert_eq {1} [values_here d] "the drops of the first drain"
    drain_until $loop {[llength [calls d]] >= 2}
    assert_eq {1 3} [values_here d]
    chan_release $ch
    loop_free $loop
}

test drop_hook_called_on_a_csp_worker_runs_on_the_loop_thread {
    set rt [rt_default]
    set loop [loop_new $rt]
    set src [chan_new_drop $rt $CSP_BUF_FIXED 4 $loop {record d}]
    set dst [chan_new $rt $CSP_BUF_FIXED 1]
    chan_close $dst
    # The pipe's go process takes 5, finds dst closed and discards 5 to
    # src's drop hook, on a worker thread.
    pipe $rt $src $dst 0
    put $src 5 0
    drain_until $loop {[llength [calls d]] >= 1}
    assert_eq {5} [values_here d]
    chan_close $src
    chan_release $src
    chan_release $dst
    loop_free $loop
}

test drop_hook_closure_is_freed_after_the_channel_and_its_last_drop {
    set rt [rt_default]
    set loop [loop_new $rt]
    set before [closures_live]
    set ch [chan_new_drop $rt $CSP_BUF_FIXED 8 $loop {record d}]
    assert_eq [expr {$before + 1}] [closures_live] "while the channel lives"
    foreach v {1 2 3 4 5 6} { put $ch $v 0 }
    chan_release $ch
    drain_until $loop {[closures_live] == $before}
    assert_eq {1 2 3 4 5 6} [values_here d] "every drop ran before the free"
    loop_free $loop
}

test drop_hook_channel_outliving_its_loop_frees_its_closure_at_release {
    set rt [rt_default]
    set loop [loop_new $rt]
    set before [closures_live]
    set ch [chan_new_drop $rt $CSP_BUF_SLIDING 1 $loop {record d}]
    put $ch 1 0
    put $ch 2 0
    loop_free $loop
    assert_eq {1} [values_here d] "queued drops ran in loop_free"
    put $ch 3 0
    assert_eq [expr {$before + 1}] [closures_live] "the channel still lives"
    chan_release $ch
    assert_eq $before [closures_live] "freed with the channel"
    assert_eq {1} [values_here d] "no drop after loop_free"
}

test raising_drop_hook_goes_to_bgerror_and_drain_goes_on {
    set rt [rt_default]
    set loop [loop_new $rt]
    interp bgerror {} {record bg}
    proc fails {v} { if {$v == 1} { error "drop failed on $v" }; record d $v }
    set ch [chan_new_drop $rt $CSP_BUF_SLIDING 1 $loop fails]
    foreach v {1 2 3} { put $ch $v 0 }
    drain_until $loop {[llength [calls d]] >= 1}
    update
    interp bgerror {} bgerror
    assert_eq {2} [values_here d]
    assert_eq 1 [string match "drop failed on 1*" [lindex [calls bg] 0 0]]
    chan_release $ch
    settle $loop
    loop_free $loop
}

test chan_new_drop_rejects_bad_arguments_and_makes_no_closure {
    set rt [rt_default]
    set loop [loop_new $rt]
    set before [closures_live]
    assert_raises "*EINVAL*" { chan_new_drop $rt $CSP_BUF_FIXED 0 $loop d }
    assert_raises "*EINVAL*" { chan_new_drop $rt $CSP_BUF_FIXED -1 $loop d }
    assert_raises "*EINVAL*" { chan_new_drop $rt 9 1 $loop d }
    assert_raises "*EINVAL*" { chan_new_drop $rt $CSP_BUF_FIXED 1 NULL d }
    assert_eq $before [closures_live]
    loop_free $loop
    assert_raises "*EINVAL: loop handle used after loop_free*" {
        chan_new_drop $rt $CSP_BUF_FIXED 1 $loop d
    }
}

test drop_hook_under_racing_workers_gets_every_value_once_then_frees {
    set rt [rt_default]
    set loop [loop_new $rt]
    set before [closures_live]
    for {set round 0} {$round < 30} {incr round} {
        array unset ::calls
        set src [chan_new_drop $rt $CSP_BUF_SLIDING 1 $loop {record d}]
        set dst [chan_new $rt $CSP_BUF_FIXED 1]
        chan_close $dst
        # Four go processes take from src, find dst closed and discard to
        # src's hook on worker threads while this thread's puts evict;
        # the last reference to src goes on whichever thread is last.
        for {set i 0} {$i < 4} {incr i} { pipe $rt $src $dst 0 }
        for {set v 1} {$v <= 10} {incr v} { put $src $v 0 }
        chan_close $src
        chan_release $src
        chan_release $dst
        drain_until $loop {[closures_live] == $before}
        assert_eq {1 2 3 4 5 6 7 8 9 10} [lsort -integer [values_here d]] \
            "round $round: each value dropped once, all before the free"
    }
    loop_free $loop
}

test loop_freed_while_workers_drop_leaves_no_closure_once_the_channel_goes {
    set rt [rt_default]
    set before [closures_live]
    set waiter [loop_new $rt]
    for {set round 0} {$round < 30} {incr round} {
        array unset ::calls
        set loop [loop_new $rt]
        set src [chan_new_drop $rt $CSP_BUF_SLIDING 1 $loop {record d}]
        set dst [chan_new $rt $CSP_BUF_FIXED 1]
        chan_close $dst
        for {set i 0} {$i < 4} {incr i} { pipe $rt $src $dst 0 }
        for {set v 1} {$v <= 10} {incr v} { put $src $v 0 }
        # Drops race with loop_free: each is run in it or discarded.
        loop_free $loop
        chan_close $src
        chan_release $src
        chan_release $dst
        # The pipes hold src a little longer: wait (bounded) for its free.
        set end [expr {[now_ns] + 5000000000}]
        while {[closures_live] != $before && [now_ns] < $end} {
            loop_wait $waiter 1
        }
        assert_eq $before [closures_live] "round $round"
        set got [values_here d]
        assert_eq [llength [lsort -unique $got]] [llength $got] "no value twice"
    }
    loop_free $waiter
}

# ---- Transforms ---------------------------------------------------------

# Everything CH holds now, in order.
proc drain_chan {ch} {
    set out {}
    while {[set v [poll $ch]] != 0} { lappend out $v }
    return $out
}

test xf_map_filter_comp_transform_puts_from_the_interpreter {
    set rt [rt_default]
    set loop [loop_new $rt]
    set even [xf_filter $rt {apply {{v} { expr {$v % 2 == 0} }}}]
    set tens [xf_map $rt {apply {{v} { expr {$v * 10} }}}]
    set both [xf_comp $even $tens]
    set ch [chan_new_xf $rt $CSP_BUF_FIXED 8 $both $loop {record d} ""]
    foreach x [list $even $tens $both] { xf_release $x }
    foreach v {1 2 3 4} { assert_eq 1 [put $ch $v 0] }
    assert_eq {20 40} [drain_chan $ch]
    drain_until $loop {[llength [calls d]] >= 2}
    assert_eq {1 3} [values_here d] "filtered values go to the drop hook"
    chan_release $ch
    loop_free $loop
}

test xf_remove_take_while_and_drop_while_follow_the_predicate {
    set rt [rt_default]
    set loop [loop_new $rt]
    set small {apply {{v} { expr {$v < 3} }}}
    foreach {make want closed} [list \
            xf_remove {3 4} 0 xf_take_while {1 2} 1 xf_drop_while {3 4 1} 0] {
        set xf [$make $rt $small]
        set ch [chan_new_xf $rt $CSP_BUF_FIXED 8 $xf $loop "" ""]
        xf_release $xf
        foreach v {1 2 3 4 1} { put $ch $v 0 }
        assert_eq $want [drain_chan $ch] $make
        assert_eq $closed [chan_closed $ch] "$make closed"
        chan_release $ch
    }
    loop_free $loop
}

test xf_step_emits_several_values_and_reduced_closes_the_channel {
    set rt [rt_default]
    set loop [loop_new $rt]
    set xf [xf_step $rt {apply {{v} {
        if {$v == 3} { return [list 30 31 reduced] }
        return [list $v $v]
    }}}]
    set ch [chan_new_xf $rt $CSP_BUF_FIXED 5 $xf $loop "" ""]
    xf_release $xf
    assert_eq 1 [put $ch 1 0]
    assert_eq 1 [put $ch 2 0]
    assert_eq 1 [put $ch 3 0]
    assert_eq 6 [chan_count $ch] "a transform fills past the capacity"
    assert_eq 0 [put $ch 4 0] "closed after reduced"
    assert_eq {1 1 2 2 30 31} [drain_chan $ch]
    chan_release $ch
    loop_free $loop
}

test xf_builtins_take_drop_dedupe_distinct_need_no_script {
    set rt [rt_default]
    set loop [loop_new $rt]
    foreach {xf want} [list [xf_take $rt 2] {5 5} [xf_drop $rt 2] {6 6 5} \
                            [xf_dedupe $rt] {5 6 5} [xf_distinct $rt] {5 6}] {
        set ch [chan_new_xf $rt $CSP_BUF_FIXED 8 $xf $loop "" ""]
        xf_release $xf
        foreach v {5 5 6 6 5} { put $ch $v 0 }
        assert_eq $want [drain_chan $ch]
        chan_release $ch
    }
    loop_free $loop
}

test xf_step_error_is_reported_and_the_exception_handler_adds_its_value {
    set rt [rt_default]
    set loop [loop_new $rt]
    interp bgerror {} {record bg}
    set xf [xf_map $rt {apply {{v} { if {$v == 2} { error "step failed on $v" }; return $v }}}]
    set ch [chan_new_xf $rt $CSP_BUF_FIXED 8 $xf $loop {record d} \
                {apply {{rc} { record exh $rc; return 99 }}}]
    xf_release $xf
    foreach v {1 2 3} { assert_eq 1 [put $ch $v 0] "the put succeeds" }
    assert_eq {1 99 3} [drain_chan $ch]
    assert_eq [list $CSP_EINVAL] [values_here exh]
    update
    interp bgerror {} bgerror
    assert_eq 1 [string match "step failed on 2*" [lindex [calls bg] 0 0]]
    drain_until $loop {[llength [calls d]] >= 1}
    assert_eq {2} [values_here d] "the failing value is dropped"
    chan_release $ch
    loop_free $loop
}

test xf_result_that_is_no_value_is_an_error {
    set rt [rt_default]
    set loop [loop_new $rt]
    interp bgerror {} {record bg}
    foreach {make script} {
        xf_map {apply {{v} { return 0 }}}
        xf_map {apply {{v} { return abc }}}
        xf_filter {apply {{v} { return maybe }}}
        xf_step {apply {{v} { return [list 1 0] }}}
    } {
        set xf [$make $rt $script]
        set ch [chan_new_xf $rt $CSP_BUF_FIXED 8 $xf $loop "" \
                    {apply {{rc} { record exh $rc; return 0 }}}]
        xf_release $xf
        put $ch 5 0
        assert_eq {} [drain_chan $ch] $script
        chan_release $ch
    }
    update
    interp bgerror {} bgerror
    assert_eq [lrepeat 4 $CSP_EINVAL] [values_here exh]
    assert_eq 4 [llength [calls bg]]
    loop_free $loop
}

test xf_put_from_a_go_process_is_refused_with_eperm_to_the_handler {
    set rt [rt_default]
    set loop [loop_new $rt]
    set xf [xf_map $rt {apply {{v} { record step $v; return $v }}}]
    set ch [chan_new_xf $rt $CSP_BUF_FIXED 8 $xf $loop {record d} \
                {apply {{rc} { record exh $rc; return 77 }}}]
    xf_release $xf
    set src [chan_new $rt $CSP_BUF_FIXED 8]
    pipe $rt $src $ch 0
    foreach v {4 5 6} { put $src $v 0 }
    drain_until $loop {[llength [calls exh]] >= 3 && [llength [calls d]] >= 3}
    assert_eq [lrepeat 3 $CSP_EPERM] [values_here exh]
    assert_eq {4 5 6} [values_here d] "refused values go to the drop hook"
    assert_eq {} [calls step] "the script never ran off its thread"
    assert_eq {} [drain_chan $ch] "nothing added: the handler ran later"
    chan_close $src
    chan_release $src
    chan_release $ch
    loop_free $loop
}

test csp_call_inside_a_step_raises_eperm_and_never_deadlocks {
    set rt [rt_default]
    set loop [loop_new $rt]
    interp bgerror {} {record bg}
    set xf [xf_map $rt {apply {{v} { put $::selfch 1 0; return $v }}}]
    set ::selfch [chan_new_xf $rt $CSP_BUF_FIXED 8 $xf $loop {record d} ""]
    xf_release $xf
    assert_eq 1 [put $::selfch 3 0]
    update
    interp bgerror {} bgerror
    assert_eq 1 [string match "*EPERM: csp call inside a transform step*" \
                     [lindex [calls bg] 0 0]]
    assert_eq {} [drain_chan $::selfch]
    drain_until $loop {[llength [calls d]] >= 1}
    assert_eq {3} [values_here d]
    chan_release $::selfch
    loop_free $loop
}

test xf_transform_closures_and_scripts_are_freed_with_the_channel {
    set rt [rt_default]
    set loop [loop_new $rt]
    set before [closures_live]
    set xf [xf_map $rt {apply {{v} { return $v }}}]
    set ch [chan_new_xf $rt $CSP_BUF_FIXED 8 $xf $loop {record d} \
                {apply {{rc} { return 0 }}}]
    xf_release $xf
    assert_eq [expr {$before + 2}] [closures_live] "drop and handler"
    put $ch 1 0
    chan_release $ch
    drain_until $loop {[closures_live] == $before}
    assert_eq {1} [values_here d]
    loop_free $loop
}

test xf_constructors_reject_bad_arguments {
    set rt [rt_default]
    set loop [loop_new $rt]
    set before [closures_live]
    assert_raises "*EINVAL*" { xf_take $rt -1 }
    assert_raises "*EINVAL*" { xf_drop $rt -1 }
    assert_raises "*EINVAL*" { xf_map NULL {apply {{v} { return $v }}} }
    set xf [xf_take $rt 1]
    assert_raises "*EINVAL*" { xf_comp $xf NULL }
    assert_raises "*EINVAL*" { chan_new_xf $rt $CSP_BUF_NONE 0 $xf $loop "" "" }
    assert_raises "*EINVAL*" { chan_new_xf $rt $CSP_BUF_FIXED 0 $xf $loop "" "" }
    assert_raises "*EINVAL*" { chan_new_xf $rt $CSP_BUF_FIXED 1 NULL $loop "" "" }
    assert_raises "*EINVAL*" { chan_new_xf $rt $CSP_BUF_FIXED 1 $xf NULL "" "" }
    assert_eq $before [closures_live] "no closure left behind"
    xf_release $xf
    assert_raises "*EINVAL: transform handle used after xf_release*" {
        chan_new_xf $rt $CSP_BUF_FIXED 1 $xf $loop "" ""
    }
    assert_raises "*EINVAL: transform handle used after xf_release*" {
        xf_comp $xf $xf
    }
    assert_raises "*EINVAL: transform handle used after xf_release*" {
        xf_release $xf
    }
    loop_free $loop
}
harness::run $argv
