# test_release.tcl - a handle used after it was released raises a clear
# error (bindings/csp.i keeps a table of live handles), never a crash.
source [file join [file dirname [info script]] harness.tcl]

test released_channel_refuses_every_operation {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 4]
    put $ch 1 0
    chan_release $ch
    set a [alts_new]
    foreach op [list \
        [list put $ch 1 0] [list take $ch 0] [list offer $ch 1] \
        [list poll $ch] [list chan_close $ch] [list chan_closed $ch] \
        [list chan_id $ch] [list chan_count $ch] [list chan_release $ch] \
        [list put_async $ch 1 $loop {record p}] \
        [list take_async $ch $loop {record t}] \
        [list alts_take $a $ch] [list alts_put $a $ch 1]] {
        assert_raises "*EINVAL: channel handle used after chan_release" $op
    }
    alts_free $a
    loop_free $loop
    assert_eq {} [calls p]
    assert_eq {} [calls t]
}

test released_timeout_channel_refuses_take {
    set t [timeout [rt_default] 1000]
    chan_release $t
    assert_raises "*used after chan_release" { take $t 0 }
}

test channel_handed_out_twice_lives_until_both_are_released {
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    set ch2 [chan_from_ptr [chan_ptr $ch]]
    chan_release $ch
    assert_eq $CSP_OK [offer $ch2 5] "still live"
    chan_release $ch2
    assert_raises "*used after chan_release" { poll $ch2 }
}

test freed_alts_refuses_every_operation {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    set a [alts_new]
    alts_take $a $ch
    alts_free $a
    foreach op [list [list alts_take $a $ch] [list alts_put $a $ch 1] \
                    [list alts_run $a 0 0] [list alts_value $a] \
                    [list alts_async $a 0 $loop {record a}] \
                    [list alts_free $a]] {
        assert_raises "*EINVAL: alts handle used after alts_free" $op
    }
    chan_release $ch
    loop_free $loop
}

test alts_keeps_its_channels_after_chan_release {
    set ch [chan_new [rt_default] $CSP_BUF_FIXED 1]
    put $ch 4 0
    set a [alts_new]
    alts_take $a $ch
    chan_release $ch
    assert_eq 0 [alts_run $a 0 1000]
    assert_eq 4 [alts_value $a]
    alts_free $a
}

test freed_loop_refuses_every_operation {
    set loop [loop_new [rt_default]]
    set ch [chan_new [rt_default] $CSP_BUF_NONE 0]
    set a [alts_new]
    alts_take $a $ch
    loop_free $loop
    foreach op [list [list loop_fd $loop] [list loop_drain $loop] \
                    [list loop_wait $loop 0] [list loop_free $loop] \
                    [list loop_channel $loop] \
                    [list put_async $ch 1 $loop {record p}] \
                    [list take_async $ch $loop {record t}] \
                    [list alts_async $a 0 $loop {record a}]] {
        assert_raises "*EINVAL: loop handle used after loop_free" $op
    }
    alts_free $a
    chan_release $ch
}

test freed_runtime_refuses_every_operation {
    set rt [rt_new 1]
    rt_free $rt
    foreach op [list [list chan_new $rt $CSP_BUF_NONE 0] \
                    [list timeout $rt 1] [list loop_new $rt] \
                    [list rt_free $rt]] {
        assert_raises "*EINVAL: runtime handle used after rt_free" $op
    }
}

test rt_free_of_the_default_runtime_raises_eperm {
    assert_raises "*EPERM: rt_default's runtime is never freed" {
        rt_free [rt_default]
    }
}

harness::run $argv
