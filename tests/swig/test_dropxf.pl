# test_dropxf.pl - script drop hooks and script transforms of
# bindings/csp.i from Perl 5, the twin of test_dropxf.tcl: drop calls run
# from a drain, once per value, on the loop's thread; closures go with the
# channel; a step runs on the interpreter's thread only (a go process's
# put is refused with EPERM to the exception handler); a die in a step is
# warned about and handled.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use harness;
use cspswig;

my $rt = cspswig::rt_default();
my ($FIXED, $SLIDING) = ($cspswig::CSP_BUF_FIXED, $cspswig::CSP_BUF_SLIDING);

# The values recorded under TAG (one-argument calls), checking each ran on
# this thread.
sub values_here {
    my ($tag) = @_;
    my @out;
    for my $c (@{ $harness::calls{$tag} // [] }) {
        assert_eq(cspswig::thread_id(), $c->[1], "thread of a $tag call");
        push @out, @{ $c->[0] };
    }
    return join ' ', @out;
}

sub settle {
    my ($loop) = @_;
    cspswig::loop_drain($loop) while cspswig::loop_wait($loop, 20);
}

sub drain_chan {
    my ($ch) = @_;
    my @out;
    while ((my $v = cspswig::poll($ch)) != 0) { push @out, $v }
    return join ' ', @out;
}

test drop_hook_gets_each_evicted_value_once_on_the_loop_thread => sub {
    my $loop = cspswig::loop_new($rt);
    my $ch = cspswig::chan_new_drop($rt, $SLIDING, 2, $loop, record('d'));
    cspswig::put($ch, $_, 0) for 1 .. 5;
    assert_eq('', values_here('d'), 'before the drain');
    drain_until($loop, sub { calls('d') >= 3 });
    settle($loop);
    assert_eq('1 2 3', values_here('d'));
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test drop_hook_gets_buffered_values_at_release_then_its_closure_goes => sub {
    my $loop = cspswig::loop_new($rt);
    my $before = cspswig::closures_live();
    my $ch = cspswig::chan_new_drop($rt, $FIXED, 4, $loop, record('d'));
    assert_eq($before + 1, cspswig::closures_live(), 'while the channel lives');
    cspswig::put($ch, $_, 0) for 7 .. 9;
    cspswig::chan_release($ch);
    drain_until($loop, sub { cspswig::closures_live() == $before });
    assert_eq('7 8 9', values_here('d'), 'every drop ran before the free');
    cspswig::loop_free($loop);
};

test drop_hook_that_dies_is_warned_about_and_drain_goes_on => sub {
    my $loop = cspswig::loop_new($rt);
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    my $ok = record('d');
    my $ch = cspswig::chan_new_drop($rt, $SLIDING, 1, $loop, sub {
        die "drop failed on $_[0]\n" if $_[0] == 1;
        $ok->(@_);
    });
    cspswig::put($ch, $_, 0) for 1 .. 3;
    drain_until($loop, sub { calls('d') >= 1 });
    assert_eq('2', values_here('d'));
    assert_eq(1, $warnings[0] =~ /^csp: callback died: drop failed on 1/
                 ? 1 : 0, 'warning');
    cspswig::chan_release($ch);
    settle($loop);
    cspswig::loop_free($loop);
};

test xf_map_filter_comp_transform_puts => sub {
    my $loop = cspswig::loop_new($rt);
    my $even = cspswig::xf_filter($rt, sub { $_[0] % 2 == 0 });
    my $tens = cspswig::xf_map($rt, sub { $_[0] * 10 });
    my $both = cspswig::xf_comp($even, $tens);
    my $ch = cspswig::chan_new_xf($rt, $FIXED, 8, $both, $loop, record('d'),
                                  undef);
    cspswig::xf_release($_) for $even, $tens, $both;
    cspswig::put($ch, $_, 0) for 1 .. 4;
    assert_eq('20 40', drain_chan($ch));
    drain_until($loop, sub { calls('d') >= 2 });
    assert_eq('1 3', values_here('d'), 'filtered values go to the drop hook');
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test xf_step_emits_a_list_and_reduced_closes_the_channel => sub {
    my $loop = cspswig::loop_new($rt);
    my $xf = cspswig::xf_step($rt, sub {
        return $_[0] == 3 ? (30, 31, 'reduced') : ($_[0], $_[0]);
    });
    my $ch = cspswig::chan_new_xf($rt, $FIXED, 8, $xf, $loop, undef, undef);
    cspswig::xf_release($xf);
    assert_eq(1, cspswig::put($ch, $_, 0)) for 1 .. 3;
    assert_eq(0, cspswig::put($ch, 4, 0), 'closed after reduced');
    assert_eq('1 1 2 2 30 31', drain_chan($ch));
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test xf_step_that_dies_is_warned_about_and_the_handler_adds_its_value => sub {
    my $loop = cspswig::loop_new($rt);
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    my $exh = record('exh');
    my $xf = cspswig::xf_map($rt, sub {
        die "step failed on $_[0]\n" if $_[0] == 2;
        return $_[0];
    });
    my $ch = cspswig::chan_new_xf($rt, $FIXED, 8, $xf, $loop, undef,
                                  sub { $exh->(@_); return 99 });
    cspswig::xf_release($xf);
    assert_eq(1, cspswig::put($ch, $_, 0), 'the put succeeds') for 1 .. 3;
    assert_eq('1 99 3', drain_chan($ch));
    assert_eq($cspswig::CSP_EINVAL, values_here('exh'));
    assert_eq(1, $warnings[0] =~ /^csp: transform step died: step failed on 2/
                 ? 1 : 0, 'warning');
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test xf_put_from_a_go_process_is_refused_with_eperm_to_the_handler => sub {
    my $loop = cspswig::loop_new($rt);
    my $step = record('step');
    my $xf = cspswig::xf_map($rt, sub { $step->(@_); return $_[0] });
    my $ch = cspswig::chan_new_xf($rt, $FIXED, 8, $xf, $loop, record('d'),
                                  record('exh'));
    cspswig::xf_release($xf);
    my $src = cspswig::chan_new($rt, $FIXED, 8);
    cspswig::pipe($rt, $src, $ch, 0);
    cspswig::put($src, $_, 0) for 4 .. 6;
    drain_until($loop, sub { calls('exh') >= 3 && calls('d') >= 3 });
    assert_eq(join(' ', ($cspswig::CSP_EPERM) x 3), values_here('exh'));
    assert_eq('4 5 6', values_here('d'), 'refused values go to the drop hook');
    assert_eq('', values_here('step'), 'the script never ran off its thread');
    assert_eq('', drain_chan($ch));
    cspswig::chan_close($src);
    cspswig::chan_release($src);
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test csp_call_inside_a_step_raises_eperm => sub {
    my $loop = cspswig::loop_new($rt);
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    my $ch;
    my $xf = cspswig::xf_map($rt, sub { cspswig::put($ch, 1, 0); $_[0] });
    $ch = cspswig::chan_new_xf($rt, $FIXED, 8, $xf, $loop, undef, undef);
    cspswig::xf_release($xf);
    assert_eq(1, cspswig::put($ch, 3, 0));
    assert_eq('', drain_chan($ch));
    assert_eq(1, $warnings[0] =~ /EPERM: csp call inside a transform step/
                 ? 1 : 0, "warning '@warnings'");
    cspswig::chan_release($ch);
    cspswig::loop_free($loop);
};

test released_transform_handle_raises => sub {
    my $xf = cspswig::xf_take($rt, 1);
    cspswig::xf_release($xf);
    assert_raises(qr/EINVAL: transform handle used after xf_release/,
                  sub { cspswig::xf_comp($xf, $xf) });
    assert_raises(qr/EINVAL/, sub { cspswig::xf_drop($rt, -1) });
};

run_tests();
