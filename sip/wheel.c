/* The SIP timer wheel: one ring of slots, SIP_WHEEL_TICK_MS per slot, intrusive doubly linked timers. */
#include "sip/sip_internal.h"

static uint64_t to_tick(uint64_t ms)
{
	return ms / SIP_WHEEL_TICK_MS;
}

void sip_wheel_init(struct sip_wheel *w, uint64_t now_ms)
{
	memset(w, 0, sizeof(*w));
	w->tick = to_tick(now_ms);
	w->scan_from = w->tick + 1;
}

static void link_into(struct sip_wtimer **head, struct sip_wtimer *t)
{
	t->next = *head;
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = head;
	*head = t;
}

static void unlink_(struct sip_wtimer *t)
{
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

void sip_wtimer_start(struct sip_wheel *w, struct sip_wtimer *t, uint64_t delay_ms, sip_wtimer_cb cb)
{
	uint64_t ticks = (delay_ms + SIP_WHEEL_TICK_MS - 1) / SIP_WHEEL_TICK_MS;

	if (t->pprev)
		sip_wtimer_stop(w, t);
	t->cb = cb;
	/* never in the slot being processed right now: at least the next tick */
	t->due_tick = w->tick + (ticks ? ticks : 1);
	link_into(&w->slot[t->due_tick % SIP_WHEEL_SLOTS], t);
	w->armed++;
	/* the first tick this slot comes round (a timer beyond one revolution waits in it) */
	uint64_t at = w->tick + 1 + (t->due_tick - w->tick - 1) % SIP_WHEEL_SLOTS;
	if (at < w->scan_from)
		w->scan_from = at;
}

void sip_wtimer_stop(struct sip_wheel *w, struct sip_wtimer *t)
{
	if (!t->pprev)
		return;
	unlink_(t);
	w->armed--;
}

/* Walks tick by tick (an empty slot costs one load, so even an hour's gap is well under a millisecond).
 * Each slot is detached before it is walked, so a callback may stop any timer (the list it is on keeps valid
 * back-pointers) or start new ones (they land in the wheel, at least one tick ahead). */
unsigned sip_wheel_advance(struct sip_wheel *w, uint64_t now_ms)
{
	uint64_t target = to_tick(now_ms);
	unsigned fired = 0;

	while (w->tick < target && w->armed) {
		struct sip_wtimer *pending, *t;
		uint64_t tick = w->tick + 1;
		struct sip_wtimer **slot = &w->slot[tick % SIP_WHEEL_SLOTS];

		w->tick = tick;
		if (!*slot)
			continue;
		pending = *slot;
		pending->pprev = &pending;
		*slot = NULL;
		while ((t = pending) != NULL) {
			unlink_(t);
			if (t->due_tick <= tick) {
				w->armed--;
				t->cb(t);
				fired++;
			} else {
				link_into(slot, t); /* a later revolution */
				if (tick + SIP_WHEEL_SLOTS < w->scan_from)
					w->scan_from = tick + SIP_WHEEL_SLOTS;
			}
		}
	}
	if (w->tick < target)
		w->tick = target;
	return fired;
}

int sip_wheel_next_ms(struct sip_wheel *w)
{
	uint64_t from;

	if (!w->armed)
		return -1;
	from = w->scan_from > w->tick + 1 ? w->scan_from : w->tick + 1;
	for (uint64_t x = from; x <= w->tick + SIP_WHEEL_SLOTS; x++)
		if (w->slot[x % SIP_WHEEL_SLOTS]) {
			w->scan_from = x;
			return (int)((x - w->tick) * SIP_WHEEL_TICK_MS);
		}
	return (int)(SIP_WHEEL_SLOTS * SIP_WHEEL_TICK_MS);
}
