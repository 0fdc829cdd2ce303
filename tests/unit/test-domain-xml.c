/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt domain XML: the channel read out of real `virsh dumpxml` output
 * (libvirt 9.0, captured on this project's machine, tests/fuzz/corpus/domain-xml)
 * and hostile edits of it; the domain run --libvirt writes, escaped.
 */
#include "unit.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>

#include "probe-domain-xml.h"

#define PORT "org.sealcheck.attest.0"
#define LIVE_PATH "/var/lib/libvirt/qemu/channel/target/domain-3-sealcheck-try1/" PORT

static char *fixture(const char *name)
{
	struct blob b = unit_fixture("domain-xml", name);

	return (char *)b.p;
}

/* @xml with the first @from replaced by @to (a hostile edit of a real capture). */
static char *edit(const char *xml, const char *from, const char *to)
{
	const char *at = strstr(xml, from);
	char *out;

	assert_non_null(at);
	out = malloc(strlen(xml) - strlen(from) + strlen(to) + 1);
	assert_non_null(out);
	memcpy(out, xml, (size_t)(at - xml));
	strcpy(out + (at - xml), to);
	strcat(out, at + strlen(from));
	return out;
}

static int channel(const char *xml, struct probe_domain_channel *ch)
{
	char why[256] = "";
	int r = probe_domain_xml_channel(xml, strlen(xml), PORT, ch, why, sizeof(why));

	/* Every refusal says why. */
	if (r < 0)
		assert_true(why[0] != '\0');
	return r;
}

static void live_disconnected(void **state)
{
	char *xml = fixture("live-channel-disconnected.xml");
	struct probe_domain_channel ch;

	(void)state;
	assert_int_equal(channel(xml, &ch), 1);
	assert_string_equal(ch.path, LIVE_PATH);
	assert_string_equal(ch.name, "sealcheck-try1");
	assert_int_equal(strlen(ch.uuid), 36);
	assert_int_equal(ch.state, PROBE_CHANNEL_STATE_DISCONNECTED);
	free(xml);
}

static void live_connected(void **state)
{
	char *xml = fixture("live-channel-connected.xml");
	struct probe_domain_channel ch;

	(void)state;
	assert_int_equal(channel(xml, &ch), 1);
	assert_string_equal(ch.path, LIVE_PATH);
	assert_int_equal(ch.state, PROBE_CHANNEL_STATE_CONNECTED);
	assert_false(ch.tpm); /* no <tpm>: the VM's reports may be self-reported */
	free(xml);
}

static void no_channel(void **state)
{
	char *xml = fixture("live-no-channel.xml");
	struct probe_domain_channel ch;

	(void)state;
	assert_int_equal(channel(xml, &ch), 0);
	assert_string_equal(ch.name, "sealcheck-try3");
	free(xml);
}

static void other_port_name(void **state)
{
	char *xml = fixture("live-channel-disconnected.xml");
	char *other = edit(xml, "name='" PORT "'", "name='org.sealcheck.attest.1'");
	struct probe_domain_channel ch;

	(void)state;
	assert_int_equal(channel(other, &ch), 0);
	free(other);
	/* A non-virtio target of the same name is not the port either. */
	other = edit(xml, "<target type='virtio' name='" PORT "'", "<target type='guestfwd' name='" PORT "'");
	assert_int_equal(channel(other, &ch), 0);
	free(other);
	free(xml);
}

static void two_channels(void **state)
{
	char *xml = fixture("live-two-channels-tpm.xml");
	char *dup;
	struct probe_domain_channel ch;

	(void)state;
	/* The guest agent's channel comes first; ours is the second. */
	assert_int_equal(channel(xml, &ch), 1);
	assert_string_equal(ch.path, "/var/lib/libvirt/qemu/channel/target/domain-4-sealcheck-try2/" PORT);
	assert_string_equal(ch.name, "sealcheck-try2");
	/* Two channels claiming the port: which one is the VM's? Refused. */
	dup = edit(xml, "name='org.qemu.guest_agent.0'", "name='" PORT "'");
	assert_int_equal(channel(dup, &ch), -ENOTUNIQ);
	free(dup);
	free(xml);
}

static void inactive(void **state)
{
	char *xml = fixture("inactive-two-channels-tpm.xml");
	struct probe_domain_channel ch;

	(void)state;
	/* Defined, not running: the channel is there, its path is not yet. */
	assert_int_equal(channel(xml, &ch), -EINVAL);
	free(xml);
}

static void hostile_paths(void **state)
{
	static const struct {
		const char *path;
		int want;
	} cases[] = {
		{ "/run/x&#10;PASS  secure_boot", -EINVAL },  /* a newline (a character reference survives parsing) */
		{ "/run/x&#13;y", -EINVAL },
		{ "/run/x&#9;y", -EINVAL },
		{ "/run/x&#x1b;[2Jy", -EBADMSG },             /* ESC: not an XML 1.0 character */
		{ "/run/x&#x7f;y", -EINVAL },
		{ "/run/x&#x9b;2Jy", -EINVAL },               /* C1 CSI */
		{ "/run/x&#1;y", -EBADMSG },                  /* not even an XML 1.0 character */
		{ "relative/org.sealcheck.attest.0", -EINVAL },
		{ "org.sealcheck.attest.0", -EINVAL },
		{ "", -EINVAL },
		{ "/var/lib/libvirt/../../etc/shadow", -EINVAL },
		{ "/var/lib/./x", -EINVAL },
		{ "/var/lib/x/..", -EINVAL },
		{ "/var/lib/..x/ok...", 1 },                  /* dots inside names are fine */
		{ "/run/with space &amp; &lt;angle&gt; &apos;quotes&quot;", 1 },
		{ "/run/caf\xc3\xa9.sock", 1 },
		/* 108 bytes: no room for sun_path's NUL. */
		{ "/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  -EINVAL },
		{ "/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  1 },
	};
	char *xml = fixture("live-channel-disconnected.xml");

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char attr[400];
		char *bad;
		struct probe_domain_channel ch;
		int r;

		snprintf(attr, sizeof(attr), "path='%s'", cases[i].path);
		bad = edit(xml, "path='" LIVE_PATH "'", attr);
		r = channel(bad, &ch);
		if (r != cases[i].want)
			fail_msg("path '%s': %d, want %d", cases[i].path, r, cases[i].want);
		if (r == 1)
			assert_true(ch.path[0] == '/');
		else
			assert_string_equal(ch.path, "");
		free(bad);
	}
	free(xml);
}

static void hostile_shapes(void **state)
{
	char *xml = fixture("live-channel-disconnected.xml");
	struct probe_domain_channel ch;
	static const struct {
		const char *from, *to;
		int want;
	} cases[] = {
		/* QEMU connects out instead of listening: not a socket the probe may connect to. */
		{ "<source mode='bind'", "<source mode='connect'", -EPROTONOSUPPORT },
		{ "<channel type='unix'>", "<channel type='pty'>", -EPROTONOSUPPORT },
		{ "<source mode='bind' path=", "<source mode='bind'/><source mode='bind' path=", -EINVAL },
		{ "<source mode='bind' path=", "<source mode='bind' nopath=", -EINVAL },
		{ "<domain type='qemu' id='3'>", "<domain xmlns='urn:other' type='qemu' id='3'>", -EBADMSG },
		{ "<domain type='qemu' id='3'>", "<!DOCTYPE domain [<!ENTITY a 'b'>]><domain type='qemu' id='3'>", -EBADMSG },
		{ "<domain type='qemu' id='3'>", "<!DOCTYPE domain SYSTEM 'http://example.invalid/d.dtd'><domain type='qemu' id='3'>",
		  -EBADMSG },
		{ "</domain>", "</domain><domain/>", -EBADMSG },
		{ "</domain>", "", -EBADMSG },
		{ "<uuid>", "<uuid>not-", 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *bad = edit(xml, cases[i].from, cases[i].to);
		int r = channel(bad, &ch);

		if (r != cases[i].want)
			fail_msg("case %zu (%s): %d, want %d", i, cases[i].to, r, cases[i].want);
		free(bad);
	}
	/* A channel in another namespace is not libvirt's. */
	{
		char *a = edit(xml, "<channel type='unix'>", "<x:channel xmlns:x='urn:x' type='unix'>");
		char *b = edit(a, "</channel>", "</x:channel>");

		assert_int_equal(channel(b, &ch), 0);
		free(a);
		free(b);
	}
	/* A UUID that is not one is not passed on. */
	{
		char *bad = edit(xml, "<uuid>", "<uuid>not-");

		assert_int_equal(channel(bad, &ch), 1);
		assert_string_equal(ch.uuid, "");
		free(bad);
	}
	/* A name with a C1 CSI is not passed on either (the API's name is used, escaped). */
	{
		char *bad = edit(xml, "<name>sealcheck-try1</name>", "<name>evil&#x9b;2J</name>");

		assert_int_equal(channel(bad, &ch), 1);
		assert_string_equal(ch.name, "");
		free(bad);
	}
	free(xml);
}

static void billion_laughs(void **state)
{
	const char *xml = "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'>"
			  "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>"
			  "<!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'><!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'>]>"
			  "<domain><name>&e;</name><devices><channel type='unix'><source mode='bind' path='/x&e;'/>"
			  "<target type='virtio' name='org.sealcheck.attest.0'/></channel></devices></domain>";
	const char *xxe = "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
			  "<domain><name>&x;</name></domain>";
	struct probe_domain_channel ch;

	(void)state;
	assert_int_equal(channel(xml, &ch), -EBADMSG);
	assert_int_equal(channel(xxe, &ch), -EBADMSG);
	assert_string_equal(ch.name, "");
}

static void size_cap(void **state)
{
	char *xml = fixture("live-channel-disconnected.xml");
	size_t len = PROBE_DOMAIN_XML_MAX + 1;
	char *big = malloc(len);
	struct probe_domain_channel ch;
	char why[256];

	(void)state;
	assert_non_null(big);
	/* The real document, padded with whitespace past the cap: refused before parsing. */
	memset(big, ' ', len);
	memcpy(big, xml, strlen(xml));
	assert_int_equal(probe_domain_xml_channel(big, len, PORT, &ch, why, sizeof(why)), -EMSGSIZE);
	assert_int_equal(probe_domain_xml_channel(big, PROBE_DOMAIN_XML_MAX, PORT, &ch, why, sizeof(why)), 1);
	assert_int_equal(probe_domain_xml_channel("", 0, PORT, &ch, why, sizeof(why)), -EBADMSG);
	free(big);
	free(xml);
}

/* The live XML of the domain run --libvirt --tpm defined (libvirt filled in the rest). */
static void run_libvirt_domain(void **state)
{
	char *xml = fixture("live-run-libvirt-tpm.xml");
	struct probe_domain_channel ch;

	(void)state;
	assert_int_equal(channel(xml, &ch), 1);
	assert_string_equal(ch.path, "/var/lib/libvirt/qemu/channel/target/domain-2-sealcheck-vm-image-e/" PORT);
	assert_string_equal(ch.name, "sealcheck-vm-image-ece36a7c");
	assert_int_equal(ch.state, PROBE_CHANNEL_STATE_CONNECTED);
	assert_true(ch.tpm); /* its <tpm model='tpm-tis'> emulator: watch requires its evidence */
	free(xml);
}

/* The corpus's hostile seeds are refused, each for its reason. */
static void corpus_hostile(void **state)
{
	char *xml = fixture("hostile-path-controls.xml");
	struct probe_domain_channel ch;

	(void)state;
	assert_int_equal(channel(xml, &ch), -EINVAL);
	free(xml);
	xml = fixture("hostile-doctype-entities.xml");
	assert_int_equal(channel(xml, &ch), -EBADMSG);
	free(xml);
}

static struct probe_domain_spec spec(void)
{
	return (struct probe_domain_spec){
		.name = "sealcheck-demo-0123abcd",
		.loader = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
		.secure = true,
		.nvram_template = "/img/vars.fd",
		.esp = "/img/esp.img",
		.root = "/img/root.img",
		.console_socket = "/tmp/sealcheck-probe.x/console.sock",
		.port = PORT,
		.metadata_image = "/img",
	};
}

/* The text of the one element @name anywhere in @doc, via libxml2 (not our reader). */
static char *only_text(xmlDocPtr doc, const char *name, int *count)
{
	xmlNode *stack[64];
	int top = 0;
	char *found = NULL;

	*count = 0;
	stack[top++] = xmlDocGetRootElement(doc);
	while (top) {
		xmlNode *n = stack[--top];

		for (; n; n = n->next) {
			if (n->type != XML_ELEMENT_NODE)
				continue;
			if (xmlStrcmp(n->name, BAD_CAST name) == 0) {
				(*count)++;
				free(found);
				found = (char *)xmlNodeGetContent(n);
			}
			if (n->children && top < 64)
				stack[top++] = n->children;
		}
	}
	return found;
}

static void build_bcvk_shape(void **state)
{
	struct probe_domain_spec s = spec();
	char why[256] = "";
	char *xml = NULL;
	struct probe_domain_channel ch;

	(void)state;
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), 0);
	/* What bcvk libvirt run writes, and what this machine needs (TCG: qemu64 without cx16). */
	assert_non_null(strstr(xml, "<domain type=\"qemu\">"));
	assert_non_null(strstr(xml, "machine=\"q35\""));
	assert_non_null(strstr(xml, "<loader readonly=\"yes\" secure=\"yes\" type=\"pflash\">"
				    "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader>"));
	assert_non_null(strstr(xml, "<nvram template=\"/img/vars.fd\"/>"));
	assert_non_null(strstr(xml, "<smm state=\"on\"/>"));
	assert_non_null(strstr(xml, "<model fallback=\"forbid\">qemu64</model>"));
	assert_non_null(strstr(xml, "<feature policy=\"disable\" name=\"cx16\"/>"));
	assert_non_null(strstr(xml, "<target type=\"virtio\" name=\"" PORT "\"/>"));
	assert_non_null(strstr(xml, "<source mode=\"connect\" path=\"/tmp/sealcheck-probe.x/console.sock\"/>"));
	assert_non_null(strstr(xml, "<seclabel type=\"static\" model=\"dac\" relabel=\"no\">"));
	assert_null(strstr(xml, "<interface"));
	assert_null(strstr(xml, "<tpm"));
	/* Our own reader finds the channel, with no path yet: libvirt picks it when the domain starts. */
	assert_int_equal(probe_domain_xml_channel(xml, strlen(xml), PORT, &ch, why, sizeof(why)), -EINVAL);
	assert_string_equal(ch.name, "sealcheck-demo-0123abcd");
	free(xml);

	s.tpm = true;
	s.kvm = true;
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), 0);
	assert_non_null(strstr(xml, "<tpm model=\"tpm-tis\">"));
	assert_non_null(strstr(xml, "<backend type=\"emulator\" version=\"2.0\"/>"));
	assert_non_null(strstr(xml, "<domain type=\"kvm\">"));
	assert_non_null(strstr(xml, "<cpu mode=\"host-passthrough\"/>"));
	free(xml);
}

static void build_escapes(void **state)
{
	/* Values that would end an attribute or an element, or open one, if pasted in. */
	const char *evil = "x'\"</name><devices><interface type='user'/></devices><name>&amp;";
	const char *evil_path = "/img/a'b\"c<d>e&f/root.img";
	struct probe_domain_spec s = spec();
	char why[256];
	char *xml = NULL, *text;
	xmlDocPtr doc;
	int n;

	(void)state;
	s.name = evil;
	s.root = evil_path;
	s.metadata_image = evil;
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), 0);
	doc = xmlReadMemory(xml, (int)strlen(xml), "t.xml", NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	text = only_text(doc, "name", &n);
	assert_int_equal(n, 1);
	assert_string_equal(text, evil);
	free(text);
	text = only_text(doc, "interface", &n);
	assert_int_equal(n, 0);
	free(text);
	text = only_text(doc, "devices", &n);
	assert_int_equal(n, 1);
	free(text);
	text = only_text(doc, "image", &n);
	assert_int_equal(n, 1);
	assert_string_equal(text, evil);
	free(text);
	xmlFreeDoc(doc);
	assert_non_null(strstr(xml, "file=\"/img/a'b&quot;c&lt;d&gt;e&amp;f/root.img\""));
	free(xml);
}

static void build_refuses(void **state)
{
	static const char *const bad_names[] = {
		"a\nb", "a\rb", "a\tb", "a\x1b[2Jb", "a\x7f", "a\xc2\x9b\x32J", "a\xff", "a\xc0\xaf", "a\xed\xa0\x80", "",
	};
	struct probe_domain_spec s;
	char why[256];
	char *xml = (char *)"untouched";

	(void)state;
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		s = spec();
		s.name = bad_names[i];
		assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), -EINVAL);
		assert_null(xml);
		s = spec();
		s.esp = bad_names[i][0] ? bad_names[i] : "/";
		if (bad_names[i][0])
			assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), -EINVAL);
	}
	s = spec();
	s.root = "img/root.img"; /* relative: libvirtd's working directory is not the probe's */
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), -EINVAL);
	s = spec();
	s.uuid = "not-a-uuid";
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), -EINVAL);
	s = spec();
	s.name = NULL;
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), -EINVAL);
	s = spec();
	s.console_socket = "/tmp/../console.sock";
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), -EINVAL);
	s = spec();
	s.uuid = "0a1b2c3d-0000-4000-8000-00000000abcd";
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), 0);
	assert_non_null(strstr(xml, "<uuid>0a1b2c3d-0000-4000-8000-00000000abcd</uuid>"));
	free(xml);
}

/* As root: QEMU as libvirt's own user (no domain <seclabel>), the image's files left as they are. */
static void build_qemu_user(void **state)
{
	struct probe_domain_spec s = spec();
	char why[256], *xml = NULL;
	xmlDocPtr doc;
	xmlNode *root;
	unsigned disks = 0;

	(void)state;
	s.qemu_user_default = true;
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), 0);
	doc = xmlReadMemory(xml, (int)strlen(xml), "x.xml", NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	root = xmlDocGetRootElement(doc);
	for (xmlNode *c = root->children; c; c = c->next)
		assert_false(c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST "seclabel") == 0);
	for (xmlNode *dev = root->children; dev; dev = dev->next) {
		if (dev->type != XML_ELEMENT_NODE || xmlStrcmp(dev->name, BAD_CAST "devices") != 0)
			continue;
		for (xmlNode *d = dev->children; d; d = d->next) {
			if (d->type != XML_ELEMENT_NODE || xmlStrcmp(d->name, BAD_CAST "disk") != 0)
				continue;
			for (xmlNode *src = d->children; src; src = src->next) {
				xmlNode *l;

				if (src->type != XML_ELEMENT_NODE || xmlStrcmp(src->name, BAD_CAST "source") != 0)
					continue;
				for (l = src->children; l && l->type != XML_ELEMENT_NODE; l = l->next)
					;
				if (!l)
					fail_msg("a disk's <source> has no <seclabel>");
				else {
					xmlChar *model = xmlGetProp(l, BAD_CAST "model"), *relabel = xmlGetProp(l, BAD_CAST "relabel");

					assert_string_equal((const char *)l->name, "seclabel");
					assert_string_equal((const char *)model, "dac");
					assert_string_equal((const char *)relabel, "no");
					xmlFree(model);
					xmlFree(relabel);
					disks++;
				}
			}
		}
	}
	assert_int_equal(disks, 2);
	xmlFreeDoc(doc);
	free(xml);
	/* The default (a user's probe): QEMU as that user, one static label for the domain. */
	s.qemu_user_default = false;
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), 0);
	assert_non_null(strstr(xml, "<seclabel type=\"static\" model=\"dac\" relabel=\"no\">"));
	assert_null(strstr(xml, "<source file=\"/img/esp.img\"><seclabel"));
	free(xml);
}

/* The owner run --libvirt records (unless --keep), read back strictly; none, or a malformed one, is not an owner. */
static void owner(void **state)
{
	struct probe_domain_spec s = spec();
	struct probe_owner o = { .boot_id = "0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11", .pid_ns = 4026531836, .pid = 4242,
				 .start = 123456789 },
			   back;
	char why[256], *xml = NULL, *bad;

	(void)state;
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), 0);
	assert_int_equal(probe_domain_xml_owner(xml, strlen(xml), &back, why, sizeof(why)), 0);
	free(xml);
	s.owner = &o;
	assert_int_equal(probe_domain_xml_build(&s, &xml, why, sizeof(why)), 0);
	assert_non_null(strstr(xml, "<sealcheck:owner boot_id=\"0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11\" "
				    "pidns=\"4026531836\" pid=\"4242\" start=\"123456789\"/>"));
	assert_int_equal(probe_domain_xml_owner(xml, strlen(xml), &back, why, sizeof(why)), 1);
	assert_string_equal(back.boot_id, o.boot_id);
	assert_int_equal(back.pid, 4242);
	assert_true(back.start == 123456789);
	assert_true(back.pid_ns == 4026531836ULL);
	/* As libvirt hands it back (its own prefix for our namespace): still ours. */
	bad = edit(xml, "sealcheck:owner", "x:owner xmlns:x=\"" PROBE_DOMAIN_NS "\"");
	assert_int_equal(probe_domain_xml_owner(bad, strlen(bad), &back, why, sizeof(why)), 1);
	free(bad);
	/* Another namespace: not an owner of ours. */
	bad = edit(xml, "sealcheck:owner", "x:owner xmlns:x=\"urn:someone-else\"");
	assert_int_equal(probe_domain_xml_owner(bad, strlen(bad), &back, why, sizeof(why)), 0);
	free(bad);
	bad = edit(xml, "pid=\"4242\"", "pid=\"04242\"");
	assert_int_equal(probe_domain_xml_owner(bad, strlen(bad), &back, why, sizeof(why)), -EBADMSG);
	free(bad);
	bad = edit(xml, "pid=\"4242\"", "pid=\"4242\n\"");
	assert_int_equal(probe_domain_xml_owner(bad, strlen(bad), &back, why, sizeof(why)), -EBADMSG);
	free(bad);
	bad = edit(xml, " start=\"123456789\"", "");
	assert_int_equal(probe_domain_xml_owner(bad, strlen(bad), &back, why, sizeof(why)), -EBADMSG);
	free(bad);
	/* Two owners: none is trusted (never reaped). */
	bad = edit(xml, "<sealcheck:owner", "<sealcheck:owner boot_id=\"x\"/><sealcheck:owner");
	assert_int_equal(probe_domain_xml_owner(bad, strlen(bad), &back, why, sizeof(why)), 0);
	free(bad);
	free(xml);
	/* libvirt 9.0's inactive XML of a domain run --libvirt --tpm defined (virsh dumpxml --inactive). */
	xml = fixture("inactive-run-libvirt-owner.xml");
	assert_int_equal(probe_domain_xml_owner(xml, strlen(xml), &back, why, sizeof(why)), 1);
	assert_string_equal(back.boot_id, "29dc6af4-480b-4596-8a38-b6830dbbcedb");
	assert_true(back.pid_ns == 4026531836ULL);
	assert_int_equal(back.pid, 1929);
	assert_true(back.start == 2274867);
	free(xml);
	/* The captures of domains defined by hand name no owner. */
	xml = fixture("live-run-libvirt-tpm.xml");
	assert_int_equal(probe_domain_xml_owner(xml, strlen(xml), &back, why, sizeof(why)), 0);
	free(xml);
	xml = fixture("hostile-doctype-entities.xml");
	assert_int_equal(probe_domain_xml_owner(xml, strlen(xml), &back, why, sizeof(why)), -EBADMSG);
	free(xml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(live_disconnected), cmocka_unit_test(live_connected),
		cmocka_unit_test(no_channel),        cmocka_unit_test(other_port_name),
		cmocka_unit_test(two_channels),      cmocka_unit_test(inactive),
		cmocka_unit_test(hostile_paths),     cmocka_unit_test(hostile_shapes),
		cmocka_unit_test(billion_laughs),    cmocka_unit_test(size_cap),
		cmocka_unit_test(build_bcvk_shape),  cmocka_unit_test(build_escapes),
		cmocka_unit_test(build_refuses),     cmocka_unit_test(run_libvirt_domain),
		cmocka_unit_test(corpus_hostile),    cmocka_unit_test(owner),
		cmocka_unit_test(build_qemu_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
