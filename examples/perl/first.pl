# first.pl - csp from Perl 5 through the SWIG wrapper (bindings/csp.i).
#
#   perl -I build/swig/perl examples/perl/first.pl
#
# Blocking operations with deadlines, then the same channel read through
# a callback: take_async hands a Perl sub to csp (as a libffi closure),
# which calls it from loop_drain, on this thread.
use strict;
use warnings;
use cspswig;

my $rt = cspswig::rt_default();
my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 2);
cspswig::put($ch, 42, -1);
print "took ", cspswig::take($ch, -1), "\n";
eval { cspswig::take($ch, 20) };
print "an empty channel for 20 ms: $@";

my $loop = cspswig::loop_new($rt);
my $got;
cspswig::take_async($ch, $loop, sub {
    my ($rc, $v) = @_;
    $got = $v;
});
cspswig::put($ch, 7, -1);
cspswig::loop_drain($loop)
    while !defined $got && cspswig::loop_wait($loop, 1000);
print "the callback got $got\n";

cspswig::chan_close($ch);
print "closed and drained: ", cspswig::take($ch, -1), "\n";
cspswig::chan_release($ch);
cspswig::loop_free($loop);
