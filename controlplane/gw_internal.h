/* Internal to the worker's gateway client: the outbox of metrics frames awaiting the gateway's ack.
 *
 * Frames are kept in memory up to a byte limit, then appended to an unlinked spill file (tmpfile()) and read
 * back in order as acks free memory, so a long gateway outage costs disk, not RAM, and loses nothing.  Only
 * frames in memory are ever on the wire; after a reconnect every unacknowledged one is sent again. */
#ifndef CM_CONTROLPLANE_GW_INTERNAL_H
#define CM_CONTROLPLANE_GW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GW_OUTBOX_MEM_DEFAULT (4u * 1024u * 1024u)

struct gw_out_frame {
	struct gw_out_frame *next;
	uint64_t seq;
	bool sent;
	size_t len;
	uint8_t data[]; /* the whole frame, length prefix included */
};

struct gw_outbox {
	struct gw_out_frame *head, *tail;
	size_t mem_bytes, mem_limit;
	FILE *spill;
	long spill_read, spill_write; /* byte offsets */
	uint64_t spilled_frames;      /* frames in the file not yet read back */
	uint64_t next_seq;
	uint64_t queued, acked, resent, spilled_total, refused;
};

void gw_outbox_init(struct gw_outbox *o, size_t mem_limit);
void gw_outbox_free(struct gw_outbox *o);
/* Takes a finished frame whose seq is o->next_seq (the caller encoded it); 0 or negative errno. */
int gw_outbox_push(struct gw_outbox *o, const uint8_t *frame, size_t len);
/* Removes the frame with this seq; true if it was held. */
bool gw_outbox_ack(struct gw_outbox *o, uint64_t seq);
/* After a reconnect: every frame counts as unsent again. */
void gw_outbox_rewind(struct gw_outbox *o);
/* Frames held (memory + spill file). */
uint64_t gw_outbox_pending(const struct gw_outbox *o);

#endif
