# events.pl - csp inside a Perl select loop (bindings/csp.i).
#
#   perl -I build/swig/perl examples/perl/events.pl
#
# The loop's descriptor joins the other handles of an IO::Select loop,
# as it would with AnyEvent or IO::Async: a producer feeds orders, a
# stage prices them, the consumer races each result against a deadline
# with alts. Every step is a Perl sub csp calls back, on this thread.
use strict;
use warnings;
use IO::Select;
use cspswig;

my $rt = cspswig::rt_default();
my $loop = cspswig::loop_new($rt);
my $orders = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 2);
my $priced = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 2);
my $deadline = cspswig::timeout($rt, 5000);
my $ECLOSED = $cspswig::CSP_ECLOSED;
my ($total, $done) = (0, undef);
my ($produce, $price, $consume);

$produce = sub {
    my @items = @_;
    return cspswig::chan_close($orders) unless @items;
    cspswig::put_async($orders, shift @items, $loop,
                       sub { $produce->(@items) });
};
$price = sub {
    my ($rc, $qty) = @_;
    return cspswig::chan_close($priced) if $rc == $ECLOSED;
    cspswig::put_async($priced, $qty * 3, $loop,
                       sub { cspswig::take_async($orders, $loop, $price) });
};
$consume = sub {
    my $a = cspswig::alts_new();
    cspswig::alts_take($a, $priced);
    cspswig::alts_take($a, $deadline);
    cspswig::alts_async($a, $cspswig::CSP_ALTS_PRIORITY, $loop, sub {
        my ($rc, $idx, $v) = @_;
        return $done = "deadline passed" if $idx == 1;
        return $done = "all orders priced" if $rc == $ECLOSED;
        print "priced order: $v\n";
        $total += $v;
        $consume->();
    });
    cspswig::alts_free($a);
};

$produce->(4, 10, 1, 7, 3);
cspswig::take_async($orders, $loop, $price);
$consume->();

# A duplicate of the descriptor (<&): closing $events leaves the loop's.
open(my $events, '<&', cspswig::loop_fd($loop)) or die "loop_fd: $!";
my $select = IO::Select->new($events);
until (defined $done) {
    for my $fh ($select->can_read(10)) {
        cspswig::loop_drain($loop) if $fh == $events;
    }
}
print "$done: total $total\n";

close $events;
undef $_ for $produce, $price, $consume;
cspswig::chan_release($_) for $deadline, $priced, $orders;
cspswig::loop_free($loop);
