/* The metrics outbox (see gw_internal.h): a FIFO of encoded frames bounded in memory, overflowing in order to
 * an unlinked temporary file.  Frames carry their own 4-byte length prefix, which is also the spill file's
 * record format. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "controlplane/gw_internal.h"

void gw_outbox_init(struct gw_outbox *o, size_t mem_limit)
{
	memset(o, 0, sizeof(*o));
	o->mem_limit = mem_limit ? mem_limit : GW_OUTBOX_MEM_DEFAULT;
	o->next_seq = 1;
}

void gw_outbox_free(struct gw_outbox *o)
{
	while (o->head) {
		struct gw_out_frame *f = o->head;
		o->head = f->next;
		free(f);
	}
	if (o->spill)
		fclose(o->spill);
	memset(o, 0, sizeof(*o));
}

static void append_mem(struct gw_outbox *o, struct gw_out_frame *f)
{
	f->next = NULL;
	if (o->tail)
		o->tail->next = f;
	else
		o->head = f;
	o->tail = f;
	o->mem_bytes += f->len;
}

static struct gw_out_frame *frame_new(uint64_t seq, const uint8_t *data, size_t len)
{
	struct gw_out_frame *f = malloc(sizeof(*f) + len);

	if (!f)
		return NULL;
	f->seq = seq;
	f->sent = false;
	f->len = len;
	memcpy(f->data, data, len);
	return f;
}

/* Reads spilled frames back while memory has room; the file is emptied once all are back. */
static void refill(struct gw_outbox *o)
{
	while (o->spilled_frames && o->mem_bytes < o->mem_limit) {
		uint8_t hdr[12];
		uint64_t seq;
		uint32_t len;
		struct gw_out_frame *f;

		if (fseek(o->spill, o->spill_read, SEEK_SET) != 0 || fread(hdr, 1, sizeof(hdr), o->spill) != sizeof(hdr))
			break;
		memcpy(&seq, hdr, 8);
		memcpy(&len, hdr + 8, 4);
		f = malloc(sizeof(*f) + len);
		if (!f)
			break;
		if (fread(f->data, 1, len, o->spill) != len) {
			free(f);
			break;
		}
		f->seq = seq;
		f->sent = false;
		f->len = len;
		append_mem(o, f);
		o->spill_read += (long)sizeof(hdr) + (long)len;
		o->spilled_frames--;
	}
	if (o->spill && !o->spilled_frames) {
		o->spill_read = o->spill_write = 0;
		if (ftruncate(fileno(o->spill), 0) != 0)
			cm_log(CM_LOG_WARN, "gateway", "cannot truncate the metrics spill file");
	}
}

int gw_outbox_push(struct gw_outbox *o, const uint8_t *frame, size_t len)
{
	uint64_t seq = o->next_seq;

	if (!o->spilled_frames && o->mem_bytes + len <= o->mem_limit) {
		struct gw_out_frame *f = frame_new(seq, frame, len);
		if (!f)
			return -ENOMEM;
		append_mem(o, f);
	} else {
		/* record: seq (host order: the file never leaves this process), length, frame */
		uint32_t l32 = (uint32_t)len;

		if (!o->spill) {
			o->spill = tmpfile();
			if (!o->spill) {
				cm_log(CM_LOG_ERROR, "gateway", "cannot create the metrics spill file: %s", strerror(errno));
				return -errno;
			}
		}
		if (fseek(o->spill, o->spill_write, SEEK_SET) != 0 || fwrite(&seq, 8, 1, o->spill) != 1 ||
		    fwrite(&l32, 4, 1, o->spill) != 1 || fwrite(frame, 1, len, o->spill) != len ||
		    fflush(o->spill) != 0) {
			cm_log(CM_LOG_ERROR, "gateway", "cannot write the metrics spill file: %s", strerror(errno));
			return -EIO;
		}
		o->spill_write += 12 + (long)len;
		o->spilled_frames++;
		o->spilled_total++;
	}
	o->next_seq++;
	o->queued++;
	return 0;
}

bool gw_outbox_ack(struct gw_outbox *o, uint64_t seq)
{
	struct gw_out_frame *prev = NULL;

	for (struct gw_out_frame *f = o->head; f; prev = f, f = f->next) {
		if (f->seq != seq)
			continue;
		if (prev)
			prev->next = f->next;
		else
			o->head = f->next;
		if (o->tail == f)
			o->tail = prev;
		o->mem_bytes -= f->len;
		free(f);
		o->acked++;
		refill(o);
		return true;
	}
	return false;
}

void gw_outbox_rewind(struct gw_outbox *o)
{
	for (struct gw_out_frame *f = o->head; f; f = f->next) {
		if (f->sent)
			o->resent++;
		f->sent = false;
	}
}

uint64_t gw_outbox_pending(const struct gw_outbox *o)
{
	uint64_t n = o->spilled_frames;

	for (const struct gw_out_frame *f = o->head; f; f = f->next)
		n++;
	return n;
}
