#!/usr/bin/env bash
# Runs SyTest (the Matrix community's black-box suite) against this homeserver through the shared SyTest
# harness (run-sytest.sh and its "CSharp" plugin), with hs-cmd beside this script starting each instance.
#
#   spec-compliance/sytest/run.sh                        # the whole suite; rewrites RESULTS.md
#   spec-compliance/sytest/run.sh 10apidoc               # a folder or file of SyTest's tests/ (RESULTS.md untouched)
#   spec-compliance/sytest/run.sh --timeout-factor 2 -- tests/10apidoc/01register.pl
#
# Own options (everything else goes to run-sytest.sh unchanged; see its --help):
#   --no-build            use the existing build (HS_BUILD_DIR, default <repo>/.build/sytest/server)
#   --write-results       rewrite RESULTS.md even though tests were selected (default: whole-suite runs only)
#   --no-results          never rewrite RESULTS.md
#   --no-known-failures   do not give known-failures.txt to SyTest as its blacklist (expected failures)
#   -h, --help
#
# Environment:
#   SYTEST_DIR        SyTest checkout (matrix-org/sytest; default /work/sytest when it exists)
#   SYTEST_HARNESS    folder of run-sytest.sh (default: shared/sytest beside the repository, or /work/shared/sytest)
#   HS_BUILD_DIR      where the server is published (default <repo>/.build/sytest/server, gitignored)
#   SYTEST_WORK_DIR   where runs go (default ${TMPDIR:-/tmp}/sytest-runs; each run in run-<timestamp>/, and
#                     <work dir>/latest points at the newest). Keep it where the postgres account can read
#                     when running as root: each instance's private PostgreSQL cluster lives in its folder.
#   TIMEOUT_FACTOR    multiplies SyTest's timeouts
#
# Exit status: run-sytest.sh's (1 when a test not listed in known-failures.txt failed), 2 for set-up errors.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$root/deploy/lib.sh"

say() { echo "sytest/run.sh: $*" >&2; }
die() { say "$*"; exit 2; }

build_server=1
results_mode=auto
use_known=1
pass=()
tests_named=0
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build_server=0; shift ;;
        --write-results) results_mode=always; shift ;;
        --no-results) results_mode=never; shift ;;
        --no-known-failures) use_known=0; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        # run-sytest.sh options that take a value: pass both through.
        --sytest-dir|--hs-cmd|--external|--server-name|--work-dir|--whitelist|--blacklist|--impl-name|\
        --timeout-factor|--categories|--compare|--sytest-arg)
            [ $# -ge 2 ] || die "$1 needs a value"
            pass+=("$1" "$2"); shift 2 ;;
        --) pass+=("$@"); [ $# -gt 1 ] && tests_named=1; shift $#; break ;;
        -*) pass+=("$1"); shift ;;
        *) pass+=("$1"); tests_named=1; shift ;;
    esac
done

# --- where things are ------------------------------------------------------------------------------------------
if [ -z "${SYTEST_DIR:-}" ] && [ -f /work/sytest/run-tests.pl ]; then
    SYTEST_DIR=/work/sytest
fi
[ -n "${SYTEST_DIR:-}" ] && [ -f "$SYTEST_DIR/run-tests.pl" ] \
    || die "set SYTEST_DIR to a checkout of matrix-org/sytest (the harness README says which commit)"
export SYTEST_DIR="$(cd "$SYTEST_DIR" && pwd)"

harness="${SYTEST_HARNESS:-}"
if [ -z "$harness" ]; then
    for d in "$root/../shared/sytest" /work/shared/sytest; do
        if [ -x "$d/run-sytest.sh" ]; then harness="$(cd "$d" && pwd)"; break; fi
    done
fi
[ -n "$harness" ] && [ -x "$harness/run-sytest.sh" ] || die "set SYTEST_HARNESS to the folder of run-sytest.sh"

export HS_BUILD_DIR="${HS_BUILD_DIR:-$root/.build/sytest/server}"
export SYTEST_WORK_DIR="${SYTEST_WORK_DIR:-${TMPDIR:-/tmp}/sytest-runs}"
mkdir -p "$SYTEST_WORK_DIR" || die "cannot create $SYTEST_WORK_DIR"
chmod 755 "$SYTEST_WORK_DIR" 2>/dev/null || true

# --- the server: built once, started by hs-cmd for each instance --------------------------------------------
ensure_dotnet || exit 2
ensure_postgres || exit 2
if [ "$build_server" = 1 ]; then
    say "building the server (Release) into $HS_BUILD_DIR"
    dotnet publish "$root/src/Homeserver.Host/Homeserver.Host.csproj" -c Release -o "$HS_BUILD_DIR" --nologo -v quiet >&2 \
        || die "the server did not build"
fi
[ -f "$HS_BUILD_DIR/Homeserver.dll" ] || die "no built server in $HS_BUILD_DIR"

args=(--hs-cmd "$here/hs-cmd {config}" --work-dir "$SYTEST_WORK_DIR")
if [ "$use_known" = 1 ]; then
    args+=(--blacklist "$here/known-failures.txt")
fi

# --- run -------------------------------------------------------------------------------------------------------
say "SyTest $(git -C "$SYTEST_DIR" rev-parse --short HEAD 2>/dev/null || echo '?') in $SYTEST_DIR, harness $harness"
before="$(readlink "$SYTEST_WORK_DIR/latest" 2>/dev/null || true)"
"$harness/run-sytest.sh" "${args[@]}" "${pass[@]+"${pass[@]}"}"
status=$?
run_dir="$(readlink "$SYTEST_WORK_DIR/latest" 2>/dev/null || true)"
[ -n "$run_dir" ] && [ "$run_dir" != "$before" ] || die "run-sytest.sh made no run folder (exit $status)"

# A server killed after the 30 s SIGINT grace period leaves its private PostgreSQL running: stop it.
bindir="$(pg_bindir)"
for pgdata in "$run_dir"/server-*/postgres; do
    [ -f "$pgdata/postmaster.pid" ] || continue
    say "stopping a PostgreSQL cluster left running in $pgdata"
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$bindir/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1
    else
        "$bindir/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1
    fi
done

# Crashes and 500s are bugs: point at them.
for out in "$run_dir"/server-*/homeserver.out; do
    [ -f "$out" ] || continue
    n="$(grep -cE ' (fail|crit): |Unhandled exception' "$out")"
    if [ "$n" != 0 ]; then
        say "$out has $n error line(s) (fail/crit): look for 500s and crashes there"
    fi
done

# --- RESULTS.md ----------------------------------------------------------------------------------------------------
write=0
case "$results_mode" in
    always) write=1 ;;
    auto) [ "$tests_named" = 0 ] && write=1 ;;
esac
if [ ! -f "$run_dir/summary.json" ]; then
    say "no summary.json in $run_dir: RESULTS.md not written"
elif [ "$write" = 1 ]; then
    perl "$here/make-results.pl" \
        --run-dir "$run_dir" \
        --sytest-dir "$SYTEST_DIR" \
        --compliance-dir "${SYTEST_COMPLIANCE_DIR:-$harness/../compliance}" \
        --known-failures "$here/known-failures.txt" \
        --repo "$root" \
        --out "$here/RESULTS.md" \
        || die "could not write RESULTS.md"
    say "wrote $here/RESULTS.md"
else
    say "tests were selected: RESULTS.md left as it is (--write-results to rewrite it)"
fi
if [ -f "$run_dir/summary.json" ] && [ "$use_known" = 1 ]; then
    perl -MJSON::PP -e '
        my ( $summary, $known ) = @ARGV;
        my $d = decode_json( do { local $/; open my $f, "<:raw", $summary or exit; <$f> } );
        my %listed;
        if( open my $k, "<:encoding(UTF-8)", $known ) {
            while( my $l = <$k> ) { $l =~ s/#.*//; $l =~ s/^\s+|\s+$//g; $listed{$l} = 1 if length $l }
        }
        my $new  = grep { $_->{status} eq "fail" } @{ $d->{results} };
        my $gone = grep { $_->{status} eq "pass" and $listed{ $_->{name} } } @{ $d->{results} };
        print STDERR "sytest/run.sh: $new failure(s) not in known-failures.txt, $gone known failure(s) passed: ",
            "after a whole-suite run, spec-compliance/sytest/update-known-failures.pl <run folder> updates the list\n"
            if $new or $gone;
    ' "$run_dir/summary.json" "$here/known-failures.txt"
fi
say "run folder: $run_dir"
exit "$status"
