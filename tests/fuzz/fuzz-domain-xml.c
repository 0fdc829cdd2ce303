/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt domain XML (probe-domain-xml.h): the channel reader over any
 * bytes, and the writer's escaping: whatever name it is given (that it
 * accepts), the document it writes reads back with exactly that name.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe-domain-xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_domain_channel ch;
	char why[256], name[PROBE_DOMAIN_NAME_MAX];
	char *xml = NULL;
	struct probe_domain_spec s = {
		.name = name,
		.loader = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
		.secure = true,
		.esp = "/img/esp.img",
		.root = "/img/root.img",
		.port = "org.sealcheck.attest.0",
	};
	int r;

	r = probe_domain_xml_channel((const char *)data, size, "org.sealcheck.attest.0", &ch, why, sizeof(why));
	if (r == 1 && !probe_domain_path_ok(ch.path))
		abort();
	if (r < 0 && !why[0])
		abort();

	if (size >= sizeof(name))
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	if (strlen(name) != size || probe_domain_xml_build(&s, &xml, why, sizeof(why)) < 0)
		return 0;
	/* Built: the channel is there without a path yet, and the name survived escaping intact. */
	r = probe_domain_xml_channel(xml, strlen(xml), "org.sealcheck.attest.0", &ch, why, sizeof(why));
	if (r != -EINVAL || strcmp(ch.name, name) != 0)
		abort();
	free(xml);
	return 0;
}
