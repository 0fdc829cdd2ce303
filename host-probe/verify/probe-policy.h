/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's policy: which composefs digests a VM may run and whether
 * Secure Boot must be enforcing. Without a digest policy the probe refuses
 * to judge (docs/threat-model.md): any digest with passing checks is not a
 * seal the host chose.
 *
 * A policy file ("sealcheck.policy.v1", docs/policy.md) maps VM names or
 * UUIDs to the digests they may run:
 *
 *   {"schema": "sealcheck.policy.v1",
 *    "vms": {"web-01": {"digests": ["sha512:<hex>", "<hex>"], "secure_boot": true}}}
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sc-digest.h"

#define PROBE_POLICY_FILE_MAX (4u << 20)
#define PROBE_POLICY_MAX_VMS 100000
#define PROBE_POLICY_MAX_DIGESTS 16
#define PROBE_POLICY_SCHEMA "sealcheck.policy.v1"

struct probe_policy {
	struct sc_digest allowed[PROBE_POLICY_MAX_DIGESTS];
	unsigned n_allowed;       /* 0: no digest policy: the probe refuses */
	bool require_secure_boot; /* user or deployed mode */
	char source[160];         /* where the digests came from, for the verdict */
};

void probe_policy_init(struct probe_policy *p);
/* Add one allowed digest ("<hex>" or "sha256:<hex>"/"sha512:<hex>"). 0, -EINVAL, -EMSGSIZE or -E2BIG. */
int probe_policy_allow(struct probe_policy *p, const char *text);

/*
 * probe_policy_key_match() - does the policy key @key name the VM @vm_name
 * with UUID @vm_uuid (either may be NULL)? A key shaped like a UUID
 * (8-4-4-4-12 hex digits, RFC 9562 section 4) matches only the VM's UUID,
 * exactly, never its name: a socket named like another VM's UUID does not get
 * that VM's entry. Any other key matches only the name, exactly. UUID keys are
 * lowercase, as libvirt formats UUIDs (src/util/viruuid.c, virUUIDFormat):
 * probe_policy_parse() refuses an uppercase one. Returns 2 (by UUID), 1 (by
 * name) or 0.
 */
int probe_policy_key_match(const char *key, const char *vm_name, const char *vm_uuid);
/* Is @key shaped like a UUID (either case)? */
bool probe_policy_key_is_uuid(const char *key);

/*
 * probe_policy_parse() - the entry of a policy document for the VM named
 * @vm_name or with UUID @vm_uuid (either may be NULL), by
 * probe_policy_key_match(); a UUID's entry wins over the name's. The whole document is
 * checked strictly (unknown keys, duplicate keys, caps). Returns 0, -ENOENT
 * when the document has no entry for the VM, or -EINVAL; @why says which.
 */
int probe_policy_parse(const char *buf, size_t len, const char *vm_name, const char *vm_uuid,
		       struct probe_policy *ret, char *why, size_t why_size);
/* The same from a file (capped at PROBE_POLICY_FILE_MAX). */
int probe_policy_load(const char *path, const char *vm_name, const char *vm_uuid, struct probe_policy *ret,
		      char *why, size_t why_size);

/*
 * probe_policy_check() - the failed links of a validated report: an array
 * of {"link", "reason"}, empty when the report meets the policy. Every check
 * the verdict requires (sc_required_checks()) must pass; the guest's own
 * verdict field is never read. NULL on ENOMEM.
 */
json_t *probe_policy_check(const struct probe_policy *p, json_t *report);
