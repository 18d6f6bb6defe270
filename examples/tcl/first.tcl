# first.tcl - csp from Tcl through the SWIG wrapper (bindings/csp.i).
#
#   tclsh examples/tcl/first.tcl build/swig/cspswig.so
#
# A bounded work queue that drops the oldest job when full, a deadline
# raced against it with alts, and core.async's close semantics: values
# already queued are still delivered after close.
load [lindex $argv 0] Cspswig

set rt [rt_default]
set jobs [chan_new $rt $CSP_BUF_SLIDING 3]
foreach job {101 102 103 104 105} {
    put $jobs $job -1 ;# a sliding buffer never makes a put wait
}
chan_close $jobs

set deadline [timeout $rt 50]
set alts [alts_new]
alts_take $alts $jobs
alts_take $alts $deadline
while 1 {
    set i [alts_run $alts $CSP_ALTS_PRIORITY -1]
    set job [alts_value $alts]
    if {$i == 1} { puts "deadline passed"; break }
    if {$job == 0} { puts "queue closed and drained"; break }
    puts "job $job (oldest two were dropped when the queue overflowed)"
}
alts_free $alts
chan_release $deadline
chan_release $jobs
