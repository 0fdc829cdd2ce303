/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fleet's bookkeeping without guests: VM names from outside (socket file
 * names), the sorted table, the policy resolved per VM from one parsed
 * document, listeners. Rounds against guests: tests/fleet/test_watch.py.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe-fleet.h"
#include "sc-macro.h"

#define D1 "22ea8a75c80babb6f41301c8392a306b1654884fe6807e655117e8f4ca07eb5708d0a49a84fd285ad13d4fc71706571dc4eed0dbd5b2811b4afa95b6464a2dc9"
#define D2 "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed"

static bool ok(const char *s)
{
	return probe_fleet_name_valid(s, strlen(s));
}

static void test_names(void **state)
{
	char big[PROBE_FLEET_NAME_MAX + 2];

	(void)state;
	assert_true(ok("web-01"));
	assert_true(ok("a"));
	assert_true(ok("caf\xc3\xa9"));	      /* UTF-8 */
	assert_true(ok("x\xe2\x80\xae" "y")); /* a bidi override is printable text: escaped on terminals, refused nowhere */
	assert_true(ok("..."));
	assert_false(ok(""));
	assert_false(ok("."));
	assert_false(ok(".."));
	assert_false(ok("a/b"));
	assert_false(ok("bad\x1b[2J"));
	assert_false(ok("tab\there"));
	assert_false(ok("new\nline"));
	assert_false(ok("del\x7f"));
	assert_false(ok("c1\xc2\x9b" "2J")); /* the 8-bit CSI */
	assert_false(ok("c1\xc2\x85"));	    /* NEL */
	assert_false(ok("bad\xff"));	    /* not UTF-8 */
	assert_false(ok("\xc3"));	    /* truncated */
	assert_false(ok("\xc0\xaf"));	    /* overlong '/' */
	assert_false(probe_fleet_name_valid("nul\0x", 5));
	memset(big, 'x', sizeof(big));
	assert_true(probe_fleet_name_valid(big, PROBE_FLEET_NAME_MAX));
	assert_false(probe_fleet_name_valid(big, PROBE_FLEET_NAME_MAX + 1));
	/* The phase is a fixed function of the name: the same across runs and machines. */
	assert_int_equal(probe_fleet_hash(""), 2166136261u);
	assert_int_equal(probe_fleet_hash("a"), 0xe40c292cu);
}

struct seen {
	unsigned added, removed;
	char last[64];
};

static void listener(struct probe_fleet *f, const struct probe_fleet_vm *vm, unsigned what, void *userdata)
{
	struct seen *s = userdata;

	(void)f;
	if (what & PROBE_FLEET_ADDED)
		s->added++;
	if (what & PROBE_FLEET_REMOVED)
		s->removed++;
	if (vm)
		snprintf(s->last, sizeof(s->last), "%s", vm->name);
}

static struct probe_fleet *fleet(sd_event **e)
{
	struct probe_fleet_config cfg = { .interval_ms = 10000 };
	struct probe_fleet *f = NULL;

	assert_int_equal(sd_event_new(e), 0);
	{
		/* TPM state the fleet could not verify is refused outright. */
		struct probe_fleet_config bad = { .state_dir = "/var/lib/sealcheck" };

		assert_int_equal(probe_fleet_new(*e, &bad, &f), -EINVAL);
	}
	assert_int_equal(probe_fleet_new(*e, &cfg, &f), 0);
	assert_int_equal(probe_fleet_get_config(f)->timeout_ms, 10000);
	assert_int_equal(probe_fleet_get_config(f)->stale_ms, 30000);
	return f;
}

static void test_table(void **state)
{
	sd_event *e = NULL;
	struct probe_fleet *f = fleet(&e);
	struct seen seen = { 0 };
	char name[32], path[64], toolong[200];

	(void)state;
	assert_int_equal(probe_fleet_add_listener(f, listener, &seen), 0);
	/* Out of order, and many: the table stays sorted, found by binary search. */
	for (unsigned i = 0; i < 1000; i++) {
		unsigned k = (i * 7919u) % 1000u;

		snprintf(name, sizeof(name), "vm-%04u", k);
		snprintf(path, sizeof(path), "/run/vms/%s.sock", name);
		assert_int_equal(probe_fleet_add_vm(f, name, NULL, path, PROBE_FLEET_SOCKET_DIR), 1);
	}
	assert_int_equal(seen.added, 1000);
	assert_int_equal(probe_fleet_n_vms(f), 1000);
	for (size_t i = 1; i < probe_fleet_n_vms(f); i++)
		assert_true(strcmp(probe_fleet_vm_at(f, i - 1)->name, probe_fleet_vm_at(f, i)->name) < 0);
	assert_null(probe_fleet_vm_at(f, 1000));
	assert_non_null(probe_fleet_find(f, "vm-0500"));
	assert_null(probe_fleet_find(f, "vm-1000"));
	/* A fresh VM: no verdict yet, not up, not stale. */
	{
		const struct probe_fleet_vm *vm = probe_fleet_find(f, "vm-0007");

		assert_false(vm->judged);
		assert_int_equal(vm->outcome, PROBE_NO_REPORT);
		assert_false(vm->up);
		assert_false(vm->stale);
		assert_string_equal(vm->socket_path, "/run/vms/vm-0007.sock");
		assert_string_equal(vm->uuid, "");
	}
	/* The same name again from its source updates it; from another source it is refused. */
	assert_int_equal(probe_fleet_add_vm(f, "vm-0007", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "/run/other.sock",
					    PROBE_FLEET_SOCKET_DIR),
			 0);
	assert_string_equal(probe_fleet_find(f, "vm-0007")->socket_path, "/run/other.sock");
	assert_string_equal(probe_fleet_find(f, "vm-0007")->uuid, "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
	assert_int_equal(probe_fleet_add_vm(f, "vm-0007", NULL, "/x.sock", PROBE_FLEET_LIBVIRT), -EEXIST);
	assert_null(probe_fleet_find(f, "vm-0007")); /* a collision: neither is watched (test_collision) */
	assert_int_equal(probe_fleet_remove_vm_source(f, "vm-0007", PROBE_FLEET_LIBVIRT), 0);
	assert_string_equal(probe_fleet_find(f, "vm-0007")->socket_path, "/run/other.sock");
	/* Refused: names, UUIDs, paths a socket address cannot hold. */
	assert_int_equal(probe_fleet_add_vm(f, "a/b", NULL, "/x.sock", PROBE_FLEET_LIBVIRT), -EINVAL);
	assert_int_equal(probe_fleet_add_vm(f, "esc\x1b", NULL, "/x.sock", PROBE_FLEET_LIBVIRT), -EINVAL);
	assert_int_equal(probe_fleet_add_vm(f, "u", "0123456789012345678901234567890123456", "/x.sock",
					    PROBE_FLEET_LIBVIRT),
			 -EINVAL);
	memset(toolong, 'p', sizeof(toolong) - 1);
	toolong[0] = '/';
	toolong[sizeof(toolong) - 1] = '\0';
	assert_int_equal(probe_fleet_add_vm(f, "long", NULL, toolong, PROBE_FLEET_LIBVIRT), -ENAMETOOLONG);
	assert_int_equal(probe_fleet_n_vms(f), 1000);
	/* A source removes only its own VMs: a libvirt domain going away never drops a socket's VM of that name. */
	assert_int_equal(probe_fleet_remove_vm_source(f, "vm-0007", PROBE_FLEET_LIBVIRT), -ENOENT);
	assert_non_null(probe_fleet_find(f, "vm-0007"));
	assert_int_equal(probe_fleet_remove_vm_source(f, "vm-0008", PROBE_FLEET_SOCKET_DIR), 0);
	assert_null(probe_fleet_find(f, "vm-0008"));
	assert_int_equal(probe_fleet_add_vm(f, "vm-0008", NULL, "/run/vms/vm-0008.sock", PROBE_FLEET_SOCKET_DIR), 1);
	/* Removal keeps the order. */
	assert_int_equal(probe_fleet_remove_vm(f, "vm-0000"), 0);
	assert_int_equal(probe_fleet_remove_vm(f, "vm-0999"), 0);
	assert_int_equal(probe_fleet_remove_vm(f, "vm-0500"), 0);
	assert_int_equal(probe_fleet_remove_vm(f, "vm-0500"), -ENOENT);
	assert_int_equal(seen.removed, 5); /* the collision took vm-0007 out once */
	assert_string_equal(seen.last, "vm-0500");
	assert_int_equal(probe_fleet_n_vms(f), 997);
	assert_string_equal(probe_fleet_vm_at(f, 0)->name, "vm-0001");
	assert_string_equal(probe_fleet_vm_at(f, 996)->name, "vm-0998");
	for (size_t i = 1; i < probe_fleet_n_vms(f); i++)
		assert_true(strcmp(probe_fleet_vm_at(f, i - 1)->name, probe_fleet_vm_at(f, i)->name) < 0);
	probe_fleet_free(f);
	sd_event_unref(e);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* The policy document is parsed once and resolved per VM: by UUID first, then by name; no entry allows nothing. */
static void test_policy(void **state)
{
	sd_event *e = NULL;
	struct probe_fleet *f = fleet(&e);
	char dir[] = "/tmp/test-fleet-XXXXXX", path[64], why[300];
	const struct probe_fleet_vm *a, *b, *c;
	struct probe_policy fixed;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	write_file(path, "{\"schema\": \"sealcheck.policy.v1\", \"vms\": {"
			 "\"web\": {\"digests\": [\"sha512:" D1 "\"]},"
			 "\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\": {\"digests\": [\"" D2 "\"], \"secure_boot\": false}}}");
	assert_int_equal(probe_fleet_add_vm(f, "web", NULL, "/r/web.sock", PROBE_FLEET_LIBVIRT), 1);
	assert_int_equal(probe_fleet_add_vm(f, "db", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "/r/db.sock",
					    PROBE_FLEET_LIBVIRT),
			 1);
	assert_int_equal(probe_fleet_load_policy(f, path, why, sizeof(why)), 0);
	assert_int_equal(probe_fleet_add_vm(f, "stranger", NULL, "/r/s.sock", PROBE_FLEET_LIBVIRT), 1);
	a = probe_fleet_find(f, "web");
	b = probe_fleet_find(f, "db");
	c = probe_fleet_find(f, "stranger");
	assert_int_equal(a->policy->n_allowed, 1);
	assert_true(a->policy->require_secure_boot);
	assert_int_equal(b->policy->n_allowed, 1); /* by its UUID */
	assert_false(b->policy->require_secure_boot);
	assert_int_equal(b->policy->allowed[0].bytes[0], 0x5e);
	assert_int_equal(c->policy->n_allowed, 0); /* no entry: nothing allowed, NOT SEALED by policy:digest */
	assert_non_null(strstr(c->policy->source, "no entry"));

	/* A broken file is refused whole and the policy in use stays. */
	write_file(path, "{\"schema\": \"sealcheck.policy.v1\", \"vms\": {\"web\": {\"digests\": []}}}");
	assert_true(probe_fleet_load_policy(f, path, why, sizeof(why)) < 0);
	assert_non_null(strstr(why, path));
	assert_int_equal(probe_fleet_find(f, "web")->policy->n_allowed, 1);
	snprintf(why, sizeof(why), "-");
	assert_true(probe_fleet_load_policy(f, "/nonexistent/policy.json", why, sizeof(why)) < 0);
	assert_non_null(strstr(why, "/nonexistent/policy.json"));

	/* A fixed policy (--expect-digest) replaces it for every VM. */
	probe_policy_init(&fixed);
	assert_int_equal(probe_policy_allow(&fixed, D2), 0);
	probe_fleet_set_policy(f, &fixed);
	assert_int_equal(probe_fleet_find(f, "stranger")->policy->n_allowed, 1);
	assert_int_equal(probe_fleet_find(f, "web")->policy->allowed[0].bytes[0], 0x5e);

	unlink(path);
	rmdir(dir);
	probe_fleet_free(f);
	sd_event_unref(e);
}

#define U1 "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

/* A key shaped like a UUID names a VM by its UUID only: a socket named like a domain's UUID gets no entry. */
static void test_policy_uuid_keys(void **state)
{
	sd_event *e = NULL;
	struct probe_fleet *f = fleet(&e);
	char dir[] = "/tmp/test-fleet-XXXXXX", path[64], why[300];

	(void)state;
	assert_int_equal(probe_policy_key_match(U1, U1, NULL), 0);
	assert_int_equal(probe_policy_key_match(U1, "x", U1), 2);
	assert_int_equal(probe_policy_key_match("web", "web", U1), 1);
	assert_int_equal(probe_policy_key_match("web", "webx", NULL), 0);
	assert_int_equal(probe_policy_key_match("1B4E28BA-2FA1-11D2-883F-0016D3CCA427", NULL, U1), 0);
	assert_true(probe_policy_key_is_uuid("1B4E28BA-2FA1-11D2-883F-0016D3CCA427"));
	assert_false(probe_policy_key_is_uuid(U1 "0"));
	assert_false(probe_policy_key_is_uuid("1b4e28ba+2fa1-11d2-883f-0016d3cca427"));
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	write_file(path, "{\"schema\": \"sealcheck.policy.v1\", \"vms\": {"
			 "\"" U1 "\": {\"digests\": [\"" D2 "\"]}}}");
	assert_int_equal(probe_fleet_load_policy(f, path, why, sizeof(why)), 0);
	/* The socket directory's VM named like the domain's UUID, and the domain itself. */
	assert_int_equal(probe_fleet_add_vm(f, U1, NULL, "/r/u.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_int_equal(probe_fleet_add_vm(f, "db", U1, "/r/db.sock", PROBE_FLEET_LIBVIRT), 1);
	assert_int_equal(probe_fleet_find(f, U1)->policy->n_allowed, 0);
	assert_non_null(strstr(probe_fleet_find(f, U1)->policy->source, "no entry"));
	assert_int_equal(probe_fleet_find(f, "db")->policy->n_allowed, 1);
	/* attest's lookup is the same rule. */
	{
		struct probe_policy p;

		assert_int_equal(probe_policy_load(path, U1, NULL, &p, why, sizeof(why)), -ENOENT);
		assert_int_equal(probe_policy_load(path, "db", U1, &p, why, sizeof(why)), 0);
	}
	/* An uppercase UUID key would match nothing libvirt names: refused with the file. */
	write_file(path, "{\"schema\": \"sealcheck.policy.v1\", \"vms\": {"
			 "\"1B4E28BA-2FA1-11D2-883F-0016D3CCA427\": {\"digests\": [\"" D2 "\"]}}}");
	assert_int_equal(probe_fleet_load_policy(f, path, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "uppercase"));
	unlink(path);
	rmdir(dir);
	probe_fleet_free(f);
	sd_event_unref(e);
}

static const struct probe_fleet_lost *lost_of(struct probe_fleet *f, const char *name, enum probe_fleet_source src)
{
	for (size_t i = 0; i < probe_fleet_n_lost(f); i++)
		if (probe_fleet_lost_at(f, i)->source == src && strcmp(probe_fleet_lost_at(f, i)->name, name) == 0)
			return probe_fleet_lost_at(f, i);
	return NULL;
}

struct lost_seen {
	unsigned lost, removed;
};

static void lost_listener(struct probe_fleet *f, const struct probe_fleet_vm *vm, unsigned what, void *userdata)
{
	struct lost_seen *s = userdata;

	(void)f;
	(void)vm;
	s->removed += !!(what & PROBE_FLEET_REMOVED);
	s->lost += !!(what & PROBE_FLEET_LOST);
}

/* A VM that leaves without its owner stopping it stays visible; a stopped one leaves no record. */
static void test_lost(void **state)
{
	sd_event *e = NULL;
	struct probe_fleet *f = fleet(&e);
	struct lost_seen seen = { 0 };

	(void)state;
	assert_int_equal(probe_fleet_add_listener(f, lost_listener, &seen), 0);
	assert_int_equal(probe_fleet_add_vm(f, "web", NULL, "/r/web.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_int_equal(probe_fleet_add_vm(f, "dom", U1, "/r/dom.sock", PROBE_FLEET_LIBVIRT), 1);
	assert_int_equal(probe_fleet_lose_vm(f, "web", PROBE_FLEET_SOCKET_DIR, PROBE_FLEET_LOST_SOCKET_REPLACED), 0);
	assert_int_equal(seen.lost, 1);
	assert_null(probe_fleet_find(f, "web"));
	assert_int_equal(probe_fleet_n_lost(f), 1);
	assert_int_equal(lost_of(f, "web", PROBE_FLEET_SOCKET_DIR)->reason, PROBE_FLEET_LOST_SOCKET_REPLACED);
	assert_string_equal(probe_fleet_loss_name(PROBE_FLEET_LOST_SOCKET_REPLACED), "socket-replaced");
	/* Only its own source's VM: libvirt cannot lose the socket directory's, nor the other way. */
	assert_int_equal(probe_fleet_lose_vm(f, "dom", PROBE_FLEET_SOCKET_DIR, PROBE_FLEET_LOST_SOCKET_REMOVED), -ENOENT);
	assert_int_equal(probe_fleet_remove_vm_source(f, "dom", PROBE_FLEET_SOCKET_DIR), -ENOENT);
	assert_int_equal(probe_fleet_lose_vm(f, "dom", PROBE_FLEET_LIBVIRT, _PROBE_FLEET_LOST_MAX), -EINVAL);
	/* Stopped by its owner: gone, no record. */
	assert_int_equal(probe_fleet_remove_vm_source(f, "dom", PROBE_FLEET_LIBVIRT), 0);
	assert_int_equal(seen.lost, 1);
	assert_int_equal(probe_fleet_n_lost(f), 1);
	/* Back again: the record goes. */
	assert_int_equal(probe_fleet_add_vm(f, "web", NULL, "/r/web.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_int_equal(probe_fleet_n_lost(f), 0);
	/* Lost again for another reason: one record, the newest. */
	assert_int_equal(probe_fleet_lose_vm(f, "web", PROBE_FLEET_SOCKET_DIR, PROBE_FLEET_LOST_SOCKET_REMOVED), 0);
	assert_int_equal(probe_fleet_n_lost(f), 1);
	/* At most PROBE_FLEET_LOST_MAX records: the oldest goes first. */
	for (int i = 0; i < PROBE_FLEET_LOST_MAX + 5; i++) {
		char name[32];

		snprintf(name, sizeof(name), "vm-%05d", i);
		assert_int_equal(probe_fleet_add_vm(f, name, NULL, "/r/x.sock", PROBE_FLEET_SOCKET_DIR), 1);
		assert_int_equal(probe_fleet_lose_vm(f, name, PROBE_FLEET_SOCKET_DIR, PROBE_FLEET_LOST_DIR_REMOVED), 0);
	}
	assert_int_equal(probe_fleet_n_lost(f), PROBE_FLEET_LOST_MAX);
	assert_null(lost_of(f, "web", PROBE_FLEET_SOCKET_DIR));
	assert_string_equal(probe_fleet_lost_at(f, 0)->name, "vm-00005");
	probe_fleet_free(f);
	sd_event_unref(e);
}

/* A name two sources offer is watched from neither, loudly, and the one left is watched again when the other goes. */
static void test_collision(void **state)
{
	sd_event *e = NULL;
	struct probe_fleet *f = fleet(&e);

	(void)state;
	/* The socket directory is scanned first (as at every start), then libvirt offers its domain. */
	assert_int_equal(probe_fleet_add_vm(f, "web-01", NULL, "/r/web-01.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_int_equal(probe_fleet_add_vm(f, "web-01", U1, "/lv/web-01.sock", PROBE_FLEET_LIBVIRT), -EEXIST);
	assert_int_equal(probe_fleet_set_vm_tpm(f, "web-01", PROBE_FLEET_LIBVIRT, true), 0);
	assert_null(probe_fleet_find(f, "web-01"));
	assert_int_equal(lost_of(f, "web-01", PROBE_FLEET_SOCKET_DIR)->reason, PROBE_FLEET_LOST_COLLISION);
	assert_int_equal(lost_of(f, "web-01", PROBE_FLEET_LIBVIRT)->reason, PROBE_FLEET_LOST_COLLISION);
	assert_string_equal(lost_of(f, "web-01", PROBE_FLEET_LIBVIRT)->uuid, U1);
	/* Offered again (a rescan, a reconnect): still neither. */
	assert_int_equal(probe_fleet_add_vm(f, "web-01", NULL, "/r/web-01.sock", PROBE_FLEET_SOCKET_DIR), -EEXIST);
	assert_int_equal(probe_fleet_add_vm(f, "web-01", U1, "/lv/web-01.sock", PROBE_FLEET_LIBVIRT), -EEXIST);
	assert_null(probe_fleet_find(f, "web-01"));
	/* The socket goes: the domain is watched, with its UUID, path and TPM word; only the socket's record stays. */
	assert_int_equal(probe_fleet_lose_vm(f, "web-01", PROBE_FLEET_SOCKET_DIR, PROBE_FLEET_LOST_SOCKET_REMOVED), 0);
	assert_non_null(probe_fleet_find(f, "web-01"));
	assert_int_equal(probe_fleet_find(f, "web-01")->source, PROBE_FLEET_LIBVIRT);
	assert_string_equal(probe_fleet_find(f, "web-01")->uuid, U1);
	assert_string_equal(probe_fleet_find(f, "web-01")->socket_path, "/lv/web-01.sock");
	assert_true(probe_fleet_find(f, "web-01")->tpm_source);
	assert_null(lost_of(f, "web-01", PROBE_FLEET_LIBVIRT));
	assert_int_equal(lost_of(f, "web-01", PROBE_FLEET_SOCKET_DIR)->reason, PROBE_FLEET_LOST_SOCKET_REMOVED);
	/* The socket is back: a collision again; then the domain is stopped: the socket's VM is watched. */
	assert_int_equal(probe_fleet_add_vm(f, "web-01", NULL, "/r/web-01.sock", PROBE_FLEET_SOCKET_DIR), -EEXIST);
	assert_null(probe_fleet_find(f, "web-01"));
	assert_int_equal(probe_fleet_remove_vm_source(f, "web-01", PROBE_FLEET_LIBVIRT), 0);
	assert_int_equal(probe_fleet_find(f, "web-01")->source, PROBE_FLEET_SOCKET_DIR);
	assert_int_equal(probe_fleet_n_lost(f), 0);

	/* Another directory's socket of a colliding name never takes the first one's offer over. */
	assert_int_equal(probe_fleet_add_vm(f, "web-01", U1, "/lv/web-01.sock", PROBE_FLEET_LIBVIRT), -EEXIST);
	assert_int_equal(probe_fleet_add_vm(f, "web-01", NULL, "/other/web-01.sock", PROBE_FLEET_SOCKET_DIR), -EEXIST);
	assert_string_equal(probe_fleet_find_offer(f, "web-01", PROBE_FLEET_SOCKET_DIR)->socket_path, "/r/web-01.sock");
	/* A stop of another domain of that name (another UUID) does not withdraw this domain's offer... */
	assert_string_equal(probe_fleet_find_offer(f, "web-01", PROBE_FLEET_LIBVIRT)->uuid, U1);
	/* ...and a collision stays visible past the day a lost record is kept, while it stands. */
	((struct probe_fleet_lost *)probe_fleet_lost_at(f, 0))->mono_ms -= PROBE_FLEET_LOST_KEEP_MS + 1;
	((struct probe_fleet_lost *)probe_fleet_lost_at(f, 1))->mono_ms -= PROBE_FLEET_LOST_KEEP_MS + 1;
	assert_int_equal(probe_fleet_n_lost(f), 2);
	assert_int_equal(probe_fleet_remove_vm_source(f, "web-01", PROBE_FLEET_LIBVIRT), 0);
	assert_string_equal(probe_fleet_find(f, "web-01")->socket_path, "/r/web-01.sock");
	probe_fleet_free(f);
	sd_event_unref(e);
}

/* A name a source holds, offered again with another UUID: another VM (the old one vanished), never the old one's state. */
static void test_uuid_reused(void **state)
{
	sd_event *e = NULL;
	struct probe_fleet *f = fleet(&e);
	const struct probe_fleet_vm *vm;

	(void)state;
	assert_int_equal(probe_fleet_add_vm(f, "web", U1, "/lv/web.sock", PROBE_FLEET_LIBVIRT), 1);
	((struct probe_fleet_vm *)probe_fleet_find(f, "web"))->judged = true;
	((struct probe_fleet_vm *)probe_fleet_find(f, "web"))->outcome = PROBE_SEALED;
	/* The same UUID again: the same VM, kept. */
	assert_int_equal(probe_fleet_add_vm(f, "web", U1, "/lv/web.sock", PROBE_FLEET_LIBVIRT), 0);
	assert_true(probe_fleet_find(f, "web")->judged);
	/* Another UUID: added anew, the old one lost as vanished. */
	assert_int_equal(probe_fleet_add_vm(f, "web", "2c5f39cb-3fb2-42e3-994f-1127e4ddb538", "/lv/web2.sock",
					    PROBE_FLEET_LIBVIRT),
			 1);
	vm = probe_fleet_find(f, "web");
	assert_false(vm->judged);
	assert_int_equal(vm->outcome, PROBE_NO_REPORT);
	assert_string_equal(vm->uuid, "2c5f39cb-3fb2-42e3-994f-1127e4ddb538");
	assert_int_equal(probe_fleet_n_lost(f), 1);
	assert_int_equal(probe_fleet_lost_at(f, 0)->reason, PROBE_FLEET_LOST_VANISHED);
	assert_string_equal(probe_fleet_lost_at(f, 0)->uuid, U1);
	probe_fleet_free(f);
	sd_event_unref(e);
}

/* The kept connections' budget (probe-fleet.h): RLIMIT_NOFILE - (64 + limit / 8), never below 0. */
static void test_fd_budget(void **state)
{
	assert_int_equal(probe_fleet_kept_max(0), 0);
	assert_int_equal(probe_fleet_kept_max(PROBE_FLEET_FD_RESERVE), 0);
	assert_int_equal(probe_fleet_kept_max(72), 0);	  /* 64 + 9 = 73 > 72 */
	assert_int_equal(probe_fleet_kept_max(160), 76);  /* the low-nofile case of tests/fleet/test_fd_faults.py */
	assert_int_equal(probe_fleet_kept_max(1024), 832); /* a shell's default soft limit */
	/* The unit's LimitNOFILE=131072 keeps a connection for every VM the fleet takes. */
	assert_true(probe_fleet_kept_max(131072) >= PROBE_FLEET_MAX_VMS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_policy_uuid_keys),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_collision),
		cmocka_unit_test(test_uuid_reused),
		cmocka_unit_test(test_fd_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
