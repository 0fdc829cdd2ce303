/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The probe's verdict over one attestation: SEALED, NOT SEALED or NO
 * REPORT, from the session's end, the host's policy and, for a VM with a
 * TPM, the links its evidence proves (probe-evidence.h). Without TPM
 * evidence SEALED means "the guest's report, fresh, valid and checked
 * against the host's policy" (self-reported, docs/threat-model.md), and the
 * verdict says so.
 */
#pragma once

#include <jansson.h>
#include <stdio.h>

#include "probe-session.h"
#include "probe-policy.h"

enum probe_outcome {
	PROBE_SEALED = 0,   /* exit 0 */
	PROBE_UNSEALED = 1, /* exit 1 */
	PROBE_NO_REPORT = 2 /* exit 2 */
};

#define PROBE_EVIDENCE "self-reported"
#define PROBE_EVIDENCE_TPM "tpm"

struct probe_evidence_expect;

struct probe_verdict {
	enum probe_outcome outcome;
	const char *evidence; /* PROBE_EVIDENCE or PROBE_EVIDENCE_TPM (every TPM link proven) */
	json_t *tpm;      /* the TPM links (probe-evidence.h), when the VM has a TPM (owned) */
	json_t *links;    /* failed links: [{"link", "reason"}] (owned) */
	bool quote_verified; /* the quote's signature and binding verified: its counters below are the TPM's */
	uint32_t reset_count, restart_count;
	char reason[600]; /* PROBE_NO_REPORT: why */
};

const char *probe_outcome_name(enum probe_outcome o);  /* "sealed", "unsealed", "no-report" */
const char *probe_outcome_title(enum probe_outcome o); /* "SEALED", "NOT SEALED", "NO REPORT" */

/*
 * Returns 0, or -ENOMEM. @tpm: the VM has a TPM the host owns (what its
 * evidence must prove), or NULL. With a TPM, evidence is required: a report
 * without it, or with any link not proven, is NOT SEALED.
 */
int probe_verdict_decide(const struct probe_session *s, const struct probe_policy *p,
			 const struct probe_evidence_expect *tpm, struct probe_verdict *ret);

/*
 * probe_verdict_fail_unverifiable() - the VM has a TPM (its source says
 * so) but the host keeps nothing to verify its evidence with: a verdict
 * over a report fails closed, NOT SEALED with the one TPM link
 * "tpm:evidence" failed for @why, never self-reported. A verdict without a
 * report stays as it is. Out of memory makes it NO REPORT, never a verdict
 * without that link.
 */
void probe_verdict_fail_unverifiable(const struct probe_session *s, struct probe_verdict *v, const char *why);
void probe_verdict_done(struct probe_verdict *v);

/* The sealcheck.probe.v1 document (docs/sealcheck-probe.1). NULL on ENOMEM. */
json_t *probe_verdict_to_json(const struct probe_session *s, int signal, const struct probe_policy *p,
			      const struct probe_verdict *v);

/* For a person: every guest string through sc_term_escape(). */
void probe_verdict_print(FILE *f, const struct probe_session *s, const struct probe_policy *p,
			 const struct probe_verdict *v);
