/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "probe-domain-xml.h"
#include "sc-macro.h"
#include "sc-why.h"

static void xml_docp(xmlDocPtr *d)
{
	if (*d)
		xmlFreeDoc(*d);
}

static void xml_charp(xmlChar **s)
{
	if (*s)
		xmlFree(*s);
}
#define _cleanup_xmlchar_ _cleanup_(xml_charp)

/* An element in no namespace (libvirt's own elements have none) named @name. */
static bool is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !n->ns && xmlStrcmp(n->name, BAD_CAST name) == 0;
}

static bool prop_is(xmlNode *n, const char *attr, const char *value)
{
	_cleanup_xmlchar_ xmlChar *v = xmlGetNoNsProp(n, BAD_CAST attr);

	return v && xmlStrcmp(v, BAD_CAST value) == 0;
}

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF) without control characters. */
static bool value_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned n, cp;

		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 1, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			n = 2, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			n = 3, cp = *p & 0x07;
		else
			return false;
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
			return false;
		p += n + 1;
	}
	return true;
}

bool probe_domain_path_ok(const char *p)
{
	const char *c;

	if (!p || p[0] != '/' || strlen(p) >= PROBE_DOMAIN_PATH_MAX || !value_ok(p))
		return false;
	/* No "." or ".." component: the path names the socket and nothing above it. */
	for (c = p; *c; ) {
		size_t n;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
	}
	return true;
}

static bool uuid_ok(const char *s)
{
	if (strlen(s) != PROBE_DOMAIN_UUID_LEN)
		return false;
	for (int i = 0; i < PROBE_DOMAIN_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	}
	return true;
}

/* The text of the first <@elem> child of @parent into @buf when it fits and is clean, else "". */
static void child_text(xmlNode *parent, const char *elem, char *buf, size_t size)
{
	buf[0] = '\0';
	for (xmlNode *n = parent->children; n; n = n->next) {
		_cleanup_xmlchar_ xmlChar *t = NULL;

		if (!is_elem(n, elem))
			continue;
		t = xmlNodeGetContent(n);
		if (t && xmlStrlen(t) < (int)size && value_ok((const char *)t))
			snprintf(buf, size, "%s", (const char *)t);
		return;
	}
}

/* The one child element @name of @n; NULL when there is none, *many when there are more. */
static xmlNode *only_child(xmlNode *n, const char *name, bool *many)
{
	xmlNode *found = NULL;

	for (xmlNode *c = n->children; c; c = c->next)
		if (is_elem(c, name)) {
			if (found)
				*many = true;
			else
				found = c;
		}
	return found;
}

static bool is_port_channel(xmlNode *ch, const char *port, bool *many_targets)
{
	xmlNode *target;

	if (!is_elem(ch, "channel"))
		return false;
	target = only_child(ch, "target", many_targets);
	return target && prop_is(target, "type", "virtio") && prop_is(target, "name", port);
}

/* The domain XML read as outside data: capped, no network, no entities, no DOCTYPE, a <domain> root. */
static int read_domain(const char *xml, size_t len, xmlDocPtr *ret_doc, xmlNode **ret_root, char *why, size_t why_size)
{
	xmlDocPtr doc;
	xmlNode *root;

	if (len > PROBE_DOMAIN_XML_MAX)
		return sc_why(-EMSGSIZE, why, why_size, "the domain XML is %zu bytes, more than %u", len,
		              PROBE_DOMAIN_XML_MAX);
	/*
	 * No XML_PARSE_NOENT (entity substitution), DTDLOAD, DTDATTR or HUGE;
	 * no network; quiet (the caller says what went wrong, escaped).
	 */
	doc = xmlReadMemory(xml, (int)len, "domain.xml", "UTF-8",
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
	if (!doc)
		return sc_why(-EBADMSG, why, why_size, "the domain XML is not well-formed");
	*ret_doc = doc;
	if (doc->intSubset || doc->extSubset)
		return sc_why(-EBADMSG, why, why_size, "the domain XML has a DOCTYPE (libvirt writes none)");
	root = xmlDocGetRootElement(doc);
	if (!root || !is_elem(root, "domain"))
		return sc_why(-EBADMSG, why, why_size, "the document is not a <domain>");
	*ret_root = root;
	return 0;
}

int probe_domain_xml_channel(const char *xml, size_t len, const char *port, struct probe_domain_channel *ret,
			     char *why, size_t why_size)
{
	_cleanup_(xml_docp) xmlDocPtr doc = NULL;
	xmlNode *root = NULL, *found = NULL, *source, *target;
	_cleanup_xmlchar_ xmlChar *path = NULL, *state = NULL, *type = NULL;
	bool many = false;
	unsigned n_found = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = read_domain(xml, len, &doc, &root, why, why_size);
	if (r < 0)
		return r;
	child_text(root, "name", ret->name, sizeof(ret->name));
	child_text(root, "uuid", ret->uuid, sizeof(ret->uuid));
	if (!uuid_ok(ret->uuid))
		ret->uuid[0] = '\0';

	for (xmlNode *dev = root->children; dev; dev = dev->next) {
		if (!is_elem(dev, "devices"))
			continue;
		for (xmlNode *ch = dev->children; ch; ch = ch->next) {
			bool many_targets = false;

			if (is_elem(ch, "tpm"))
				ret->tpm = true;

			if (is_port_channel(ch, port, &many_targets)) {
				n_found++;
				if (!found)
					found = ch;
			}
			if (many_targets && ch == found)
				return sc_why(-EINVAL, why, why_size, "the channel for %s has more than one <target>",
				              port);
		}
	}
	if (!found)
		return 0;
	if (n_found > 1)
		return sc_why(-ENOTUNIQ, why, why_size, "%u channels for the port %s", n_found, port);
	type = xmlGetNoNsProp(found, BAD_CAST "type");
	if (!type || xmlStrcmp(type, BAD_CAST "unix") != 0)
		return sc_why(-EPROTONOSUPPORT, why, why_size, "the channel for %s is not type='unix'", port);
	source = only_child(found, "source", &many);
	if (!source || many)
		return sc_why(-EINVAL, why, why_size, "the channel for %s has %s <source>", port,
		              many ? "more than one" : "no");
	if (!prop_is(source, "mode", "bind"))
		return sc_why(-EPROTONOSUPPORT, why, why_size, "the channel for %s is not mode='bind' (QEMU must listen)",
		              port);
	path = xmlGetNoNsProp(source, BAD_CAST "path");
	if (!path)
		return sc_why(-EINVAL, why, why_size, "the channel for %s has no socket path (an inactive domain?)",
		              port);
	if (!probe_domain_path_ok((const char *)path))
		return sc_why(-EINVAL, why, why_size, "the channel's socket path is refused (not absolute, longer than %u bytes, a control "
				"character, or a . or .. component)",
		              PROBE_DOMAIN_PATH_MAX - 1);
	snprintf(ret->path, sizeof(ret->path), "%s", (const char *)path);
	target = only_child(found, "target", &many);
	state = target ? xmlGetNoNsProp(target, BAD_CAST "state") : NULL;
	ret->state = !state ? PROBE_CHANNEL_STATE_UNKNOWN
		   : xmlStrcmp(state, BAD_CAST "connected") == 0 ? PROBE_CHANNEL_STATE_CONNECTED
								  : PROBE_CHANNEL_STATE_DISCONNECTED;
	return 1;
}

/* The element @local in the namespace PROBE_DOMAIN_NS among @parent's children, the only one; NULL otherwise. */
static xmlNode *ns_child(xmlNode *parent, const char *local)
{
	xmlNode *found = NULL;

	for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || !c->ns || !c->ns->href ||
		    xmlStrcmp(c->ns->href, BAD_CAST PROBE_DOMAIN_NS) != 0 || xmlStrcmp(c->name, BAD_CAST local) != 0)
			continue;
		if (found)
			return NULL;
		found = c;
	}
	return found;
}

int probe_domain_xml_owner(const char *xml, size_t len, struct probe_owner *ret, char *why, size_t why_size)
{
	_cleanup_(xml_docp) xmlDocPtr doc = NULL;
	_cleanup_xmlchar_ xmlChar *boot = NULL, *ns = NULL, *pid = NULL, *start = NULL;
	xmlNode *root = NULL, *metadata = NULL, *owner;
	char rec[PROBE_OWNER_MAX + 1];
	int r, n;

	memset(ret, 0, sizeof(*ret));
	r = read_domain(xml, len, &doc, &root, why, why_size);
	if (r < 0)
		return r;
	for (xmlNode *c = root->children; c; c = c->next)
		if (is_elem(c, "metadata")) {
			if (metadata)
				return sc_why(-EBADMSG, why, why_size, "more than one <metadata>");
			metadata = c;
		}
	owner = ns_child(ns_child(metadata, "run"), "owner");
	if (!owner)
		return 0;
	boot = xmlGetNoNsProp(owner, BAD_CAST "boot_id");
	ns = xmlGetNoNsProp(owner, BAD_CAST "pidns");
	pid = xmlGetNoNsProp(owner, BAD_CAST "pid");
	start = xmlGetNoNsProp(owner, BAD_CAST "start");
	if (!boot || !ns || !pid || !start)
		return sc_why(-EBADMSG, why, why_size, "the owner lacks boot_id, pidns, pid or start");
	/* The same strict record as a work directory's owner file (probe-workdir.h). */
	n = snprintf(rec, sizeof(rec), "sealcheck-probe owner v1 boot_id=%s pidns=%s pid=%s start=%s\n",
		     (const char *)boot, (const char *)ns, (const char *)pid, (const char *)start);
	if (n < 0 || (size_t)n >= sizeof(rec) || probe_owner_parse(rec, (size_t)n, ret) < 0)
		return sc_why(-EBADMSG, why, why_size, "the owner's boot_id, pidns, pid or start is malformed");
	return 1;
}

static void writerp(xmlTextWriterPtr *w)
{
	if (*w)
		xmlFreeTextWriter(*w);
}

static void bufferp(xmlBufferPtr *b)
{
	if (*b)
		xmlBufferFree(*b);
}

/* Each call of the writer returns < 0 on failure: the first one ends the build. */
#define W(call)                          \
	do {                             \
		if ((call) < 0)          \
			return -ENOMEM;  \
	} while (0)
#define X(s) BAD_CAST(s)

static int start(xmlTextWriterPtr w, const char *elem)
{
	return xmlTextWriterStartElement(w, X(elem));
}

static int attr(xmlTextWriterPtr w, const char *name, const char *value)
{
	return xmlTextWriterWriteAttribute(w, X(name), X(value));
}

static int text_elem(xmlTextWriterPtr w, const char *elem, const char *text)
{
	return xmlTextWriterWriteElement(w, X(elem), X(text));
}

static int end(xmlTextWriterPtr w)
{
	return xmlTextWriterEndElement(w);
}

/* <disk type='file' device='disk'> for a read-only raw image. */
static int write_disk(xmlTextWriterPtr w, const char *file, const char *dev, bool boot, bool keep_owner)
{
	W(start(w, "disk"));
	W(attr(w, "type", "file"));
	W(attr(w, "device", "disk"));
	W(start(w, "driver"));
	W(attr(w, "name", "qemu"));
	W(attr(w, "type", "raw"));
	W(end(w));
	W(start(w, "source"));
	W(attr(w, "file", file));
	if (keep_owner) {
		/* libvirt's DAC driver changes the owner of nothing of the image: QEMU reads it by its mode. */
		W(start(w, "seclabel"));
		W(attr(w, "model", "dac"));
		W(attr(w, "relabel", "no"));
		W(end(w));
	}
	W(end(w));
	W(start(w, "target"));
	W(attr(w, "dev", dev));
	W(attr(w, "bus", "virtio"));
	W(end(w));
	W(start(w, "readonly"));
	W(end(w));
	if (boot) {
		/* The ESP boots first (QEMU's bootindex=0), whatever else is attached. */
		W(start(w, "boot"));
		W(attr(w, "order", "1"));
		W(end(w));
	}
	return end(w);
}

static int write_domain(xmlTextWriterPtr w, const struct probe_domain_spec *s)
{
	char num[32];

	W(xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL));
	W(start(w, "domain"));
	W(attr(w, "type", s->kvm ? "kvm" : "qemu"));
	W(text_elem(w, "name", s->name));
	if (s->uuid)
		W(text_elem(w, "uuid", s->uuid));
	W(text_elem(w, "title", "sealcheck-probe run --libvirt"));
	if (s->metadata_image || s->owner) {
		W(start(w, "metadata"));
		W(xmlTextWriterStartElementNS(w, X("sealcheck"), X("run"), X(PROBE_DOMAIN_NS)));
		if (s->metadata_image)
			W(xmlTextWriterWriteElementNS(w, X("sealcheck"), X("image"), NULL, X(s->metadata_image)));
		if (s->owner) {
			W(xmlTextWriterStartElementNS(w, X("sealcheck"), X("owner"), NULL));
			W(attr(w, "boot_id", s->owner->boot_id));
			snprintf(num, sizeof(num), "%llu", s->owner->pid_ns);
			W(attr(w, "pidns", num));
			snprintf(num, sizeof(num), "%d", (int)s->owner->pid);
			W(attr(w, "pid", num));
			snprintf(num, sizeof(num), "%llu", s->owner->start);
			W(attr(w, "start", num));
			W(end(w));
		}
		W(end(w));
		W(end(w));
	}
	snprintf(num, sizeof(num), "%u", s->memory_mib ? s->memory_mib : 1024);
	W(start(w, "memory"));
	W(attr(w, "unit", "MiB"));
	W(xmlTextWriterWriteString(w, X(num)));
	W(end(w));
	W(text_elem(w, "vcpu", "1"));

	W(start(w, "os"));
	W(start(w, "type"));
	W(attr(w, "arch", "x86_64"));
	W(attr(w, "machine", "q35"));
	W(xmlTextWriterWriteString(w, X("hvm")));
	W(end(w));
	W(start(w, "loader"));
	W(attr(w, "readonly", "yes"));
	W(attr(w, "secure", s->secure ? "yes" : "no"));
	W(attr(w, "type", "pflash"));
	W(xmlTextWriterWriteString(w, X(s->loader)));
	W(end(w));
	if (s->nvram_template) {
		/* libvirt copies the template for this domain; a unique name per run means a fresh store per boot. */
		W(start(w, "nvram"));
		W(attr(w, "template", s->nvram_template));
		W(end(w));
	}
	W(end(w)); /* os */

	W(start(w, "features"));
	W(start(w, "acpi"));
	W(end(w));
	W(start(w, "apic"));
	W(end(w));
	W(start(w, "vmport"));
	W(attr(w, "state", "off"));
	W(end(w));
	if (s->secure) {
		W(start(w, "smm"));
		W(attr(w, "state", "on"));
		W(end(w));
	}
	W(end(w));

	W(start(w, "cpu"));
	if (s->kvm) {
		W(attr(w, "mode", "host-passthrough"));
	} else {
		/* QEMU 7.2's TCG mis-emulates cmpxchg16b: qemu64 without cx16 (docs/libvirt.md). */
		W(attr(w, "mode", "custom"));
		W(attr(w, "match", "exact"));
		W(attr(w, "check", "none"));
		W(start(w, "model"));
		W(attr(w, "fallback", "forbid"));
		W(xmlTextWriterWriteString(w, X("qemu64")));
		W(end(w));
		W(start(w, "feature"));
		W(attr(w, "policy", "disable"));
		W(attr(w, "name", "cx16"));
		W(end(w));
	}
	W(end(w));
	W(start(w, "clock"));
	W(attr(w, "offset", "utc"));
	W(end(w));
	/* As run's -no-reboot: a guest that reboots or crashes is stopped. */
	W(text_elem(w, "on_poweroff", "destroy"));
	W(text_elem(w, "on_reboot", "destroy"));
	W(text_elem(w, "on_crash", "destroy"));

	W(start(w, "devices"));
	W(write_disk(w, s->esp, "vda", true, s->qemu_user_default));
	W(write_disk(w, s->root, "vdb", false, s->qemu_user_default));
	/* No USB, no balloon, no NIC (no <interface> at all), no graphics. */
	W(start(w, "controller"));
	W(attr(w, "type", "usb"));
	W(attr(w, "model", "none"));
	W(end(w));
	W(start(w, "controller"));
	W(attr(w, "type", "virtio-serial"));
	W(attr(w, "index", "0"));
	W(end(w));
	W(start(w, "channel"));
	W(attr(w, "type", "unix"));
	W(start(w, "source"));
	W(attr(w, "mode", "bind"));
	W(end(w));
	W(start(w, "target"));
	W(attr(w, "type", "virtio"));
	W(attr(w, "name", s->port));
	W(end(w));
	W(end(w));
	if (s->console_socket) {
		W(start(w, "serial"));
		W(attr(w, "type", "unix"));
		W(start(w, "source"));
		W(attr(w, "mode", "connect"));
		W(attr(w, "path", s->console_socket));
		W(end(w));
		W(start(w, "target"));
		W(attr(w, "port", "0"));
		W(end(w));
		W(end(w));
	}
	if (s->tpm) {
		W(start(w, "tpm"));
		W(attr(w, "model", "tpm-tis"));
		W(start(w, "backend"));
		W(attr(w, "type", "emulator"));
		W(attr(w, "version", "2.0"));
		W(end(w));
		W(end(w));
	}
	W(start(w, "memballoon"));
	W(attr(w, "model", "none"));
	W(end(w));
	W(end(w)); /* devices */

	if (!s->qemu_user_default) {
		/* QEMU as the probe's own user, and libvirt changes no owner of the image's files. */
		snprintf(num, sizeof(num), "+%u:+%u", s->uid, s->gid);
		W(start(w, "seclabel"));
		W(attr(w, "type", "static"));
		W(attr(w, "model", "dac"));
		W(attr(w, "relabel", "no"));
		W(text_elem(w, "label", num));
		W(end(w));
	}
	W(end(w)); /* domain */
	return xmlTextWriterEndDocument(w) < 0 ? -ENOMEM : 0;
}

int probe_domain_xml_build(const struct probe_domain_spec *s, char **ret, char *why, size_t why_size)
{
	_cleanup_(bufferp) xmlBufferPtr buf = NULL;
	_cleanup_(writerp) xmlTextWriterPtr w = NULL;
	const struct {
		const char *what, *value;
		bool path, required;
	} values[] = {
		{ "the domain name", s->name, false, true },
		{ "the UUID", s->uuid, false, false },
		{ "the firmware", s->loader, true, true },
		{ "the variable store", s->nvram_template, true, false },
		{ "the ESP", s->esp, true, true },
		{ "the root disk", s->root, true, true },
		{ "the console socket", s->console_socket, true, false },
		{ "the port name", s->port, false, true },
		{ "the image directory", s->metadata_image, false, false },
	};
	int r;

	*ret = NULL;
	for (size_t i = 0; i < ELEMENTSOF(values); i++) {
		const char *v = values[i].value;

		if (!v) {
			if (values[i].required)
				return sc_why(-EINVAL, why, why_size, "%s is missing", values[i].what);
			continue;
		}
		if (!v[0] || strlen(v) > 4096 || !value_ok(v) || (values[i].path && v[0] != '/'))
			return sc_why(-EINVAL, why, why_size, "%s is not %s without control characters", values[i].what,
			              values[i].path ? "an absolute UTF-8 path" : "UTF-8");
	}
	if (s->uuid && !uuid_ok(s->uuid))
		return sc_why(-EINVAL, why, why_size, "the UUID is not one");
	/* A socket path QEMU can bind or connect: the reader's rule. */
	if (s->console_socket && !probe_domain_path_ok(s->console_socket))
		return sc_why(-EINVAL, why, why_size, "the console socket path is too long or has a . or .. component");

	buf = xmlBufferCreate();
	if (!buf)
		return -ENOMEM;
	w = xmlNewTextWriterMemory(buf, 0);
	if (!w)
		return -ENOMEM;
	if (xmlTextWriterSetIndent(w, 1) < 0 || xmlTextWriterSetIndentString(w, X("  ")) < 0)
		return -ENOMEM;
	r = write_domain(w, s);
	if (r < 0)
		return sc_why(r, why, why_size, "writing the domain XML failed");
	xmlFreeTextWriter(TAKE_PTR(w)); /* flushes into buf */
	*ret = strdup((const char *)xmlBufferContent(buf));
	return *ret ? 0 : -ENOMEM;
}
