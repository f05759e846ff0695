#!/usr/bin/env perl
#
# Brings known-failures.txt up to date with one whole-suite SyTest run (run-sytest.sh's summary.json).
#
#   update-known-failures.pl RUN_DIR [known-failures.txt]
#
# - A listed test that passed in the run is removed (and printed).
# - A listed test that did not pass keeps its line and its reason as written (hand-written reasons stay).
# - A test that did not pass (failed or skipped) and is not listed yet is added with a reason derived from
#   what SyTest reported: the endpoint that answered 404 (feature not built yet), the ability a skipped test
#   lacked, or "UNREVIEWED: <SyTest's first diagnostic line>" when neither applies. UNREVIEWED lines must be
#   read and given a real reason by hand (the script prints how many there are).
# - Listed tests that did not run at all are kept.
#
# The file is rewritten grouped by the part of each reason before the first ':' (e.g. "rooms not implemented
# yet"), groups with more tests first, tests in SyTest's order within a group. Comment lines at the top
# (before the first group header) are kept as they are.

use strict;
use warnings;

use JSON::PP;

my $RUN_DIR = shift or die "usage: $0 RUN_DIR [known-failures.txt]\n";
my $FILE    = shift // do { ( my $d = __FILE__ ) =~ s{[^/]*$}{}; ( $d || "./" ) . "known-failures.txt" };

# --- what a 404 on an endpoint means -------------------------------------------------------------------------------
# Checked in order against the request path (after /_matrix/client/<version>/ for the client API).
my @ENDPOINT_FEATURE = (
   [ qr{^/_matrix/client/[^/]+/(createRoom|rooms/|join/|joined_rooms|directory/|publicRooms|knock/)} => "rooms" ],
   [ qr{^/_matrix/client/[^/]+/user/[^/]+/filter}                   => "sync" ],
   [ qr{^/_matrix/client/[^/]+/(sync|events|initialSync)\b}          => "sync" ],
   [ qr{^/_matrix/client/[^/]+/profile/}                            => "profiles" ],
   [ qr{^/_matrix/client/[^/]+/(devices|delete_devices)\b}           => "device management" ],
   [ qr{^/_matrix/client/[^/]+/presence/}                           => "presence" ],
   [ qr{^/_matrix/client/[^/]+/capabilities}                        => "capabilities" ],
   [ qr{^/_matrix/client/[^/]+/account/(password|deactivate)}       => "password change and account deactivation" ],
   [ qr{^/_matrix/client/[^/]+/(account/3pid|register/email|register/msisdn)} => "third-party identifiers (e-mail, identity server)" ],
   [ qr{^/_matrix/client/[^/]+/(keys/|room_keys/)}                   => "end-to-end encryption keys" ],
   [ qr{^/_matrix/client/[^/]+/sendToDevice/}                       => "to-device messaging" ],
   [ qr{^/_matrix/client/[^/]+/(pushrules|pushers|notifications)\b}  => "push rules, pushers and notifications" ],
   [ qr{^/_matrix/client/[^/]+/user/[^/]+/(rooms/[^/]+/)?tags}       => "room tags" ],
   [ qr{^/_matrix/client/[^/]+/user/[^/]+/(rooms/[^/]+/)?account_data} => "account data" ],
   [ qr{^/_matrix/(client/[^/]+/user/[^/]+/openid|federation/v1/openid)} => "OpenID" ],
   [ qr{^/_matrix/client/[^/]+/user_directory/}                     => "user directory" ],
   [ qr{^/_matrix/client/[^/]+/thirdparty/}                         => "third-party protocol lookups (application services)" ],
   [ qr{^/_matrix/client/[^/]+/login/(sso|cas)}                     => "SSO and CAS login" ],
   [ qr{^/_matrix/client/[^/]+/admin/}                              => "client admin API (whois)" ],
   [ qr{^/_matrix/media/}                                           => "media repository" ],
   [ qr{^/_matrix/key/v2/query}                                     => "key notary" ],
   [ qr{^/_matrix/federation/}                                      => "federation API" ],
);

# --- what a missing ability means (skipped tests, and "Missing fixture dependency" failures) ------------------------
my %ABILITY_FEATURE = (
   ( map { $_ => "sync" } qw( can_sync can_create_filter ) ),
   ( map { $_ => "rooms" } qw(
      can_send_message can_receive_room_message_locally can_paginate_room can_post_room_receipts
      can_set_room_typing can_create_room_alias can_create_room_alias_unicode can_delete_room_alias
      can_lookup_room_alias can_change_power_levels can_get_room_membership can_create_private_room
      can_create_private_room_with_invite can_ban_room can_join_room_by_alias can_invite_room can_set_room_topic
      can_set_room_name can_get_joined_rooms can_create_room_with_creation_content can_get_room_joined_members
      can_create_versioned_room can_create_room ) ),
   can_upgrade_room_version   => "room upgrades",
   can_join_remote_room_by_alias => "federation API",
   ( map { $_ => "end-to-end encryption keys" } qw(
      can_upload_e2e_keys can_update_e2e_keys can_upload_self_signing_keys can_create_backup_version can_backup_e2e_keys ) ),
   ( map { $_ => "to-device messaging" } qw( can_send_device_message can_recv_device_message ) ),
   can_set_presence           => "presence",
   can_add_tag                => "room tags",
   ( map { $_ => "profiles" } qw( can_get_displayname can_set_displayname can_get_avatar_url can_set_avatar_url ) ),
   can_get_3pe_metadata       => "third-party protocol lookups (application services)",
   can_upload_media           => "media repository",
);

sub read_lines
{
   my ( $path ) = @_;
   open my $fh, "<:encoding(UTF-8)", $path or die "Cannot read $path: $!\n";
   my @lines = <$fh>;
   chomp @lines;
   return @lines;
}

sub derive_reason
{
   my ( $r ) = @_;
   my @detail = @{ $r->{detail} // [] };
   my $first = $detail[0] // "";

   if( $r->{status} eq "skip" ) {
      my $why = $r->{reason} // "";
      if( $why =~ m/^lack of (\w+)/ ) {
         my $ability = $1;
         my $feature = $ABILITY_FEATURE{$ability} // "UNREVIEWED";
         return "$feature not implemented yet: skipped for lack of $ability";
      }
      return "SSO and CAS login not implemented yet: skipped, no m.login.cas flow" if $why =~ m/no m\.login\.cas/;
      return "UNREVIEWED: skipped: $why";
   }

   if( $first =~ m/Missing fixture dependency (\w+)/ ) {
      my $ability = $1;
      my $feature = $ABILITY_FEATURE{$ability} // "UNREVIEWED";
      return "$feature not implemented yet: a fixture needs $ability";
   }

   if( $first =~ m{HTTP Request failed \( 404 Not Found https?://[^/]+(/[^ ?]*)\S* \) from (\w+)} ) {
      my ( $path, $method ) = ( $1, $2 );
      foreach my $e ( @ENDPOINT_FEATURE ) {
         my ( $re, $feature ) = @$e;
         next unless $path =~ $re;
         ( my $shown = $path ) =~ s{/(?:[@!#\$]|%40|%21|%23)[^/]*}{/{id}}g;
         $shown =~ s{/_matrix/client/(v3|r0|v1|unstable)/}{/};
         return "$feature not implemented yet: $method $shown answers 404";
      }
   }

   ( my $short = $first ) =~ s/\?access_token=\S+//g;
   return "UNREVIEWED: $short";
}

# --- the run -----------------------------------------------------------------------------------------------------------
my $summary = JSON::PP->new->utf8->decode( do {
   open my $fh, "<:raw", "$RUN_DIR/summary.json" or die "Cannot read $RUN_DIR/summary.json: $!\n";
   local $/;
   scalar <$fh>;
} );
my @results = @{ $summary->{results} };
my %result_of = map { $_->{name} => $_ } @results;
my %order     = map { $results[$_]{name} => $_ } 0 .. $#results;

# --- the current list --------------------------------------------------------------------------------------------------
my ( @header, %reason_of, @listed );
my $in_header = 1;
foreach my $line ( -f $FILE ? read_lines( $FILE ) : () ) {
   if( $in_header and ( $line =~ m/^#/ or $line =~ m/^\s*$/ ) and $line !~ m/^# ==/ ) {
      push @header, $line;
      next;
   }
   $in_header = 0;
   next if $line =~ m/^\s*(#|$)/;
   my ( $name, $reason ) = $line =~ m/^(.*?)\s*#\s*(.*)$/ ? ( $1, $2 ) : ( $line, "UNREVIEWED: no reason given" );
   $name =~ s/^\s+|\s+$//g;
   next unless length $name;
   push @listed, $name unless exists $reason_of{$name};
   $reason_of{$name} = $reason;
}

my @removed;
my $added = 0;
my $unreviewed;
foreach my $name ( @listed ) {
   my $r = $result_of{$name} or next;
   if( $r->{status} eq "pass" ) {
      push @removed, $name;
      delete $reason_of{$name};
   }
}
foreach my $r ( @results ) {
   next if $r->{status} eq "pass" or exists $reason_of{ $r->{name} };
   $reason_of{ $r->{name} } = derive_reason( $r );
   $added++;
}
$unreviewed = grep { m/^UNREVIEWED/ } values %reason_of;

# --- write it back, grouped ------------------------------------------------------------------------------------------------
my %group;
foreach my $name ( keys %reason_of ) {
   ( my $g = $reason_of{$name} ) =~ s/:.*//;
   push @{ $group{$g} }, $name;
}
my @out = @header;
push @out, "" if @out and $out[-1] ne "";
foreach my $g ( sort { @{ $group{$b} } <=> @{ $group{$a} } or $a cmp $b } keys %group ) {
   my @names = sort { ( $order{$a} // 1e9 ) <=> ( $order{$b} // 1e9 ) or $a cmp $b } @{ $group{$g} };
   push @out, sprintf( "# == %s (%d) ==", $g, scalar @names );
   push @out, map { "$_  # $reason_of{$_}" } @names;
   push @out, "";
}
pop @out if @out and $out[-1] eq "";

open my $fh, ">:encoding(UTF-8)", $FILE or die "Cannot write $FILE: $!\n";
print $fh join( "\n", @out ), "\n";
close $fh or die "Cannot write $FILE: $!\n";

printf "%s: %d listed now; %d added, %d removed because they passed%s\n",
   $FILE, scalar keys %reason_of, $added, scalar @removed, $unreviewed ? "; $unreviewed UNREVIEWED reasons to write by hand" : "";
print "  passed, removed: $_\n" for @removed;
