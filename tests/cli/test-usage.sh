#!/usr/bin/env bash
# Usage errors: exit 2 with a message naming the bad input.
sealcheck=$1
fail=0
check() { # check DESCRIPTION WANT_RC WANT_STDERR_SUBSTRING ARGS...
	local desc=$1 want=$2 msg=$3 rc=0 err
	shift 3
	err=$("$sealcheck" "$@" 2>&1 >/dev/null) || rc=$?
	if [ "$rc" != "$want" ] || [[ "$err" != *"$msg"* ]]; then
		echo "not ok - $desc: exit $rc (want $want), stderr: $err"
		fail=1
	else
		echo "ok - $desc"
	fi
}
check "missing --root directory" 2 "--root /nonexistent-sealcheck: No such file or directory" --root /nonexistent-sealcheck
check "unknown command" 2 "unknown command 'frobnicate'" frobnicate
check "unknown option" 2 "Usage:" --frobnicate
check "relative --sysroot" 2 "must be an absolute path" --sysroot relative
check "measure without files" 2 "no FILE given" measure
check "measure a missing file" 1 "/nonexistent-file: no such file" measure /nonexistent-file
check "measure a directory" 1 "/: not a regular file" measure /
check "stray argument" 2 "unexpected argument 'extra'" status extra
# libcryptsetup and libsystemd are loaded only when needed (dlopen): never at start.
if ldd "$sealcheck" | grep -E 'libcryptsetup|libsystemd|libdevmapper' >/dev/null; then
	echo "not ok - linked at start: $(ldd "$sealcheck" | grep -oE 'lib(cryptsetup|systemd|devmapper)[^ ]*' | tr '\n' ' ')"
	fail=1
else
	echo "ok - no libcryptsetup or libsystemd at start ($(ldd "$sealcheck" | wc -l) shared objects)"
fi
"$sealcheck" --help | grep "Exit status" >/dev/null && echo "ok - --help" || { echo "not ok - --help"; fail=1; }
"$sealcheck" --version | grep -E '^sealcheck [0-9]' >/dev/null && echo "ok - --version" || { echo "not ok - --version"; fail=1; }
exit $fail
