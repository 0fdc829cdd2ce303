/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Schema-strict parsing of a sealcheck.report.v1 document received from a
 * guest. The guest is not trusted: size, NUL bytes, UTF-8, duplicate keys,
 * depth, unknown and missing fields and every type are checked before the
 * report is looked at.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#define SC_REPORT_MAX_DEPTH 12

/*
 * sc_report_validate() - parse and check @len bytes.
 * Returns 0 with the document in *ret (caller json_decref()s), or -EBADMSG
 * with the reason in @why.
 */
int sc_report_validate(const char *data, size_t len, json_t **ret, char *why, size_t why_size);
