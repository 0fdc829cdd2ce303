/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck agent: attestation over a virtio-serial port. */
#pragma once

#include "sc-checks.h"

struct cli_agent_options {
	const char *port;      /* virtio-serial port name */
	const char *device;    /* a device path instead of looking the port up (tests) */
	unsigned wait_port_s;  /* how long to look for the port */
	unsigned max_answers;  /* stop after this many reports sent (0: run forever) */
	struct sc_collect_options collect; /* --verify-objects, --deep */
};

/* Returns the exit status: 0 done, 1 no port, 2 error. */
int cli_agent(const struct sc_paths *paths, const struct cli_agent_options *o);
