/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sc_log_error() (sc-log.h): the format is walked one conversion at a time;
 * each conversion's argument is read with its own type (C11 7.21.6.1: the
 * length modifier and the conversion specifier say it) and formatted alone
 * by snprintf(), except %s and %c, whose text is escaped by sc_term_escape()
 * first, and %m, glibc's strerror(errno).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sc-log.h"
#include "sc-term.h"

static char log_prefix[128];
static char log_last[SC_LOG_LINE_MAX];

const char *sc_log_last(void)
{
	return log_last;
}

void sc_log_set_last(const char *msg)
{
	snprintf(log_last, sizeof(log_last), "%s", msg ? msg : "");
}

void sc_log_open(const char *program, const char *verb)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s%s%s", program ? program : "", program && verb ? " " : "",
		 program && verb ? verb : "");
}

struct out {
	char *buf;
	size_t size, len; /* len < size while size > 0 */
	bool cut;
};

static void put(struct out *o, const char *s, size_t n)
{
	size_t room;

	if (o->size == 0)
		return;
	room = o->size - 1 - o->len;
	if (n > room) {
		n = room;
		o->cut = true;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/* @s (@n bytes, @dots: more was not shown) escaped, padded to @width (left-aligned when @left). */
static void put_escaped(struct out *o, const char *s, size_t n, bool dots, int width, bool left)
{
	_cleanup_free_ char *esc = NULL;
	size_t w;

	if (n > SC_LOG_ARG_MAX) {
		n = SC_LOG_ARG_MAX;
		dots = true;
	}
	if (sc_term_escape(s, n, 0, &esc) < 0) {
		put(o, "(?)", 3);
		return;
	}
	w = strlen(esc) + (dots ? 3 : 0);
	for (; !left && width > 0 && (size_t)width > w; width--)
		put(o, " ", 1);
	put(o, esc, strlen(esc));
	if (dots)
		put(o, "...", 3);
	for (; left && width > 0 && (size_t)width > w; width--)
		put(o, " ", 1);
}

/* One numeric conversion, formatted by snprintf() from a format built here (@spec, never the caller's text). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#define PUT_ONE(o, spec, v)                                                 \
	do {                                                                \
		char _t[512];                                               \
		int _n = snprintf(_t, sizeof(_t), spec, v);                 \
		if (_n > 0)                                                 \
			put(o, _t, (size_t)_n < sizeof(_t) ? (size_t)_n : sizeof(_t) - 1); \
	} while (0)

size_t sc_log_vformat(char *buf, size_t size, int errnum, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .size = size };
	va_list aq;

	if (size > 0)
		buf[0] = '\0';
	va_copy(aq, ap);
	for (const char *p = fmt; *p;) {
		char spec[64];
		size_t s = 0;
		int width = -1, prec = -1;
		bool left = false;
		enum { L_NONE, L_HH, L_H, L_L, L_LL, L_J, L_Z, L_T, L_BIG } len = L_NONE;
		const char *q;

		if (*p != '%') {
			q = strchrnul(p, '%');
			put(&o, p, (size_t)(q - p));
			p = q;
			continue;
		}
		q = p + 1;
		spec[s++] = '%';
		/* flags */
		for (; *q && strchr("-+ #0'", *q); q++) {
			left |= *q == '-';
			if (s < 8)
				spec[s++] = *q;
		}
		/* width */
		if (*q == '*') {
			width = va_arg(aq, int);
			if (width < 0) {
				left = true;
				width = width == INT_MIN ? 0 : -width;
				spec[s++] = '-';
			}
			q++;
		} else if (*q >= '0' && *q <= '9') {
			width = 0;
			for (; *q >= '0' && *q <= '9'; q++)
				width = width < 10000 ? width * 10 + (*q - '0') : width;
		}
		if (width > 4096)
			width = 4096;
		if (width >= 0)
			s += (size_t)snprintf(spec + s, sizeof(spec) - s, "%d", width);
		/* precision */
		if (*q == '.') {
			q++;
			prec = 0;
			if (*q == '*') {
				prec = va_arg(aq, int); /* negative: as if none */
				q++;
			} else
				for (; *q >= '0' && *q <= '9'; q++)
					prec = prec < 10000 ? prec * 10 + (*q - '0') : prec;
			if (prec >= 0)
				s += (size_t)snprintf(spec + s, sizeof(spec) - s, ".%d", prec > 4096 ? 4096 : prec);
		}
		/* length modifier */
		switch (*q) {
		case 'h':
			len = q[1] == 'h' ? L_HH : L_H;
			q += len == L_HH ? 2 : 1;
			break;
		case 'l':
			len = q[1] == 'l' ? L_LL : L_L;
			q += len == L_LL ? 2 : 1;
			break;
		case 'j':
			len = L_J;
			q++;
			break;
		case 'z':
			len = L_Z;
			q++;
			break;
		case 't':
			len = L_T;
			q++;
			break;
		case 'L':
			len = L_BIG;
			q++;
			break;
		default:
			break;
		}
		if (s + 4 >= sizeof(spec))
			break; /* cannot happen: flags and numbers are bounded above */
		switch (len) {
		case L_HH:
			spec[s++] = 'h';
			spec[s++] = 'h';
			break;
		case L_H:
			spec[s++] = 'h';
			break;
		case L_L:
			spec[s++] = 'l';
			break;
		case L_LL:
			spec[s++] = 'l';
			spec[s++] = 'l';
			break;
		case L_J:
			spec[s++] = 'j';
			break;
		case L_Z:
			spec[s++] = 'z';
			break;
		case L_T:
			spec[s++] = 't';
			break;
		case L_BIG:
			spec[s++] = 'L';
			break;
		default:
			break;
		}
		spec[s++] = *q;
		spec[s] = '\0';
		switch (*q) {
		case '%':
			put(&o, "%", 1);
			break;
		case 'd':
		case 'i':
			if (len == L_L)
				PUT_ONE(&o, spec, va_arg(aq, long));
			else if (len == L_LL)
				PUT_ONE(&o, spec, va_arg(aq, long long));
			else if (len == L_J)
				PUT_ONE(&o, spec, va_arg(aq, intmax_t));
			else if (len == L_Z)
				PUT_ONE(&o, spec, va_arg(aq, ssize_t));
			else if (len == L_T)
				PUT_ONE(&o, spec, va_arg(aq, ptrdiff_t));
			else
				PUT_ONE(&o, spec, va_arg(aq, int)); /* hh and h are promoted to int */
			break;
		case 'o':
		case 'u':
		case 'x':
		case 'X':
			if (len == L_L)
				PUT_ONE(&o, spec, va_arg(aq, unsigned long));
			else if (len == L_LL)
				PUT_ONE(&o, spec, va_arg(aq, unsigned long long));
			else if (len == L_J)
				PUT_ONE(&o, spec, va_arg(aq, uintmax_t));
			else if (len == L_Z)
				PUT_ONE(&o, spec, va_arg(aq, size_t));
			else if (len == L_T)
				PUT_ONE(&o, spec, va_arg(aq, ptrdiff_t));
			else
				PUT_ONE(&o, spec, va_arg(aq, unsigned));
			break;
		case 'f':
		case 'F':
		case 'e':
		case 'E':
		case 'g':
		case 'G':
		case 'a':
		case 'A':
			if (len == L_BIG)
				PUT_ONE(&o, spec, va_arg(aq, long double));
			else
				PUT_ONE(&o, spec, va_arg(aq, double));
			break;
		case 'p':
			PUT_ONE(&o, spec, va_arg(aq, void *));
			break;
		case 'c': {
			char c = (char)va_arg(aq, int);

			put_escaped(&o, &c, 1, false, width, left);
			break;
		}
		case 's': {
			const char *a = va_arg(aq, const char *);
			size_t n;

			if (len == L_L) {
				put(&o, "(?)", 3); /* wide strings: not used here */
				break;
			}
			if (!a)
				a = "(null)";
			/* Never read past the precision: "%.*s" may name bytes that are not NUL-terminated. */
			n = prec >= 0 ? strnlen(a, (size_t)prec) : strnlen(a, SC_LOG_ARG_MAX + 1);
			put_escaped(&o, a, n, false, width, left);
			break;
		}
		case 'm': {
			const char *e = strerror(errnum);

			put_escaped(&o, e, strlen(e), false, width, left);
			break;
		}
		case 'n':
			(void)va_arg(aq, int *); /* never written through */
			break;
		case '\0':
			q--; /* a lone '%' at the end: shown as is */
			put(&o, "%", 1);
			break;
		default:
			put(&o, p, (size_t)(q + 1 - p)); /* not a conversion: shown as written, no argument read */
			break;
		}
		p = q + 1;
	}
	va_end(aq);
	if (o.cut && o.size >= 4) {
		/* Cut short: say so in the last 3 bytes, not splitting a UTF-8 sequence. */
		size_t at = o.size - 4;

		while (at > 0 && ((unsigned char)o.buf[at] & 0xc0) == 0x80)
			at--;
		memcpy(o.buf + at, "...", 4);
		o.len = at + 3;
	}
	return o.len;
}
#pragma GCC diagnostic pop

size_t sc_log_format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = sc_log_vformat(buf, size, errno, fmt, ap);
	va_end(ap);
	return n;
}

void sc_log_error(const char *fmt, ...)
{
	int saved = errno;
	char line[SC_LOG_LINE_MAX];
	size_t n = 0, start;
	va_list ap;

	if (log_prefix[0])
		n = (size_t)snprintf(line, sizeof(line), "%s: ", log_prefix);
	start = n;
	va_start(ap, fmt);
	/* one byte kept for the newline */
	n += sc_log_vformat(line + n, sizeof(line) - n - 1, saved, fmt, ap);
	va_end(ap);
	sc_log_set_last(line + start);
	line[n++] = '\n';
	(void)fwrite(line, 1, n, stderr);
	errno = saved;
}
