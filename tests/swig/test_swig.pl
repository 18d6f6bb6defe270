# test_swig.pl - bindings/csp.i from Perl 5: blocking operations with
# deadlines, callbacks through libffi closures run from the loop, alts
# with a timeout, a select-driven pipeline, handles used after release.
use strict;
use warnings;
use File::Basename qw(dirname);
use IO::Select;
use lib dirname(__FILE__);
use harness;
use cspswig;

my $rt = cspswig::rt_default();
my ($OK, $ECLOSED, $EAGAIN, $ECANCELED) =
    ($cspswig::CSP_OK, $cspswig::CSP_ECLOSED, $cspswig::CSP_EAGAIN,
     $cspswig::CSP_ECANCELED);

test put_then_take_returns_value => sub {
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 1);
    assert_eq(1, cspswig::put($ch, 42, -1));
    assert_eq(42, cspswig::take($ch, -1));
    cspswig::chan_release($ch);
};

test take_times_out_with_etimedout => sub {
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_NONE, 0);
    my $t0 = cspswig::now_ns();
    assert_raises(qr/ETIMEDOUT/, sub { cspswig::take($ch, 20) });
    assert_eq(1, cspswig::now_ns() - $t0 >= 20_000_000 ? 1 : 0, 'waited');
    cspswig::chan_release($ch);
};

test put_on_closed_returns_zero => sub {
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 1);
    cspswig::chan_close($ch);
    assert_eq(0, cspswig::put($ch, 1, -1));
    cspswig::chan_release($ch);
};

test alts_run_with_timeout_channel_returns_its_index => sub {
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_NONE, 0);
    my $t = cspswig::timeout($rt, 10);
    my $a = cspswig::alts_new();
    cspswig::alts_take($a, $ch);
    cspswig::alts_take($a, $t);
    assert_eq(1, cspswig::alts_run($a, 0, 5000));
    assert_eq(0, cspswig::alts_value($a));
    cspswig::alts_free($a);
    cspswig::chan_release($t);
    cspswig::chan_release($ch);
};

test take_async_calls_back_once_with_value => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_NONE, 0);
    cspswig::take_async($ch, $loop, record('t'));
    assert_eq(1, cspswig::put($ch, 42, 1000));
    drain_until($loop, sub { calls('t') > 0 });
    cspswig::loop_wait($loop, 20);
    cspswig::loop_drain($loop);
    assert_eq("$OK 42", join('|', calls('t')));
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test callback_runs_on_the_draining_thread_not_the_timer_thread => sub {
    my $loop = cspswig::loop_new($rt);
    my $t = cspswig::timeout($rt, 5);
    cspswig::take_async($t, $loop, record('t'));
    drain_until($loop, sub { calls('t') > 0 });
    assert_eq(cspswig::thread_id(), $harness::calls{t}[0][1], 'thread');
    assert_eq("$ECLOSED 0", join('|', calls('t')));
    cspswig::chan_release($t);
    cspswig::loop_free($loop);
};

test put_async_calls_back_with_ok_when_taken => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_NONE, 0);
    cspswig::put_async($ch, 9, $loop, record('p'));
    assert_eq(9, cspswig::take($ch, 1000));
    drain_until($loop, sub { calls('p') > 0 });
    assert_eq("$OK", join('|', calls('p')));
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test alts_async_timeout_wins_with_its_index => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_NONE, 0);
    my $t = cspswig::timeout($rt, 20);
    my $a = cspswig::alts_new();
    cspswig::alts_take($a, $ch);
    cspswig::alts_take($a, $t);
    cspswig::alts_async($a, 0, $loop, record('a'));
    cspswig::alts_free($a);
    drain_until($loop, sub { calls('a') > 0 });
    assert_eq("$ECLOSED 1 0", join('|', calls('a')));
    cspswig::chan_release($t);
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test dying_callback_is_reported_as_a_warning_and_drain_goes_on => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 2);
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    cspswig::take_async($ch, $loop, sub { die "callback failed on $_[1]\n" });
    cspswig::take_async($ch, $loop, record('t'));
    cspswig::put($ch, 1, 0);
    cspswig::put($ch, 2, 0);
    drain_until($loop, sub { calls('t') > 0 });
    assert_eq("$OK 2", join('|', calls('t')));
    assert_eq(1, scalar @warnings, 'warnings');
    assert_eq(1, $warnings[0] =~ /^csp: callback died: callback failed on 1/
                 ? 1 : 0, "warning '$warnings[0]'");
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test callback_that_is_not_code_raises_einval => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_NONE, 0);
    my $before = cspswig::closures_live();
    assert_raises(qr/EINVAL: the callback is not a code reference/,
                  sub { cspswig::take_async($ch, $loop, [1]) });
    assert_raises(qr/EINVAL/, sub { cspswig::take_async($ch, $loop, undef) });
    assert_eq($before, cspswig::closures_live(), 'closures');
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test op_cancel_withdraws_and_callback_never_runs => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_NONE, 0);
    my $id = cspswig::take_async($ch, $loop, record('t'));
    assert_eq(1, cspswig::op_cancel($id), 'withdrawn');
    assert_eq(0, cspswig::op_cancel($id), 'again');
    assert_eq($EAGAIN, cspswig::offer($ch, 4), 'no taker left');
    cspswig::loop_wait($loop, 10);
    cspswig::loop_drain($loop);
    assert_eq('', join('|', calls('t')));
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test loop_free_calls_waiting_ops_back_with_ecanceled => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_NONE, 0);
    cspswig::take_async($ch, $loop, record('t'));
    cspswig::loop_free($loop);
    assert_eq("$ECANCELED 0", join('|', calls('t')));
    cspswig::chan_release($ch);
};

test closures_are_freed_when_ops_complete_or_are_cancelled => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_NONE, 0);
    my $before = cspswig::closures_live();
    my @ids = map { cspswig::take_async($ch, $loop, record('t')) } 1 .. 20;
    assert_eq($before + 20, cspswig::closures_live(), 'while waiting');
    cspswig::put($ch, $_, 1000) for 1 .. 10;
    assert_eq(1, cspswig::op_cancel($_)) for @ids[10 .. 19];
    drain_until($loop, sub { calls('t') == 10 });
    assert_eq($before, cspswig::closures_live(), 'after');
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test many_async_ops_each_call_back_exactly_once => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 16);
    my $n = 2000;
    for my $i (1 .. $n) {
        cspswig::put_async($ch, $i, $loop, record('p'));
        cspswig::take_async($ch, $loop, record('t'));
    }
    drain_until($loop, sub { calls('t') == $n }, 20000);
    cspswig::loop_wait($loop, 20);
    cspswig::loop_drain($loop);
    assert_eq($n, scalar(calls('p')), 'put callbacks');
    my @seen = sort { $a <=> $b } map { (split / /)[1] } calls('t');
    assert_eq(join(',', 1 .. $n), join(',', @seen), 'values');
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test op_completing_at_once_in_a_callback_calls_back_after_it_returns => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 2);
    my @order;
    cspswig::put($ch, $_, 0) for 1, 2;
    cspswig::take_async($ch, $loop, sub {
        my ($rc, $v) = @_;
        cspswig::take_async($ch, $loop, sub { push @order, "inner $_[1]" });
        push @order, "outer $v returns";
    });
    drain_until($loop, sub { @order == 2 });
    assert_eq('outer 1 returns|inner 2', join('|', @order));
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test released_channel_refuses_every_operation => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 4);
    cspswig::chan_release($ch);
    my $a = cspswig::alts_new();
    my %ops = (
        put => sub { cspswig::put($ch, 1, 0) },
        take => sub { cspswig::take($ch, 0) },
        offer => sub { cspswig::offer($ch, 1) },
        poll => sub { cspswig::poll($ch) },
        chan_close => sub { cspswig::chan_close($ch) },
        chan_closed => sub { cspswig::chan_closed($ch) },
        chan_id => sub { cspswig::chan_id($ch) },
        chan_count => sub { cspswig::chan_count($ch) },
        chan_release => sub { cspswig::chan_release($ch) },
        put_async => sub { cspswig::put_async($ch, 1, $loop, record('p')) },
        take_async => sub { cspswig::take_async($ch, $loop, record('t')) },
        alts_take => sub { cspswig::alts_take($a, $ch) },
        alts_put => sub { cspswig::alts_put($a, $ch, 1) },
    );
    for my $op (sort keys %ops) {
        assert_raises(qr/EINVAL: channel handle used after chan_release/,
                      $ops{$op});
    }
    cspswig::alts_free($a);
    cspswig::loop_free($loop);
    assert_eq('', join('|', calls('p'), calls('t')));
};

test freed_loop_refuses_every_operation => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new($rt, $cspswig::CSP_BUF_NONE, 0);
    cspswig::loop_free($loop);
    for my $op (sub { cspswig::loop_fd($loop) },
                sub { cspswig::loop_drain($loop) },
                sub { cspswig::loop_wait($loop, 0) },
                sub { cspswig::loop_free($loop) },
                sub { cspswig::take_async($ch, $loop, record('t')) }) {
        assert_raises(qr/EINVAL: loop handle used after loop_free/, $op);
    }
    cspswig::chan_release($ch);
};

# The loop's descriptor under select(2) (IO::Select), every stage a
# callback, an alts against a deadline bounding the whole.
test select_driven_pipeline_finishes_before_its_timeout => sub {
    my $loop = cspswig::loop_new($rt);
    my $src = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 4);
    my $out = cspswig::chan_new($rt, $cspswig::CSP_BUF_FIXED, 4);
    my $deadline = cspswig::timeout($rt, 20000);
    my ($n, $sum, $done) = (300, 0, undef);
    my ($produce, $stage, $sink);
    $produce = sub {
        my ($i) = @_;
        return cspswig::chan_close($src) if $i > $n;
        cspswig::put_async($src, $i, $loop, sub { $produce->($i + 1) });
    };
    $stage = sub {
        my ($rc, $v) = @_;
        return cspswig::chan_close($out) if $rc == $ECLOSED;
        cspswig::put_async($out, $v * $v, $loop,
            sub { cspswig::take_async($src, $loop, $stage) });
    };
    $sink = sub {
        my $a = cspswig::alts_new();
        cspswig::alts_take($a, $out);
        cspswig::alts_take($a, $deadline);
        cspswig::alts_async($a, $cspswig::CSP_ALTS_PRIORITY, $loop, sub {
            my ($rc, $idx, $v) = @_;
            return $done = "timeout" if $idx == 1;
            return $done = "ok" if $rc == $ECLOSED;
            $sum += $v;
            $sink->();
        });
        cspswig::alts_free($a);
    };
    $produce->(1);
    cspswig::take_async($src, $loop, $stage);
    $sink->();
    open(my $fh, '<&', cspswig::loop_fd($loop)) or die "fd: $!";
    # A duplicate (<&, not <&=): closing $fh leaves the loop's own.
    my $sel = IO::Select->new($fh);
    until (defined $done) {
        cspswig::loop_drain($loop) if $sel->can_read(30);
    }
    my $want = 0;
    $want += $_ * $_ for 1 .. $n;
    assert_eq("ok $want", "$done $sum");
    undef $produce; undef $stage; undef $sink;
    cspswig::chan_release($_) for $deadline, $out, $src;
    cspswig::loop_free($loop);
};

run_tests();
