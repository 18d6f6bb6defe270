# test_swig.tcl - the SWIG interface (bindings/csp.i) driven from Tcl: one
# behaviour per test, as the C, Python and Lua suites.
source [file join [file dirname [info script]] harness.tcl]

test version_is_dotted_triple {
    assert_eq 1 [regexp {^[0-9]+\.[0-9]+\.[0-9]+$} [version]]
}

test errname_and_strerror_name_codes {
    assert_eq ECLOSED [errname $CSP_ECLOSED]
    assert_eq 1 [expr {[string length [strerror $CSP_EINVAL]] > 0}]
}

test now_ns_is_monotonic {
    set a [now_ns]
    set b [now_ns]
    assert_eq 1 [expr {$b >= $a}]
}

test put_then_take_on_fixed_returns_value {
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    assert_eq 1 [put $ch 42 -1]
    assert_eq 42 [take $ch -1]
    chan_release $ch
}

test take_times_out_with_etimedout {
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    set t0 [now_ns]
    assert_raises "*ETIMEDOUT*" { take $ch 20 }
    assert_eq 1 [expr {[now_ns] - $t0 >= 20000000}] "waited at least 20 ms"
    chan_release $ch
}

test put_times_out_and_queues_nothing {
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    assert_raises "*ETIMEDOUT*" { put $ch 7 5 }
    assert_eq 0 [chan_count $ch]
    chan_release $ch
}

test put_on_closed_returns_zero {
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    chan_close $ch
    assert_eq 0 [put $ch 1 -1]
    chan_release $ch
}

test take_drains_buffer_after_close_then_returns_zero {
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 3]
    put $ch 1 -1
    put $ch 2 -1
    chan_close $ch
    assert_eq 1 [take $ch -1]
    assert_eq 2 [take $ch -1]
    assert_eq 0 [take $ch -1]
    assert_eq 1 [chan_closed $ch]
    chan_release $ch
}

test put_zero_value_raises_einval {
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    assert_raises "*EINVAL*" { put $ch 0 -1 }
    chan_release $ch
}

test offer_reports_three_outcomes {
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    assert_eq $CSP_OK [offer $ch 1]
    assert_eq $CSP_EAGAIN [offer $ch 2]
    chan_close $ch
    assert_eq $CSP_ECLOSED [offer $ch 3]
    chan_release $ch
}

test poll_returns_value_or_zero {
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    assert_eq 0 [poll $ch]
    offer $ch 9
    assert_eq 9 [poll $ch]
    chan_release $ch
}

test sliding_drops_oldest {
    set ch [chan_new [rt_default] $CSP_BUF_SLIDING 2]
    foreach v {1 2 3} { put $ch $v -1 }
    assert_eq 2 [take $ch -1]
    assert_eq 3 [take $ch -1]
    chan_release $ch
}

test dropping_drops_newest_and_put_succeeds {
    set ch [chan_new [rt_default] $CSP_BUF_DROPPING 2]
    foreach v {1 2 3} { assert_eq 1 [put $ch $v -1] }
    assert_eq 1 [take $ch -1]
    assert_eq 2 [take $ch -1]
    assert_eq 0 [poll $ch]
    chan_release $ch
}

test promise_delivers_first_value_forever {
    set ch [chan_new [rt_default] $CSP_BUF_PROMISE 0]
    put $ch 5 -1
    put $ch 6 -1
    assert_eq 5 [take $ch -1]
    assert_eq 5 [take $ch -1]
    chan_release $ch
}

test chan_new_with_zero_capacity_raises_einval {
    assert_raises "*EINVAL*" { chan_new [rt_default] $CSP_BUF_FIXED 0 }
}

test chan_new_with_unknown_kind_raises_einval {
    assert_raises "*EINVAL*" { chan_new [rt_default] 99 1 }
}

test chan_new_with_negative_capacity_raises_einval {
    assert_raises "*EINVAL*" { chan_new [rt_default] $CSP_BUF_FIXED -1 }
}

test null_channel_raises_einval {
    assert_raises "*EINVAL*" { take NULL 0 }
    assert_raises "*EINVAL*" { chan_close NULL }
    assert_raises "*EINVAL*" { chan_count NULL }
}

test chan_ids_differ {
    set a [chan_new [rt_default] $CSP_BUF_NONE 0]
    set b [chan_new [rt_default] $CSP_BUF_NONE 0]
    assert_eq 1 [expr {[chan_id $a] != [chan_id $b]}]
    chan_release $a
    chan_release $b
}

test timeout_channel_closes_no_earlier_than_asked {
    set rt [rt_default]
    set t0 [now_ns]
    set to [timeout $rt 30]
    assert_eq 0 [take $to -1]
    assert_eq 1 [expr {[now_ns] - $t0 >= 30000000}]
    chan_release $to
}

test timeout_refuses_put_with_eperm {
    set to [timeout [rt_default] 1000]
    assert_raises "*EPERM*" { put $to 1 0 }
    chan_release $to
}

test alts_priority_picks_first_ready {
    set rt [rt_default]
    set a [chan_new $rt $CSP_BUF_FIXED 1]
    set b [chan_new $rt $CSP_BUF_FIXED 1]
    put $a 1 -1
    put $b 2 -1
    set alts [alts_new]
    alts_take $alts $b
    alts_take $alts $a
    assert_eq 0 [alts_run $alts $CSP_ALTS_PRIORITY -1]
    assert_eq 2 [alts_value $alts]
    alts_free $alts
    chan_release $a
    chan_release $b
}

test alts_default_returns_minus_one_when_nothing_ready {
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    set alts [alts_new]
    alts_take $alts $ch
    assert_eq -1 [alts_run $alts $CSP_ALTS_DEFAULT -1]
    alts_free $alts
    chan_release $ch
}

test alts_put_commits_on_room {
    set rt [rt_default]
    set full [chan_new $rt $CSP_BUF_FIXED 1]
    set room [chan_new $rt $CSP_BUF_FIXED 1]
    put $full 1 -1
    set alts [alts_new]
    alts_put $alts $full 10
    alts_put $alts $room 20
    assert_eq 1 [alts_run $alts 0 -1]
    assert_eq 20 [take $room -1]
    alts_free $alts
    chan_release $full
    chan_release $room
}

test alts_with_timeout_channel_returns_its_index {
    set rt [rt_default]
    set ch [chan_new $rt $CSP_BUF_NONE 0]
    set to [timeout $rt 10]
    set alts [alts_new]
    alts_take $alts $ch
    alts_take $alts $to
    assert_eq 1 [alts_run $alts 0 -1]
    assert_eq 0 [alts_value $alts]
    alts_free $alts
    chan_release $ch
    chan_release $to
}

test alts_deadline_raises_etimedout {
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    set alts [alts_new]
    alts_take $alts $ch
    assert_raises "*ETIMEDOUT*" { alts_run $alts 0 5 }
    alts_free $alts
    chan_release $ch
}

test alts_with_no_ops_raises_einval {
    set alts [alts_new]
    assert_raises "*EINVAL*" { alts_run $alts 0 0 }
    alts_free $alts
}

test alts_put_of_zero_raises_einval {
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    set alts [alts_new]
    assert_raises "*EINVAL*" { alts_put $alts $ch 0 }
    alts_free $alts
    chan_release $ch
}

test rt_new_and_free_round_trip {
    set rt [rt_new 1]
    set ch [chan_new $rt $CSP_BUF_FIXED 4]
    put $ch 3 -1
    assert_eq 3 [take $ch -1]
    chan_release $ch
    rt_free $rt
}

test rt_new_with_negative_threads_raises_einval {
    assert_raises "*EINVAL*" { rt_new -1 }
}

test many_puts_and_takes_keep_order {
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1024]
    for {set i 1} {$i <= 1000} {incr i} { put $ch $i -1 }
    for {set i 1} {$i <= 1000} {incr i} { assert_eq $i [take $ch -1] }
    chan_release $ch
}

harness::run $argv
