# harness.pm - the test harness for the SWIG-generated Perl 5 module, the
# twin of harness.tcl.
#
#   perl -I BUILD/swig/perl tests/swig/test_swig.pl [NAME...]
#
# runs the named tests (all with none) in this process; the last line is
# "N passed, N failed", the exit status non-zero on any failure.
# tests/CMakeLists.txt registers each `^test name => sub` line as
# swigperl.<name>.
package harness;
use strict;
use warnings;
use Exporter 'import';
use cspswig;

our @EXPORT = qw(test assert_eq assert_raises drain_until record calls
                 run_tests);
our (@tests, %bodies, %calls);

sub test {
    my ($name, $body) = @_;
    die "bad test name $name" unless $name =~ /^[a-z0-9_]+$/;
    die "duplicate test $name" if exists $bodies{$name};
    push @tests, $name;
    $bodies{$name} = $body;
}

sub assert_eq {
    my ($want, $got, $what) = @_;
    $what //= 'value';
    $want = defined $want ? $want : 'undef';
    $got = defined $got ? $got : 'undef';
    die "$what: expected '$want', got '$got'\n" unless $want eq $got;
}

# Run CODE, which must die with a message matching the regex PATTERN.
sub assert_raises {
    my ($pattern, $code) = @_;
    if (eval { $code->(); 1 }) {
        die "expected an error matching /$pattern/; none raised\n";
    }
    my $err = $@;
    die "error '$err' does not match /$pattern/\n" unless $err =~ $pattern;
}

# Wait on LOOP and drain it until COND returns true; die after MS ms.
sub drain_until {
    my ($loop, $cond, $ms) = @_;
    $ms //= 5000;
    my $end = cspswig::now_ns() + $ms * 1_000_000;
    until ($cond->()) {
        my $left = int(($end - cspswig::now_ns()) / 1_000_000);
        die "timed out after $ms ms\n" if $left <= 0;
        cspswig::loop_wait($loop, $left);
        cspswig::loop_drain($loop);
    }
}

# A callback recording its arguments and thread under TAG.
sub record {
    my ($tag) = @_;
    return sub { push @{ $calls{$tag} }, [ [@_], cspswig::thread_id() ] };
}

# The argument lists recorded under TAG, each joined with spaces.
sub calls {
    my ($tag) = @_;
    return map { join ' ', @{ $_->[0] } } @{ $calls{$tag} // [] };
}

sub run_tests {
    my @want = @ARGV ? @ARGV : @tests;
    my ($passed, $failed) = (0, 0);
    for my $name (@want) {
        unless (exists $bodies{$name}) {
            print "no test named $name\n";
            $failed++;
            next;
        }
        %calls = ();
        if (eval { $bodies{$name}->(); 1 }) {
            print "ok $name\n";
            $passed++;
        } else {
            print "FAIL $name: $@";
            $failed++;
        }
    }
    print "$passed passed, $failed failed\n";
    exit($failed ? 1 : 0);
}

1;
