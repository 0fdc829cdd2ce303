#!/usr/bin/env bash
# Usage: every verb's options, from its --help, against what its parser accepts
# and what the man page documents; usage errors exit 2 naming the bad input.
sealcheck=$1
man=$(dirname "$0")/../../docs/sealcheck.1
fail=0
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; fail=1; }
check() { # check DESCRIPTION WANT_RC WANT_STDERR_SUBSTRING ARGS...
	local desc=$1 want=$2 msg=$3 rc=0 err
	shift 3
	err=$("$sealcheck" "$@" 2>&1 >/dev/null) || rc=$?
	if [ "$rc" != "$want" ] || [[ "$err" != *"$msg"* ]]; then
		notok "$desc: exit $rc (want $want), stderr: $err"
	else
		ok "$desc"
	fi
}
check "missing --root directory" 2 "--root /nonexistent-sealcheck: No such file or directory" --root /nonexistent-sealcheck
check "unknown verb" 2 "unknown verb 'frobnicate'" frobnicate
check "unknown option" 2 "Usage:" --frobnicate
check "relative --sysroot" 2 "must be an absolute path" --sysroot relative
check "measure without files" 2 "no FILE given" measure
check "measure a missing file" 1 "/nonexistent-file: no such file" measure /nonexistent-file
check "measure a directory" 1 "/: not a regular file" measure /
check "stray argument" 2 "unexpected argument 'extra'" status extra
check "missing option argument" 2 "--image needs an argument" verify --image
check "bad number" 2 "--threads 65: not a number from 1 to 64" verify --threads 65
check "negative number" 2 "--max-seconds -1: not a number" verify --max-seconds -1
check "--deep without --verify-objects" 2 "--deep needs --verify-objects" status --deep
check "agent --max-seconds without --verify-objects" 2 "--max-seconds needs --verify-objects" agent --max-seconds 5
check "options before the verb are the verb's" 2 "--deep does not apply to measure" --deep measure /
check "measure --help is not a file" 0 "" measure --help
out=$("$sealcheck" measure --help 2>&1)
[[ "$out" == "Usage: sealcheck measure FILE..."* && "$out" != *"no such file"* ]] && ok "measure --help prints its usage" ||
	notok "measure --help: $out"

# libcryptsetup and libsystemd are loaded only when needed (dlopen): never at start.
if ldd "$sealcheck" | grep -E 'libcryptsetup|libsystemd|libdevmapper' >/dev/null; then
	notok "linked at start: $(ldd "$sealcheck" | grep -oE 'lib(cryptsetup|systemd|devmapper)[^ ]*' | tr '\n' ' ')"
else
	ok "no libcryptsetup or libsystemd at start ($(ldd "$sealcheck" | wc -l) shared objects)"
fi
"$sealcheck" --help | grep "Exit status" >/dev/null && ok "--help" || notok "--help"
"$sealcheck" --version | grep -E '^sealcheck [0-9]' >/dev/null && ok "--version" || notok "--version"

# The verbs, from sealcheck --help ("Verbs:" up to the first blank line).
mapfile -t verbs < <("$sealcheck" --help | sed -n '/^Verbs:/,/^$/s/^  \([a-z]\+\) .*/\1/p')
[ "${#verbs[@]}" -ge 4 ] && ok "sealcheck --help lists ${#verbs[@]} verbs: ${verbs[*]}" || notok "verbs: ${verbs[*]}"

# Each verb's options, "name ARG" (ARG empty without one), from its --help.
declare -A takes arg
all=()
for v in "${verbs[@]}"; do
	rc=0
	help=$("$sealcheck" "$v" --help 2>/dev/null) || rc=$?
	if [ "$rc" != 0 ] || [[ "$help" != "Usage: sealcheck $v"* ]] || [[ "$help" != *"Exit status"* ]]; then
		notok "$v --help: exit $rc: $help"
		continue
	fi
	ok "$v --help exits 0"
	while read -r name a; do
		[ "$name" = help ] && continue
		takes[$v,$name]=1
		arg[$name]=$a
		[[ " ${all[*]} " == *" $name "* ]] || all+=("$name")
	done < <(sed -n 's/^  \(-h, \)\?--\([a-z-]\+\)\( \([^ ]\+\)\)\?.*/\2 \4/p' <<<"$help")
done
[ "${#all[@]}" -ge 15 ] && ok "${#all[@]} options in all" || notok "only ${#all[@]} options found: ${all[*]}"

# A value the parser accepts for each kind of argument.
value() {
	case $1 in
	N | S) echo 1 ;;
	*'|'*) echo "${1%%|*}" ;;
	'') ;;
	*) echo / ;;
	esac
}
for name in "${all[@]}"; do
	# Documented: the man page has every option a verb takes (hyphens as \-).
	if grep -qF -- "\\-\\-${name//-/\\-}" "$man"; then ok "--$name in the man page"; else notok "--$name missing from $man"; fi
	for v in "${verbs[@]}"; do
		val=$(value "${arg[$name]}")
		rc=0
		if [ "${takes[$v,$name]}" ]; then
			# Accepted: the parser gets past it to the next, unknown option.
			err=$("$sealcheck" "$v" "--$name" ${val:+"$val"} --zz-no-such-option 2>&1 >/dev/null) || rc=$?
			[ "$rc" = 2 ] && [[ "$err" == *"unknown option '--zz-no-such-option'"* ]] &&
				ok "$v takes --$name" || notok "$v --$name listed but not taken: exit $rc: $err"
		else
			err=$("$sealcheck" "$v" "--$name" ${val:+"$val"} 2>&1 >/dev/null) || rc=$?
			[ "$rc" = 2 ] && [[ "$err" == *"--$name does not apply to $v"* ]] &&
				ok "$v turns down --$name" || notok "$v --$name: exit $rc (want 2 naming it): $err"
		fi
	done
done
exit $fail
