#!/usr/bin/env perl
#
# Writes spec-compliance/sytest/RESULTS.md from one SyTest run (run-sytest.sh's summary.json).
#
#   make-results.pl --run-dir DIR --sytest-dir DIR --compliance-dir DIR --known-failures FILE
#                   --repo DIR --out RESULTS.md
#
# Sections of the report: totals; passed per top-level section (client-server, federation, application
# services, non-spec, and tests not in the category list) and per are-we-synapse-yet category, each beside the
# number of the same tests in Dendrite's and Conduit's passing lists; per-file counts; the tests that passed;
# failures not in known-failures.txt; known failures that passed; why tests were skipped.
#
# Categories come from Dendrite's are-we-synapse-yet.list ("code[,f] Test name" per line): the code that is
# not "f" is the category (as summarize-tap.pl prints it); a test is a federation test when its codes include
# the flag "f" or its category is one of the federation API codes (f..: fky, fsj, ...; the grouping Dendrite's
# are-we-synapse-yet.py uses); "app" is the application services API; "nsp" non-spec APIs; everything else
# the client-server API. Names not in the list are counted as "unk".

use strict;
use warnings;
use utf8;

use Getopt::Long;
use JSON::PP;
use POSIX qw( strftime );

GetOptions(
   'run-dir=s'        => \my $RUN_DIR,
   'sytest-dir=s'     => \my $SYTEST_DIR,
   'compliance-dir=s' => \my $COMPLIANCE_DIR,
   'known-failures=s' => \my $KNOWN,
   'repo=s'           => \my $REPO,
   'out=s'            => \my $OUT,
) or die "usage: $0 --run-dir DIR --sytest-dir DIR --compliance-dir DIR --known-failures FILE --repo DIR --out FILE\n";
defined $_ or die "usage: $0 --run-dir DIR ... (all options are required)\n"
   for $RUN_DIR, $SYTEST_DIR, $COMPLIANCE_DIR, $KNOWN, $REPO, $OUT;

# The category names summarize-tap.pl prints (the codes of Dendrite's list).
my %CODE_NAMES = (
   nsp => "Non-Spec API", unk => "Unknown (not in list)", app => "Application Services API",
   msc => "MSCs",
   fky => "Fed: Key API", fsj => "Fed: send_join API", fmj => "Fed: make_join API",
   fsl => "Fed: send_leave API", fiv => "Fed: Invite API", fqu => "Fed: Query API",
   frv => "Fed: room versions", fau => "Fed: Auth", fbk => "Fed: Backfill API",
   fme => "Fed: get_missing_events API", fst => "Fed: State APIs",
   fpb => "Fed: Public Room API", fdk => "Fed: Device Key APIs",
   fed => "Fed: Federation API", fsd => "Fed: Send-to-Device APIs",
   reg => "Registration", log => "Login", lox => "Logout", v1s => "V1 CS APIs",
   csa => "Misc CS APIs", pro => "Profile", dev => "Devices", dvk => "Device Keys",
   dkb => "Device Key Backup", xsk => "Cross-signing Keys", pre => "Presence",
   crm => "Create Room", syn => "Sync API", rmv => "Room Versions",
   rst => "Room State APIs", pub => "Public Room APIs", mem => "Room Membership",
   ali => "Room Aliases", jon => "Joining Rooms", lev => "Leaving Rooms",
   inv => "Inviting users to Rooms", ban => "Banning users", snd => "Sending events",
   get => "Getting events for Rooms", rct => "Receipts", red => "Read markers",
   med => "Media APIs", cap => "Capabilities API", typ => "Typing API",
   psh => "Push APIs", acc => "Account APIs", eph => "Ephemeral Events",
   plv => "Power Levels", xxx => "Redaction", '3pd' => "Third-Party ID APIs",
   gst => "Guest APIs", ath => "Room Auth", fgt => "Forget APIs",
   ctx => "Context APIs", upg => "Room Upgrade APIs", tag => "Tagging APIs",
   sch => "Search APIs", oid => "OpenID API", std => "Send-to-Device APIs",
   adm => "Server Admin API", ign => "Ignore Users", udr => "User Directory APIs",
   jso => "Enforced canonical JSON",
);
my %FEDERATION_CODE = map { $_ => 1 } qw( fky fsj fmj fsl fiv fqu frv fau fbk fme fst fpb fdk fed fsd );
my @SECTIONS = ( "Client-Server API", "Federation API", "Application Services API", "Non-spec APIs", "Not in the category list" );

sub read_lines
{
   my ( $path ) = @_;
   open my $fh, "<:raw", $path or die "Cannot read $path: $!\n";
   my @lines;
   while( my $line = <$fh> ) {
      $line =~ s/\r?\n$//;
      my $copy = $line;
      push @lines, utf8::decode( $copy ) ? $copy : $line;
   }
   return @lines;
}

# A list of test names, SyTest-style: '#' starts a comment, whitespace trimmed. Returns { name => comment }.
sub read_name_list
{
   my ( $path ) = @_;
   my %names;
   foreach my $line ( read_lines( $path ) ) {
      my $comment = $line =~ s/#(.*)$// ? $1 : "";
      $line =~ s/^\s+|\s+$//g;
      $comment =~ s/^\s+|\s+$//g;
      $names{$line} = $comment if length $line;
   }
   return \%names;
}

my $summary = JSON::PP->new->utf8->decode( do {
   open my $fh, "<:raw", "$RUN_DIR/summary.json" or die "Cannot read $RUN_DIR/summary.json: $!\n";
   local $/;
   scalar <$fh>;
} );
my @results = @{ $summary->{results} };

# --- categories and sections ------------------------------------------------------------------------------------
my ( %code_of, %fed_flag );
foreach my $line ( read_lines( "$COMPLIANCE_DIR/dendrite-are-we-synapse-yet.list" ) ) {
   next unless $line =~ m/^(\S+) (.*)$/;
   my ( $codes, $name ) = ( $1, $2 );
   $name =~ s/\s+$//;
   my @codes = split m/,/, $codes;
   my ( $code ) = grep { $_ ne "f" } @codes;
   $code_of{$name}  = $code // "unk";
   $fed_flag{$name} = 1 if grep { $_ eq "f" } @codes;
}

sub section_of
{
   my ( $name ) = @_;
   my $code = $code_of{$name} // "unk";
   return "Not in the category list" if $code eq "unk";
   return "Federation API" if $fed_flag{$name} or $FEDERATION_CODE{$code};
   return "Application Services API" if $code eq "app";
   return "Non-spec APIs" if $code eq "nsp";
   return "Client-Server API";
}

my $dendrite = read_name_list( "$COMPLIANCE_DIR/dendrite-sytest-whitelist" );
my $conduit  = read_name_list( "$COMPLIANCE_DIR/conduit-sytest-whitelist" );
my $known    = read_name_list( $KNOWN );

my ( %by_section, %by_category, %by_file );
foreach my $r ( @results ) {
   my $name = $r->{name};
   my $pass = $r->{status} eq "pass" ? 1 : 0;
   my @keys = (
      [ \%by_section,  section_of( $name ) ],
      [ \%by_category, $code_of{$name} // "unk" ],
   );
   foreach my $k ( @keys ) {
      my $c = $k->[0]{ $k->[1] } //= { total => 0, pass => 0, dendrite => 0, conduit => 0 };
      $c->{total}++;
      $c->{pass} += $pass;
      $c->{dendrite}++ if exists $dendrite->{$name};
      $c->{conduit}++  if exists $conduit->{$name};
   }
   my $f = $by_file{ $r->{file} // "?" } //= { pass => 0, fail => 0, skip => 0 };
   $f->{ $r->{status} eq "xfail" ? "fail" : $r->{status} }++;
}

my %count = ( pass => 0, fail => 0, xfail => 0, skip => 0 );
$count{ $_->{status} }++ for @results;
my $failed = $count{fail} + $count{xfail};

# --- provenance --------------------------------------------------------------------------------------------------
sub git_out { my $out = `git -C "$_[0]" $_[1] 2>/dev/null`; chomp $out; return $out }
my $sytest_commit = git_out( $SYTEST_DIR, "rev-parse HEAD" ) || "unknown";
my $sytest_date   = git_out( $SYTEST_DIR, "log -1 --format=%cs" );
my $our_commit    = git_out( $REPO, "rev-parse --short HEAD" ) || "unknown";
my $our_dirty     = git_out( $REPO, "status --porcelain --untracked-files=no -- src" ) ne "" ? " (with uncommitted changes in src/)" : "";
my ( $run_stamp ) = $RUN_DIR =~ m/run-(\d{8}-\d{6})/;
my $run_date = defined $run_stamp
   ? sprintf( "%s-%s-%s %s:%s", unpack( "A4 A2 A2 x A2 A2", $run_stamp ) )
   : strftime( "%Y-%m-%d %H:%M", localtime );
my $command = -f "$RUN_DIR/command.txt" ? ( read_lines( "$RUN_DIR/command.txt" ) )[0] : "";
my @flags;
push @flags, "implementation name `$1`" if $command =~ m/--impl-name (\S+)/;
push @flags, "deprecated-endpoint tests excluded" if $command =~ m/--exclude-deprecated/;
push @flags, "TIMEOUT_FACTOR=$ENV{TIMEOUT_FACTOR}" if $ENV{TIMEOUT_FACTOR};

# --- the report -----------------------------------------------------------------------------------------------------
my @md;
sub p { push @md, @_ }

p "# SyTest results",
  "",
  "Generated by `spec-compliance/sytest/run.sh` (with `make-results.pl`) from a whole-suite run. Do not edit by hand:",
  "run the suite again. How to run it: `spec-compliance/README.md`; the expected failures and their reasons:",
  "[`known-failures.txt`](known-failures.txt).",
  "",
  "| | |",
  "| --- | --- |",
  "| run | $run_date (local time of the machine that ran it) |",
  "| SyTest | matrix-org/sytest `$sytest_commit`" . ( $sytest_date ? " ($sytest_date)" : "" ) . " |",
  "| homeserver | commit `$our_commit`$our_dirty |",
  ( @flags ? ( "| settings | " . join( "; ", @flags ) . " |" ) : () ),
  "",
  "## Totals",
  "",
  sprintf( "**%d tests: %d passed, %d failed, %d skipped.** Of the failures, %d are listed in known-failures.txt and %d are not.",
     scalar @results, $count{pass}, $failed, $count{skip}, $count{xfail}, $count{fail} ),
  "A test is skipped when an ability it needs (e.g. `can_create_room`) was never proven by an earlier test.",
  "Some tests pass against a server that lacks their feature (those that expect a 404 or a refusal), so the",
  "pass count alone says little; the per-category and per-file tables say where the passes are.",
  "";

# Errors the servers logged (an unhandled exception is a 500 or a crash: always a bug).
my @server_errors;
foreach my $out ( sort glob( "$RUN_DIR/server-*/homeserver.out" ) ) {
   my ( $server ) = $out =~ m{/(server-\d+)/};
   foreach my $line ( read_lines( $out ) ) {
      next unless $line =~ m/ (fail|crit): (.*)$/;
      ( my $what = $2 ) =~ s/\s+at \S+\(.*$//;
      $what =~ s/^\S+\[\d+\] //;
      push @server_errors, "$server: " . ( length $what > 300 ? substr( $what, 0, 300 ) . "..." : $what );
   }
}
p "## Errors in the servers' logs", "";
p @server_errors ? ( map { "- `$_`" } @server_errors ) : ( "None." );
p "";

p "## Passed per section",
  "",
  "Dendrite's and Conduit's columns count how many of the tests that ran here are on their lists of passing tests",
  "(Dendrite's CI whitelist, Conduit's last SyTest whitelist), for comparison.",
  "",
  "| section | tests | passed here | Dendrite passes | Conduit passes |",
  "| --- | ---: | ---: | ---: | ---: |";
my %all = ( total => 0, pass => 0, dendrite => 0, conduit => 0 );
foreach my $s ( @SECTIONS ) {
   my $c = $by_section{$s} or next;
   p sprintf( "| %s | %d | %d | %d | %d |", $s, @{$c}{qw( total pass dendrite conduit )} );
   $all{$_} += $c->{$_} for keys %all;
}
p sprintf( "| **all** | %d | %d | %d | %d |", @all{qw( total pass dendrite conduit )} ), "";

# The same comparison by distinct names, as summarize-tap.pl prints it (a few SyTest names occur twice).
my %status_of = map { $_->{name} => $_->{status} } @results;
foreach my $cmp ( [ "Dendrite's", $dendrite ], [ "Conduit's", $conduit ] ) {
   my ( $label, $list ) = @$cmp;
   my $ran    = grep { exists $status_of{$_} } keys %$list;
   my $passed = grep { ( $status_of{$_} // "" ) eq "pass" } keys %$list;
   p sprintf( "%s list names %d tests; %d of them are in this SyTest and ran here, %d passed here.  ",
      $label, scalar keys %$list, $ran, $passed );
}
p "";

p "## Passed per category",
  "",
  "Categories of Dendrite's `are-we-synapse-yet.list`, as `summarize-tap.pl` prints them.",
  "",
  "| code | category | tests | passed here | Dendrite passes | Conduit passes |",
  "| --- | --- | ---: | ---: | ---: | ---: |";
foreach my $code ( sort { ( $CODE_NAMES{$a} // $a ) cmp ( $CODE_NAMES{$b} // $b ) } keys %by_category ) {
   my $c = $by_category{$code};
   p sprintf( "| %s | %s | %d | %d | %d | %d |", $code, $CODE_NAMES{$code} // "?", @{$c}{qw( total pass dendrite conduit )} );
}
p "";

p "## Per file",
  "",
  "| file | passed | failed | skipped |",
  "| --- | ---: | ---: | ---: |";
foreach my $f ( sort keys %by_file ) {
   my $c = $by_file{$f};
   p sprintf( "| `%s` | %d | %d | %d |", $f, @{$c}{qw( pass fail skip )} );
}
p "";

p "## Tests that passed", "";
foreach my $r ( grep { $_->{status} eq "pass" } @results ) {
   p sprintf( "- %s (`%s`)", $r->{name}, $r->{file} // "?" );
}
p "";

my @unexpected = grep { $_->{status} eq "fail" } @results;
p "## Failures not in known-failures.txt", "";
if( @unexpected ) {
   foreach my $r ( @unexpected ) {
      p sprintf( "- %s (`%s`)", $r->{name}, $r->{file} // "?" );
      p map { "  - `$_`" } @{ $r->{detail} // [] };
   }
}
else {
   p "None.";
}
p "";

my @known_passed = grep { $_->{status} eq "pass" and exists $known->{ $_->{name} } } @results;
p "## Known failures that passed", "";
p @known_passed ? ( map { "- $_->{name}" } @known_passed ) : ( "None." );
p "";

my %skip_reason;
$skip_reason{ $_->{reason} // "?" }++ for grep { $_->{status} eq "skip" } @results;
p "## Why tests were skipped", "",
  "| reason | tests |",
  "| --- | ---: |";
foreach my $reason ( sort { $skip_reason{$b} <=> $skip_reason{$a} or $a cmp $b } keys %skip_reason ) {
   p sprintf( "| %s | %d |", $reason, $skip_reason{$reason} );
}
p "";

open my $out, ">:encoding(UTF-8)", $OUT or die "Cannot write $OUT: $!\n";
print $out join( "\n", @md );
close $out or die "Cannot write $OUT: $!\n";
