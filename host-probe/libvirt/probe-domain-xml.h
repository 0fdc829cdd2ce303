/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt domain XML: read the attestation channel out of a live domain's
 * XML, and write the domain `run --libvirt` defines (docs/libvirt.md).
 *
 * Reading: the XML is outside data (libvirtd's, but a domain's name and
 * device values are whatever its owner wrote), so it is size-capped before
 * libxml2 sees it, parsed without network access, entity substitution or DTD
 * loading, and a document with a DOCTYPE is refused outright (libvirt never
 * writes one; an internal subset is where entity expansion attacks live).
 * The channel is a `<channel type='unix'>` with `<target type='virtio'
 * name='PORT'/>`; its `<source mode='bind' path='...'/>` is the socket QEMU
 * listens on. The path must be absolute, fit a sockaddr_un, and hold no
 * control character and no "." or ".." component; anything else is refused.
 *
 * Writing: libxml2's writer, so every value is XML-escaped; values are also
 * checked first (UTF-8 without control characters), so nothing a caller
 * passes can change the document's structure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "probe-workdir.h"

#define PROBE_DOMAIN_NS "urn:x-sealcheck:libvirt:1" /* <metadata><sealcheck:run xmlns:sealcheck=...> */

#define PROBE_DOMAIN_XML_MAX (4u << 20)  /* live domain XML is a few KiB; refuse more than this */
#define PROBE_DOMAIN_PATH_MAX 108        /* sizeof(sockaddr_un.sun_path), with its NUL */
#define PROBE_DOMAIN_NAME_MAX 256
#define PROBE_DOMAIN_UUID_LEN 36

enum probe_channel_state {
	PROBE_CHANNEL_STATE_UNKNOWN = 0, /* no state attribute (inactive XML) */
	PROBE_CHANNEL_STATE_CONNECTED,   /* the guest opened its end of the port */
	PROBE_CHANNEL_STATE_DISCONNECTED,
};

struct probe_domain_channel {
	char name[PROBE_DOMAIN_NAME_MAX];      /* <name>, "" when absent or unusable */
	char uuid[PROBE_DOMAIN_UUID_LEN + 1];  /* <uuid>, "" when absent or not a UUID */
	char path[PROBE_DOMAIN_PATH_MAX];      /* the channel's socket */
	enum probe_channel_state state;
	bool tpm; /* the domain has a <tpm> device (libvirt's swtpm): its evidence is required */
};

/*
 * probe_domain_xml_channel() - find the unix channel for virtio port @port
 * in the domain XML @xml (@len bytes, no NUL needed).
 * Returns 1 with *ret filled, 0 when the domain has no such channel (*ret
 * holds name and uuid), or a negative errno with @why: -EMSGSIZE more than
 * PROBE_DOMAIN_XML_MAX, -EBADMSG not well-formed XML, not a <domain> or
 * with a DOCTYPE, -ENOTUNIQ two channels for @port, -EPROTONOSUPPORT the
 * channel is not mode='bind', -EINVAL its path is missing or refused.
 */
int probe_domain_xml_channel(const char *xml, size_t len, const char *port, struct probe_domain_channel *ret,
			     char *why, size_t why_size);

/* True for a path probe_domain_xml_channel() accepts: absolute, short, UTF-8 without C0 or C1 controls, no . or .. */
bool probe_domain_path_ok(const char *path);

/* What `run --libvirt` defines: a domain as `bcvk libvirt run` makes one, for a sealed image. */
struct probe_domain_spec {
	const char *name;            /* required */
	const char *uuid;            /* NULL: libvirt picks one */
	bool kvm;                    /* <domain type='kvm'> with the host CPU, else 'qemu' (TCG) with qemu64,-cx16 */
	unsigned memory_mib;         /* 0: 1024 */
	const char *loader;          /* OVMF code, read-only pflash; NULL: no UEFI (not supported by run --libvirt) */
	bool secure;                 /* Secure Boot code: secure='yes' and SMM on */
	const char *nvram_template;  /* the variable store libvirt copies for this domain (the enrolled one) */
	const char *esp;             /* the ESP, read-only, first to boot */
	const char *root;            /* the root disk, read-only */
	const char *console_socket;  /* the serial console connects here (the probe listens); NULL: none */
	const char *port;            /* the attestation port's name */
	bool tpm;                    /* <tpm model='tpm-tis'> with libvirt's swtpm (emulator, 2.0) */
	unsigned uid, gid;           /* QEMU runs as this user (the probe's) and nothing is relabelled */
	bool qemu_user_default;      /* instead: QEMU as libvirt's own user (qemu.conf `user`, libvirt-qemu), no
				      * domain <seclabel>; the disks' files keep their owner (per-disk DAC relabel='no') */
	const char *metadata_image;  /* the image directory, recorded in <metadata> (or NULL) */
	const struct probe_owner *owner; /* <sealcheck:owner boot_id= pidns= pid= start=/> in <metadata>; NULL: none (--keep) */
};

/*
 * probe_domain_xml_build() - the domain XML for @spec, malloc'd in *ret.
 * Returns 0, -EINVAL with @why when a value is not UTF-8 without control
 * characters (or a path not absolute), or -ENOMEM.
 */
int probe_domain_xml_build(const struct probe_domain_spec *spec, char **ret, char *why, size_t why_size);

/*
 * probe_domain_xml_owner() - the probe that defined the domain, from its
 * <metadata><sealcheck:run><sealcheck:owner boot_id= pidns= pid= start=/> (what
 * probe_domain_xml_build() writes for a run without --keep), parsed as strictly
 * as a work directory's owner record. Returns 1 with *ret, 0 when the domain
 * names no owner, or -EMSGSIZE / -EBADMSG with @why (as probe_domain_xml_channel()),
 * -EBADMSG also for an owner element that is malformed.
 */
int probe_domain_xml_owner(const char *xml, size_t len, struct probe_owner *ret, char *why, size_t why_size);
