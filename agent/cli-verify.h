/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "sc-checks.h"
#include "sc-verify.h"

/* Exit status: 0 every object covered, 1 some object fails the seal, 2 error or stopped early. */
int cli_verify(const struct sc_paths *paths, struct sc_verify_options *o, bool json);
