# events.tcl - csp inside Tcl's own event loop (bindings/csp.i).
#
#   tclsh examples/tcl/events.tcl build/swig/cspswig.so
#
# The loop's descriptor becomes a Tcl channel watched by `fileevent`, so
# csp completions are just more Tcl events: a producer feeds orders one
# at a time, a stage prices them, and the consumer races each result
# against a deadline with alts. Every step is a Tcl procedure that csp
# calls back (through a libffi closure), on this thread, in vwait. Nothing
# blocks: Tcl timers and other channels are served in between.
load [lindex $argv 0] Cspswig

set rt [rt_default]
set loop [loop_new $rt]
set orders [chan_new $rt $CSP_BUF_FIXED 2]
set priced [chan_new $rt $CSP_BUF_FIXED 2]
set deadline [timeout $rt 5000]
set total 0

set events [loop_channel $loop]
fileevent $events readable [list loop_drain $loop]

# Producer: the next order once the channel has taken this one.
proc produce {items rc} {
    if {![llength $items]} { chan_close $::orders; return }
    put_async $::orders [lindex $items 0] $::loop \
        [list produce [lrange $items 1 end]]
}

# Stage: price an order (quantity x 3), pass it on, take the next.
proc price {rc qty} {
    if {$rc == $::CSP_ECLOSED} { chan_close $::priced; return }
    put_async $::priced [expr {$qty * 3}] $::loop \
        {apply {{rc} { take_async $::orders $::loop price }}}
}

# Consumer: the next priced order or the deadline, whichever is first.
proc consume {} {
    set a [alts_new]
    alts_take $a $::priced
    alts_take $a $::deadline
    alts_async $a $::CSP_ALTS_PRIORITY $::loop consumed
    alts_free $a
}
proc consumed {rc idx v} {
    if {$idx == 1} { set ::done "deadline passed"; return }
    if {$rc == $::CSP_ECLOSED} { set ::done "all orders priced"; return }
    puts "priced order: $v"
    incr ::total $v
    consume
}

produce {4 10 1 7 3} $CSP_OK
take_async $orders $loop price
consume
vwait done
puts "$done: total $total"

close $events
chan_release $deadline
chan_release $priced
chan_release $orders
loop_free $loop
