/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Text from the system or from a guest, made safe to show on a terminal.
 *
 * This is the one escaping function for every such string that a person
 * reads (the agent's human report, the probe's verdict lines, console tails):
 * a string must not be able to move the cursor, clear the screen, rewrite a
 * line with CR, or reorder what is shown with bidirectional overrides.
 */
#pragma once

#include <stddef.h>
#include <stdio.h>

/* Multi-line text (console tails): keep \n, escape everything else. */
#define SC_TERM_KEEP_NEWLINE 1u

/*
 * sc_term_escape() - @len bytes of @s made safe for a terminal, malloc'd,
 * NUL-terminated, in *@ret (the caller frees it).
 *
 * C0 controls (including ESC, CR, TAB and, without SC_TERM_KEEP_NEWLINE, LF),
 * DEL, C1 controls (U+0080..U+009F, the UTF-8 sequences C2 80..C2 9F), NUL and
 * every byte that is not part of valid UTF-8 (overlongs, surrogates,
 * > U+10FFFF, truncated sequences) become the 4 characters \xNN, one per byte;
 * Unicode's bidirectional controls (Trojan Source: the embeddings, overrides
 * and isolates U+202A..U+202E and U+2066..U+2069, the marks U+061C, U+200E,
 * U+200F) and the line and paragraph separators U+2028, U+2029 become
 * \u{XXXX}. Valid printable UTF-8 passes unchanged.
 *
 * Returns 0, -ENOMEM, or -EOVERFLOW if @len * 4 + 1 does not fit a size_t;
 * *@ret is written only on success.
 */
int sc_term_escape(const char *s, size_t len, unsigned flags, char **ret);

/* sc_term_escape() of @s written to @f; a NULL @s writes "(none)". Returns 0 or -errno. */
int sc_term_fput(FILE *f, const char *s, size_t len, unsigned flags);
