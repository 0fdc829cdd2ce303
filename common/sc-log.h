/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Error messages to stderr, each string argument made safe for a terminal.
 *
 * The shape is fsverity-utils' programs/utils.c error_msg() and kmod's
 * tools/log.h: printf-like, one line, the program's name first. What differs:
 * every %s (and %c) argument goes through sc_term_escape() (sc-term.h), since
 * the strings an error names (paths, device names, option values, reasons a
 * core formatted from what it read) come from outside and must not move the
 * cursor or rewrite the line. Conversions other than %s, %c and %m pass to
 * snprintf() unchanged.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "sc-macro.h"

/* At most this many bytes of one %s argument are shown (then "..."): an escaped argument is at most 4 times that. */
#define SC_LOG_ARG_MAX 1024
/* At most this many bytes of one message (prefix, text, newline); the rest is cut, ending "...". */
#define SC_LOG_LINE_MAX 4096

/*
 * sc_log_open() - what each message begins with, as kmod's log_open() sets
 * it: "PROGRAM: " or, with a @verb, "PROGRAM VERB: ". Copied (at most 127
 * bytes); a NULL @program means no prefix. sc_program_main() (sc-verb.h) sets
 * the program, then the program and the verb it runs.
 */
void sc_log_open(const char *program, const char *verb);

/*
 * sc_log_vformat() - @fmt with @ap into @buf (@size bytes, NUL-terminated,
 * cut short to fit; nothing when @size is 0), every %s and %c argument
 * escaped for a terminal, %m the strerror() of @errnum. %n is not supported:
 * its pointer is skipped, never written through. Returns the length written.
 */
size_t sc_log_vformat(char *buf, size_t size, int errnum, const char *fmt, va_list ap);
_printf_(3, 4) size_t sc_log_format(char *buf, size_t size, const char *fmt, ...);

/* "PREFIX: MESSAGE\n" to stderr in one write, at most SC_LOG_LINE_MAX bytes; errno is kept. */
_printf_(1, 2) void sc_log_error(const char *fmt, ...);

/*
 * sc_log_last() - the text of the last message sc_log_error() or
 * sc_verb_usage_error() said (escaped, without the prefix and the newline;
 * "" before any): what a program's --json error document repeats.
 * sc_log_set_last() records @msg as that text (sc-verb.c's usage errors).
 */
const char *sc_log_last(void);
void sc_log_set_last(const char *msg);
