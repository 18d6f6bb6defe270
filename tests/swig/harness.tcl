# harness.tcl - the test harness for the SWIG-generated Tcl module.
#
#   tclsh tests/swig/test_swig.tcl MODULE NAME
#
# loads MODULE (the cspswig shared object) and runs test NAME; with no NAME
# it runs every test of the file in this process. The last line is
# "N passed, N failed"; the exit status is non-zero on any failure.
# tests/CMakeLists.txt registers each `^test name {` line as swig.<name>.

namespace eval harness {
    variable tests {}
    variable bodies
    array set bodies {}
}

proc test {name body} {
    if {![regexp {^[a-z0-9_]+$} $name]} { error "bad test name $name" }
    if {[info exists harness::bodies($name)]} { error "duplicate test $name" }
    lappend harness::tests $name
    set harness::bodies($name) $body
}

proc assert_eq {want got {what value}} {
    if {$want ne $got} {
        error "$what: expected '$want', got '$got'"
    }
}

# Run SCRIPT, which must fail with a message matching the glob PATTERN.
proc assert_raises {pattern script} {
    if {![catch {uplevel 1 $script} msg]} {
        error "expected an error matching '$pattern'; none raised"
    }
    if {![string match $pattern $msg]} {
        error "error '$msg' does not match '$pattern'"
    }
}

# Wait on LOOP and drain it until the expression COND (evaluated in the
# caller) is true; fail after MS milliseconds.
proc drain_until {loop cond {ms 5000}} {
    set end [expr {[now_ns] + $ms * 1000000}]
    while {![uplevel 1 [list expr $cond]]} {
        set left [expr {($end - [now_ns]) / 1000000}]
        if {$left <= 0} { error "timed out after $ms ms waiting for: $cond" }
        loop_wait $loop $left
        loop_drain $loop
    }
}

# A callback that records its arguments and thread under ::calls(TAG).
proc record {tag args} {
    lappend ::calls($tag) [list $args [thread_id]]
}

# The calls recorded under TAG (a list of argument lists).
proc calls {tag} {
    if {![info exists ::calls($tag)]} { return {} }
    set out {}
    foreach c $::calls($tag) { lappend out [lindex $c 0] }
    return $out
}

proc harness::run {argv} {
    variable tests
    variable bodies
    set module [lindex $argv 0]
    load $module Cspswig
    set want [lrange $argv 1 end]
    if {$want eq ""} { set want $tests }
    set passed 0
    set failed 0
    foreach name $want {
        if {![info exists bodies($name)]} {
            puts "no test named $name"
            incr failed
            continue
        }
        array unset ::calls
        if {[catch {uplevel #0 $bodies($name)} msg opts]} {
            puts "FAIL $name: $msg\n[dict get $opts -errorinfo]"
            incr failed
        } else {
            puts "ok $name"
            incr passed
        }
    }
    puts "$passed passed, $failed failed"
    exit [expr {$failed ? 1 : 0}]
}
