# transforms.pl - a transform channel fed by a go process, from Perl 5
# through the SWIG wrapper (bindings/csp.i).
#
#   perl -I build/swig/perl examples/perl/transforms.pl
#
# A Perl step runs only on the interpreter's thread: puts from this
# script pass through it; a csp go process (pipe) putting on the same
# channel is refused - its value goes to the drop hook and the exception
# handler hears CSP_EPERM, both from the loop. csp's built-in transforms
# (xf_take here) run anywhere.
use strict;
use warnings;
use cspswig;

my $rt = cspswig::rt_default();
my $loop = cspswig::loop_new($rt);
my $squares = cspswig::xf_map($rt, sub { $_[0] * $_[0] });
my $first3 = cspswig::xf_take($rt, 3);
my $xf = cspswig::xf_comp($squares, $first3);
my (@dropped, @refused);
my $ch = cspswig::chan_new_xf($rt, $cspswig::CSP_BUF_FIXED, 8, $xf, $loop,
    sub { push @dropped, $_[0] },
    sub { push @refused, cspswig::errname($_[0]); 0 });
cspswig::xf_release($_) for $squares, $first3, $xf;

cspswig::put($ch, 2, -1);
my $src = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 1);
cspswig::pipe($rt, $src, $ch, 0);
cspswig::put($src, 9, -1);
cspswig::loop_drain($loop)
    until @refused and @dropped or !cspswig::loop_wait($loop, 2000);
print "from a go process: dropped @dropped, the handler got @refused\n";
cspswig::put($ch, $_, -1) for 3, 4, 5;
print "took ", join(' ', map { cspswig::take($ch, 0) } 1 .. 3), "\n";
print "closed after three: ", cspswig::chan_closed($ch), "\n";

cspswig::chan_close($src);
cspswig::chan_release($src);
cspswig::chan_release($ch);
cspswig::loop_free($loop);
