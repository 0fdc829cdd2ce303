# Join `fsverity measure` output with `getfattr -e hex` dumps: each file's
# metacopy digest must equal the measured digest of the object its redirect names.
function hex2str(h,    s, i) { s = ""; for (i = 1; i < length(h); i += 2) s = s C[substr(h, i, 2)]; return s }
function done_file() {
	if (mc != "" && rd != "") { n++; if (m[rd] != mc) bad++ }
	mc = ""; rd = ""
}
BEGIN { for (i = 32; i < 127; i++) C[sprintf("%02x", i)] = sprintf("%c", i) }
FNR == NR { split($1, a, ":"); p = $2; sub(/^\.\//, "", p); m[p] = a[2]; next }
/^# file: / { done_file(); next }
/^trusted\.overlay\.metacopy=0x/ { mc = substr($0, 28 + 8); next }
/^trusted\.overlay\.redirect=0x/ { rd = hex2str(substr($0, 28)); sub(/^\//, "", rd); next }
END { done_file(); printf "peer: %d files joined, %d mismatches\n", n, bad; exit bad > 0 }
