/* The part every transport shares: the loop timer that ticks its transaction layer's wheel. */
#include "common/common.h"
#include "sip/sip_internal.h"

static void on_tick(struct cp_loop *loop, void *arg)
{
	struct sip_transport_clock *c = arg;

	sip_txn_tick(c->txl, cp_loop_now_ms(loop));
	sip_clock_arm(c);
}

void sip_clock_init(struct sip_transport_clock *c, struct cp_loop *loop, struct sip_txn_layer *txl)
{
	c->loop = loop;
	c->txl = txl;
	cp_timer_init(&c->tick, on_tick, c);
}

void sip_clock_arm(struct sip_transport_clock *c)
{
	int next = sip_txn_next_ms(c->txl);

	if (next < 0)
		cp_timer_stop(c->loop, &c->tick);
	else
		cp_timer_start(c->loop, &c->tick, (uint64_t)next);
}

void sip_clock_stop(struct sip_transport_clock *c)
{
	cp_timer_stop(c->loop, &c->tick);
}

struct sip_txn *sip_clock_request(struct sip_transport_clock *c, const char *req, size_t len,
				  const struct sockaddr_storage *dst, void *user, int *err)
{
	struct sip_txn *t;

	sip_txn_tick(c->txl, cm_now_ms());
	t = sip_txn_client_start(c->txl, req, len, dst, user, err);
	sip_clock_arm(c);
	return t;
}
