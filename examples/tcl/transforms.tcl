# transforms.tcl - a transform channel and a drop hook from Tcl, through
# the SWIG wrapper (bindings/csp.i).
#
#   tclsh examples/tcl/transforms.tcl build/swig/cspswig.so
#
# Readings pass through a script filter and map, then csp's built-in
# dedupe; the channel is a sliding buffer of 2, so readings nobody took
# in time are dropped, and the drop procedure logs them from the event
# loop (a drop can happen on any thread; the procedure always runs here).
load [lindex $argv 0] Cspswig

set rt [rt_default]
set loop [loop_new $rt]
fileevent [set events [loop_channel $loop]] readable [list loop_drain $loop]

set valid [xf_filter $rt {apply {{v} { expr {$v > 0 && $v < 1000} }}}]
set tenths [xf_map $rt {apply {{v} { expr {$v / 10} }}}]
set changes [xf_dedupe $rt]
set scaled [xf_comp $valid $tenths]
set xf [xf_comp $scaled $changes]
proc lost {v} { puts "dropped $v"; incr ::lost }
proc failed {rc} { puts "transform error [errname $rc]"; return 0 }
set readings [chan_new_xf $rt $CSP_BUF_SLIDING 2 $xf $loop lost failed]

set lost 0
foreach r {215 219 5000 231 244 250 -3 262} { put $readings $r -1 }
puts "kept: [take $readings 0] [take $readings 0]"
chan_release $readings
# Dropped: 5000 and -3 (filtered), the second 21 (dedupe), 21, 23 and
# 24 (evicted by newer readings). Wait for them in the event loop.
while {$lost < 6} { vwait lost }

close $events
foreach x [list $valid $tenths $scaled $changes $xf] { xf_release $x }
loop_free $loop
puts "closures left: [closures_live]"
