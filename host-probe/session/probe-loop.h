/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sessions on an event loop: sd-event (libsystemd), one loop for one VM or
 * thousands. A watch keeps the session's descriptor and its next wake-up
 * registered with the loop, and calls @done once, when the session ends.
 */
#pragma once

#include <systemd/sd-event.h>

#include "probe-session.h"

struct probe_watch;
typedef void (*probe_watch_done_t)(struct probe_session *s, void *userdata);

/* Returns 0 with *ret, or a negative errno. The session must outlive the watch. */
int probe_watch_new(sd_event *e, struct probe_session *s, probe_watch_done_t done, void *userdata,
		    struct probe_watch **ret);
/* Re-read what the session waits for, after the owner changed it (stop, attach). */
void probe_watch_update(struct probe_watch *w);
struct probe_watch *probe_watch_free(struct probe_watch *w);

static inline void probe_watch_freep(struct probe_watch **w)
{
	if (*w)
		probe_watch_free(*w);
}
#define _cleanup_watch_ __attribute__((cleanup(probe_watch_freep)))

static inline void probe_sd_event_unrefp(sd_event **e)
{
	if (*e)
		sd_event_unref(*e);
}
#define _cleanup_event_ __attribute__((cleanup(probe_sd_event_unrefp)))

static inline void probe_sd_event_source_unrefp(sd_event_source **s)
{
	if (*s)
		sd_event_source_disable_unref(*s);
}
#define _cleanup_event_source_ __attribute__((cleanup(probe_sd_event_source_unrefp)))
