/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How the sealcheck command says things: the human report and the JSON one. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "sc-checks.h"

/* Colour only on a terminal, never with NO_COLOR set or TERM=dumb. */
bool cli_use_color(FILE *f);

/* The human report: one line per check, the facts behind it, a verdict line. */
struct sc_bootc_deployment;
/* The checks, the booted deployment (@d: NULL or not present, no line) and the verdict. */
void cli_print_human(FILE *f, const struct sc_report *rep, const struct sc_bootc_deployment *d, bool color);
