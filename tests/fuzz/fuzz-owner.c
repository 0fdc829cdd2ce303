/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The owner of a work directory or of a libvirt domain (probe-workdir.h):
 * the text record, and the <sealcheck:owner> a domain's XML carries. A
 * record either parses (and then formats back to exactly its bytes) or is
 * refused; the XML reader never accepts an owner the record parser would not.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#if HAVE_LIBVIRT
#include "probe-domain-xml.h"
#endif
#include "probe-workdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_owner o;
	char rec[PROBE_OWNER_MAX + 1], why[256];
	int r;

	if (probe_owner_parse((const char *)data, size, &o) == 0) {
		if (probe_owner_format(&o, rec, sizeof(rec)) < 0 || strlen(rec) != size || memcmp(rec, data, size) != 0)
			abort();
	}
#if HAVE_LIBVIRT
	r = probe_domain_xml_owner((const char *)data, size, &o, why, sizeof(why));
	if (r == 1) {
		if (probe_owner_format(&o, rec, sizeof(rec)) < 0 || probe_owner_parse(rec, strlen(rec), &o) < 0)
			abort();
	} else if (r < 0 && !why[0])
		abort();
#else
	(void)r;
	(void)why;
#endif
	return 0;
}
