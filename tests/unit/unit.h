/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every cmocka unit test includes. cmocka's asserts survive NDEBUG. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#define STR_AND_LEN(s) (s), strlen(s)
