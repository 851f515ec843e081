/* SIP transactions (RFC 3261 §17): INVITE and non-INVITE, client and server, with timers A–K on the SIP
 * timer wheel; retransmission over unreliable transports; the ACK for a non-2xx final response generated inside
 * the client INVITE transaction (§17.1.1.3), the ACK for a 2xx left to the transaction user (end to end).
 *
 * Lifetimes: a transaction is malloc'd with copies of its request and last response (or ACK) bytes; it is
 * freed from a wheel callback (never under the caller's feet), after on_terminated.  Lookup is one chained hash
 * keyed by Via branch + method; server matching also compares sent-by (§17.2.3), client matching uses branch +
 * CSeq method (§17.1.3). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "common/common.h"
#include "sip/sip_internal.h"

/* Transactions by branch: open addressing with linear probing in an array of (hash, transaction) slots, doubled
 * while it is more than 3/4 full.  A lookup reads the slots' hashes and touches only the transaction that
 * matches (a chained table touched every transaction on the chain: a cache miss each, the top item of a call's
 * profile); deletion shifts the probe run back, so no tombstones.  A table that cannot grow keeps one slot
 * free: new transactions are refused (-ENOMEM) rather than a probe never ending. */
/* Freed transactions kept for the next ones (a call makes two, a registration one or two): no allocator round
 * trip or fresh page for each. */
static const unsigned txn_spare_max = SIP_ASAN ? 0 : 256;
#define HASH_SLOTS_MIN 2048u
#define HASH_SLOTS_MAX (1u << 23)
#define METHOD_MAX 24u
#define SENT_BY_MAX 96u

struct sip_txn {
	struct sip_txn_layer *l;
	struct sip_txn *failed_next; /* sip_txn_transport_failed's list; the layer's spares */
	enum sip_txn_kind kind;
	enum sip_txn_state state;
	uint32_t hash;
	uint32_t retx_ms;          /* current A/E/G interval */
	unsigned last_status;
	struct sip_wtimer retx;    /* A, E, G */
	struct sip_wtimer life;    /* B, F, H (timeouts); D, I, J, K (waits); 0 ms: terminate */
	struct sockaddr_storage peer;
	void *send_ctx;            /* the transport (socket) it sends from: the one it was started or received on */
	char *req;                 /* the request as sent or received */
	size_t req_len;
	char *resp;                /* server: the last response; client INVITE: the ACK for a non-2xx */
	size_t resp_len;
	void *user;
	uint8_t branch_len, method_len, sent_by_len;
	char branch[SIP_BRANCH_MAX];
	char method[METHOD_MAX];
	char sent_by[SENT_BY_MAX];
};

struct txn_slot {
	uint32_t hash;
	struct sip_txn *t;
};

struct sip_txn_layer {
	struct sip_wheel wheel;
	bool reliable;
	sip_send_fn send;
	void *send_ctx;
	void *cur_ctx;              /* sip_txn_set_send_ctx: the socket new transactions send from (NULL: send_ctx) */
	const struct sip_txn_user_ops *ops;
	void *ops_arg;
	struct sip_txn_stats stats;
	struct sip_msg rx;          /* the message being received */
	struct sip_msg view;        /* sip_txn_request() and response building */
	struct sip_msg out_msg;     /* what we are about to send */
	char out[SIP_MAX_MSG_SIZE]; /* responses and ACKs we build */
	struct txn_slot *slots;     /* t NULL: empty */
	struct sip_txn *spare;      /* freed transactions for reuse (txn_spare_max) */
	unsigned nspare;
	uint32_t mask;              /* slots - 1 */
	bool quiet;                 /* sip_txn_layer_quiet: its transport is stopping */
};

static const char *const state_names[] = { "Calling", "Trying", "Proceeding", "Completed", "Confirmed",
					   "Terminated" };

const char *sip_txn_state_name(enum sip_txn_state s)
{
	return (unsigned)s < CM_ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

static struct cm_ratelimit rx_rl = CM_RATELIMIT_INIT(10000, 5);

static uint32_t key_hash(const char *branch, size_t blen, const char *method, size_t mlen)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < blen; i++)
		h = (h ^ (uint8_t)branch[i]) * 16777619u;
	h = (h ^ ' ') * 16777619u;
	for (size_t i = 0; i < mlen; i++)
		h = (h ^ (uint8_t)method[i]) * 16777619u;
	return h;
}

/* Top Via's branch and sent-by, and the CSeq method, of a parsed message. */
struct txn_key {
	struct sip_str branch, sent_by, method;
};

static int msg_key(const struct sip_msg *m, struct txn_key *k)
{
	const struct sip_hdr *vh = sip_msg_hdr(m, SIP_HDR_VIA), *ch = sip_msg_hdr(m, SIP_HDR_CSEQ);
	struct sip_str rest, first;
	struct sip_via v;
	struct sip_cseq cs;
	const char *why;

	if (!vh || !ch)
		return -EINVAL;
	rest = vh->value;
	if (sip_next_value(&rest, &first) != 1 || sip_parse_via(first, &v, &why) < 0 ||
	    sip_parse_cseq(ch->value, &cs, &why) < 0)
		return -EINVAL;
	if (v.branch.len > SIP_BRANCH_MAX || cs.method.len > METHOD_MAX)
		return -E2BIG;
	k->branch = v.branch;
	k->sent_by = v.sent_by;
	if (k->sent_by.len > SENT_BY_MAX)
		k->sent_by.len = SENT_BY_MAX;
	k->method = cs.method;
	return 0;
}

static bool is_server(enum sip_txn_kind k)
{
	return k == SIP_TXN_SERVER_INVITE || k == SIP_TXN_SERVER_NON_INVITE;
}

static struct sip_txn *lookup(struct sip_txn_layer *l, bool server, const struct txn_key *k, struct sip_str method)
{
	uint32_t h = key_hash(k->branch.p, k->branch.len, method.p, method.len);

	for (uint32_t i = h & l->mask; l->slots[i].t; i = (i + 1) & l->mask) {
		struct sip_txn *t = l->slots[i].t;

		if (l->slots[i].hash == h && is_server(t->kind) == server && t->branch_len == k->branch.len &&
		    memcmp(t->branch, k->branch.p, k->branch.len) == 0 && t->method_len == method.len &&
		    memcmp(t->method, method.p, method.len) == 0 &&
		    (!server || (t->sent_by_len == k->sent_by.len &&
				 sip_ascii_caseeq(t->sent_by, k->sent_by.p, k->sent_by.len))))
			return t;
	}
	return NULL;
}

static void hash_insert(struct txn_slot *slots, uint32_t mask, struct sip_txn *t)
{
	uint32_t i = t->hash & mask;

	while (slots[i].t)
		i = (i + 1) & mask;
	slots[i] = (struct txn_slot){ t->hash, t };
}

/* Backward-shift deletion: each later entry of the probe run whose home slot is not after the hole moves into
 * it, so every remaining entry stays reachable from its home without tombstones. */
static void hash_remove(struct sip_txn *t)
{
	struct sip_txn_layer *l = t->l;
	struct txn_slot *s = l->slots;
	uint32_t mask = l->mask, i = t->hash & mask;

	while (s[i].t != t) {
		if (!s[i].t)
			return; /* not in the table */
		i = (i + 1) & mask;
	}
	for (uint32_t j = i;;) {
		j = (j + 1) & mask;
		if (!s[j].t)
			break;
		if (((j - s[j].hash) & mask) < ((j - i) & mask))
			continue; /* its home lies between the hole and j: it stays */
		s[i] = s[j];
		i = j;
	}
	s[i].t = NULL;
}

static int send_bytes(struct sip_txn *t, const char *buf, size_t len)
{
	return t->l->send(t->send_ctx, &t->peer, buf, len);
}

static void destroy(struct sip_txn *t)
{
	struct sip_txn_layer *l = t->l;

	sip_wtimer_stop(&l->wheel, &t->retx);
	sip_wtimer_stop(&l->wheel, &t->life);
	hash_remove(t);
	t->state = SIP_TXN_TERMINATED;
	if (l->ops->on_terminated)
		l->ops->on_terminated(l->ops_arg, t);
	l->stats.terminated++;
	l->stats.live--;
	free(t->req);
	free(t->resp);
	if (l->nspare < txn_spare_max) {
		t->failed_next = l->spare;
		l->spare = t;
		l->nspare++;
	} else {
		free(t);
	}
}

static void on_life(struct sip_wtimer *w);
static void on_retx(struct sip_wtimer *w);

/* Terminated from inside a call the user made: freed on the next tick, not under the caller's feet. */
static void terminate_soon(struct sip_txn *t)
{
	t->state = SIP_TXN_TERMINATED;
	sip_wtimer_stop(&t->l->wheel, &t->retx);
	sip_wtimer_start(&t->l->wheel, &t->life, 0, on_life);
}

static void on_retx(struct sip_wtimer *w)
{
	struct sip_txn *t = (struct sip_txn *)((char *)w - offsetof(struct sip_txn, retx));
	struct sip_txn_layer *l = t->l;

	switch (t->kind) {
	case SIP_TXN_CLIENT_INVITE: /* Timer A: doubles without cap (§17.1.1.2) */
		send_bytes(t, t->req, t->req_len);
		t->retx_ms *= 2;
		break;
	case SIP_TXN_CLIENT_NON_INVITE: /* Timer E: doubles up to T2; T2 once Proceeding (§17.1.2.2) */
		send_bytes(t, t->req, t->req_len);
		t->retx_ms = t->state == SIP_TXN_PROCEEDING ? SIP_T2_MS
			     : t->retx_ms * 2 > SIP_T2_MS ? SIP_T2_MS : t->retx_ms * 2;
		break;
	case SIP_TXN_SERVER_INVITE: /* Timer G: doubles up to T2 (§17.2.1) */
		send_bytes(t, t->resp, t->resp_len);
		t->retx_ms = t->retx_ms * 2 > SIP_T2_MS ? SIP_T2_MS : t->retx_ms * 2;
		break;
	default:
		return;
	}
	l->stats.retransmissions++;
	sip_wtimer_start(&l->wheel, &t->retx, t->retx_ms, on_retx);
}

/* B, F, H are timeouts the user hears about; D, I, J, K and the 0 ms timer just end the transaction. */
static void on_life(struct sip_wtimer *w)
{
	struct sip_txn *t = (struct sip_txn *)((char *)w - offsetof(struct sip_txn, life));
	struct sip_txn_layer *l = t->l;
	bool timeout = (t->kind == SIP_TXN_CLIENT_INVITE && t->state == SIP_TXN_CALLING) ||
		       (t->kind == SIP_TXN_CLIENT_NON_INVITE &&
			(t->state == SIP_TXN_TRYING || t->state == SIP_TXN_PROCEEDING)) ||
		       (t->kind == SIP_TXN_SERVER_INVITE && t->state == SIP_TXN_COMPLETED);

	if (timeout) {
		l->stats.timeouts++;
		sip_wtimer_stop(&l->wheel, &t->retx);
		t->state = SIP_TXN_TERMINATED;
		if (l->ops->on_timeout && !l->quiet)
			l->ops->on_timeout(l->ops_arg, t);
	}
	destroy(t);
}

struct sip_txn_layer *sip_txn_layer_new(uint64_t now_ms, bool reliable, sip_send_fn send, void *send_ctx,
					const struct sip_txn_user_ops *ops, void *ops_arg)
{
	struct sip_txn_layer *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	sip_wheel_init(&l->wheel, now_ms);
	l->reliable = reliable;
	l->send = send;
	l->send_ctx = send_ctx;
	l->ops = ops;
	l->ops_arg = ops_arg;
	l->mask = HASH_SLOTS_MIN - 1;
	l->slots = calloc(HASH_SLOTS_MIN, sizeof(*l->slots));
	if (!l->slots) {
		free(l);
		return NULL;
	}
	return l;
}

/* Room for one more: the table doubles past 3/4 full; false when it cannot and only one slot is left. */
static bool hash_room(struct sip_txn_layer *l)
{
	uint32_t mask = 2 * l->mask + 1;
	struct txn_slot *s;

	if (4 * (l->stats.live + 1) <= 3 * ((uint64_t)l->mask + 1))
		return true;
	if (mask + 1 <= HASH_SLOTS_MAX && (s = calloc((size_t)mask + 1, sizeof(*s))) != NULL) {
		for (uint32_t i = 0; i <= l->mask; i++)
			if (l->slots[i].t)
				hash_insert(s, mask, l->slots[i].t);
		free(l->slots);
		l->slots = s;
		l->mask = mask;
	}
	return l->stats.live + 2 <= (uint64_t)l->mask + 1;
}

void sip_txn_layer_free(struct sip_txn_layer *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; i <= l->mask; i++)
		while (l->slots[i].t) /* a later entry may shift into the slot just freed */
			destroy(l->slots[i].t);
	while (l->spare) {
		struct sip_txn *t = l->spare;
		l->spare = t->failed_next;
		free(t);
	}
	free(l->slots);
	free(l);
}

void sip_txn_layer_quiet(struct sip_txn_layer *l)
{
	l->quiet = true;
}

void *sip_txn_set_send_ctx(struct sip_txn_layer *l, void *ctx)
{
	void *old = l->cur_ctx;

	l->cur_ctx = ctx;
	return old;
}

void *sip_txn_send_ctx(const struct sip_txn *t)
{
	return t->send_ctx;
}

void sip_txn_drop_send_ctx(struct sip_txn_layer *l, void *ctx)
{
	if (l->cur_ctx == ctx)
		l->cur_ctx = NULL;
	for (uint32_t i = 0; l->stats.live && i <= l->mask; i++)
		if (l->slots[i].t && l->slots[i].t->send_ctx == ctx)
			l->slots[i].t->send_ctx = l->send_ctx;
}

unsigned sip_txn_transport_failed(struct sip_txn_layer *l, const void *ctx, const struct sockaddr_storage *peer)
{
	struct sip_txn *failed = NULL;
	unsigned n = 0;

	if (!l->stats.live)
		return 0;
	/* collect first, then tell the user: a request it sends again from on_timeout (on a new connection) must
	 * not be swept up by this walk */
	for (uint32_t i = 0; i <= l->mask; i++) {
		struct sip_txn *t = l->slots[i].t;
		bool waiting = t && ((t->kind == SIP_TXN_CLIENT_INVITE &&
				      (t->state == SIP_TXN_CALLING || t->state == SIP_TXN_PROCEEDING)) ||
				     (t->kind == SIP_TXN_CLIENT_NON_INVITE &&
				      (t->state == SIP_TXN_TRYING || t->state == SIP_TXN_PROCEEDING)));

		if (!waiting || (ctx && t->send_ctx != ctx) || !sip_same_addr(&t->peer, peer))
			continue;
		/* §8.1.3.1: a transport error is a 503 for the user; the transaction ends.  No timer of it stays
		 * armed, so a wheel tick inside a callback cannot free one still on the list. */
		t->last_status = 503;
		t->state = SIP_TXN_TERMINATED;
		sip_wtimer_stop(&l->wheel, &t->retx);
		sip_wtimer_stop(&l->wheel, &t->life);
		t->failed_next = failed;
		failed = t;
	}
	while (failed) {
		struct sip_txn *t = failed;

		failed = t->failed_next;
		l->stats.transport_errors++;
		n++;
		if (l->ops->on_timeout && !l->quiet)
			l->ops->on_timeout(l->ops_arg, t);
		destroy(t); /* on_terminated right after on_timeout, as for Timer B/F */
	}
	return n;
}

unsigned sip_txn_tick(struct sip_txn_layer *l, uint64_t now_ms)
{
	return sip_wheel_advance(&l->wheel, now_ms);
}

int sip_txn_next_ms(struct sip_txn_layer *l)
{
	return sip_wheel_next_ms(&l->wheel);
}

const struct sip_txn_stats *sip_txn_layer_stats(const struct sip_txn_layer *l)
{
	return &l->stats;
}

static struct sip_txn *txn_new(struct sip_txn_layer *l, enum sip_txn_kind kind, const struct txn_key *k,
			       const char *req, size_t len, const struct sockaddr_storage *peer)
{
	struct sip_txn *t;

	if (!hash_room(l))
		return NULL;
	if (l->spare) {
		t = l->spare;
		l->spare = t->failed_next;
		l->nspare--;
		memset(t, 0, sizeof(*t));
	} else if (!(t = calloc(1, sizeof(*t)))) {
		return NULL;
	}
	t->req = malloc(len);
	if (!t->req) {
		free(t);
		return NULL;
	}
	memcpy(t->req, req, len);
	t->req_len = len;
	t->l = l;
	t->kind = kind;
	t->peer = *peer;
	t->send_ctx = l->cur_ctx ? l->cur_ctx : l->send_ctx;
	t->branch_len = (uint8_t)k->branch.len;
	memcpy(t->branch, k->branch.p, k->branch.len);
	t->method_len = (uint8_t)k->method.len;
	memcpy(t->method, k->method.p, k->method.len);
	t->sent_by_len = (uint8_t)k->sent_by.len;
	memcpy(t->sent_by, k->sent_by.p, k->sent_by.len);
	t->hash = key_hash(t->branch, t->branch_len, t->method, t->method_len);
	hash_insert(l->slots, l->mask, t);
	l->stats.created++;
	l->stats.live++;
	return t;
}

static struct sip_txn *client_start(struct sip_txn_layer *l, const struct txn_key *k, bool invite, const char *req,
				   size_t len, const struct sockaddr_storage *dst, void *user, int *err)
{
	struct sip_txn *t;
	int rc;

	if (lookup(l, false, k, k->method)) {
		*err = -EEXIST;
		return NULL;
	}
	t = txn_new(l, invite ? SIP_TXN_CLIENT_INVITE : SIP_TXN_CLIENT_NON_INVITE, k, req, len, dst);
	if (!t) {
		*err = -ENOMEM;
		return NULL;
	}
	t->user = user;
	t->state = invite ? SIP_TXN_CALLING : SIP_TXN_TRYING;
	rc = send_bytes(t, t->req, t->req_len);
	if (rc < 0) {
		*err = rc;
		destroy(t);
		return NULL;
	}
	if (!l->reliable) {
		t->retx_ms = SIP_T1_MS;
		sip_wtimer_start(&l->wheel, &t->retx, SIP_T1_MS, on_retx);
	}
	sip_wtimer_start(&l->wheel, &t->life, 64 * SIP_T1_MS, on_life); /* B or F */
	*err = 0;
	return t;
}

static bool cookie_branch(struct sip_str branch)
{
	return branch.len >= sizeof(SIP_MAGIC_COOKIE) - 1 && branch.len <= SIP_BRANCH_MAX &&
	       memcmp(branch.p, SIP_MAGIC_COOKIE, sizeof(SIP_MAGIC_COOKIE) - 1) == 0;
}

struct sip_txn *sip_txn_client_start(struct sip_txn_layer *l, const char *req, size_t len,
				     const struct sockaddr_storage *dst, void *user, int *err)
{
	struct txn_key k;

	if (sip_msg_parse(&l->out_msg, req, len) < 0 || !l->out_msg.is_request || msg_key(&l->out_msg, &k) < 0 ||
	    !cookie_branch(k.branch) || l->out_msg.method_id == SIP_ACK) {
		*err = -EINVAL;
		return NULL;
	}
	return client_start(l, &k, l->out_msg.method_id == SIP_INVITE, req, len, dst, user, err);
}

struct sip_txn *sip_txn_client_start_built(struct sip_txn_layer *l, const char *req, size_t len,
					   const struct sockaddr_storage *dst, struct sip_str branch,
					   enum sip_method method, void *user, int *err)
{
	const char *name = sip_method_name(method);
	/* client matching is by branch and method (§17.1.3): the sent-by is not kept */
	struct txn_key k = { .branch = branch, .sent_by = { "", 0 }, .method = { name, name ? strlen(name) : 0 } };

	if (!name || !cookie_branch(branch) || method == SIP_ACK) {
		*err = -EINVAL;
		return NULL;
	}
	return client_start(l, &k, method == SIP_INVITE, req, len, dst, user, err);
}

/* §17.1.1.3: the ACK for a non-2xx final response: Request-URI, top Via, Route, From, Call-ID of the request,
 * To of the response, CSeq number of the request with method ACK. */
static int build_ack(struct sip_txn *t, const struct sip_msg *resp)
{
	struct sip_txn_layer *l = t->l;
	struct sip_msg *req = &l->view;
	struct sip_builder b;
	struct sip_cseq cs;
	struct sip_str rest, top;
	const char *why;
	int n;

	if (sip_msg_parse(req, t->req, t->req_len) < 0 ||
	    sip_parse_cseq(sip_msg_hdr(req, SIP_HDR_CSEQ)->value, &cs, &why) < 0)
		return -EINVAL;
	rest = sip_msg_hdr(req, SIP_HDR_VIA)->value;
	if (sip_next_value(&rest, &top) != 1)
		return -EINVAL;
	sip_build_request(&b, l->out, sizeof(l->out), "ACK", req->ruri);
	sip_build_hdr(&b, "Via", top);
	sip_build_copy_hdrs(&b, req, SIP_HDR_ROUTE);
	sip_build_copy_hdrs(&b, req, SIP_HDR_FROM);
	sip_build_copy_hdrs(&b, resp, SIP_HDR_TO);
	sip_build_copy_hdrs(&b, req, SIP_HDR_CALL_ID);
	sip_build_hdrf(&b, "CSeq", "%u ACK", cs.seq);
	sip_build_hdrf(&b, "Max-Forwards", "70");
	n = sip_build_finish(&b, NULL, (struct sip_str){ "", 0 });
	if (n < 0)
		return n;
	free(t->resp);
	t->resp = malloc((size_t)n);
	if (!t->resp)
		return -ENOMEM;
	memcpy(t->resp, l->out, (size_t)n);
	t->resp_len = (size_t)n;
	return 0;
}

/* A client transaction with its final response never sends its request again (Timer D and K only absorb
 * retransmitted responses; the ACK for a non-2xx is built by now): its copy goes back to the allocator at once,
 * not 5 s later (and before the user hears of the response: nothing of the transaction is touched after that
 * callback, which may stop the transport). */
static void drop_request(struct sip_txn *t)
{
	free(t->req);
	t->req = NULL;
	t->req_len = 0;
}

static void client_response(struct sip_txn *t, const struct sip_msg *m)
{
	struct sip_txn_layer *l = t->l;
	unsigned st = m->status;

	if (t->state == SIP_TXN_TERMINATED && t->kind == SIP_TXN_CLIENT_INVITE && st >= 200 && st < 300) {
		/* a retransmitted 2xx while the ended transaction waits to be freed: the TU's, like any later one */
		l->stats.stray_responses++;
		l->ops->on_response(l->ops_arg, NULL, m);
		return;
	}
	if (t->state == SIP_TXN_COMPLETED || t->state == SIP_TXN_TERMINATED) {
		/* a retransmitted final response: re-send the ACK (INVITE), absorb otherwise */
		if (t->kind == SIP_TXN_CLIENT_INVITE && t->state == SIP_TXN_COMPLETED && st >= 300 && t->resp)
			send_bytes(t, t->resp, t->resp_len);
		l->stats.absorbed++;
		return;
	}
	t->last_status = st;
	if (st < 200) {
		if (t->kind == SIP_TXN_CLIENT_INVITE) {
			/* Proceeding: no more retransmissions, Timer B no longer applies */
			sip_wtimer_stop(&l->wheel, &t->retx);
			sip_wtimer_stop(&l->wheel, &t->life);
		}
		t->state = SIP_TXN_PROCEEDING;
		l->ops->on_response(l->ops_arg, t, m);
		return;
	}
	sip_wtimer_stop(&l->wheel, &t->retx);
	sip_wtimer_stop(&l->wheel, &t->life);
	if (t->kind == SIP_TXN_CLIENT_INVITE && st < 300) {
		/* 2xx: the transaction ends; the TU ACKs end to end and absorbs retransmitted 2xx */
		t->state = SIP_TXN_TERMINATED;
		drop_request(t);
		l->ops->on_response(l->ops_arg, t, m);
		terminate_soon(t);
		return;
	}
	t->state = SIP_TXN_COMPLETED;
	if (t->kind == SIP_TXN_CLIENT_INVITE) {
		if (build_ack(t, m) == 0)
			send_bytes(t, t->resp, t->resp_len);
		sip_wtimer_start(&l->wheel, &t->life, l->reliable ? 0 : SIP_TIMER_D_MS, on_life); /* D */
	} else {
		sip_wtimer_start(&l->wheel, &t->life, l->reliable ? 0 : SIP_T4_MS, on_life); /* K */
	}
	drop_request(t); /* before the user's callback, which may end the whole layer */
	l->ops->on_response(l->ops_arg, t, m);
}

static void server_retransmission(struct sip_txn *t, const struct sip_msg *m)
{
	struct sip_txn_layer *l = t->l;

	l->stats.absorbed++;
	if (t->kind == SIP_TXN_SERVER_INVITE && m->method_id == SIP_ACK) {
		if (t->state == SIP_TXN_COMPLETED) {
			/* ACK for our non-2xx: Confirmed, Timer I absorbs further ACKs (§17.2.1) */
			t->state = SIP_TXN_CONFIRMED;
			sip_wtimer_stop(&l->wheel, &t->retx);
			sip_wtimer_start(&l->wheel, &t->life, l->reliable ? 0 : SIP_T4_MS, on_life);
		}
		return;
	}
	if ((t->state == SIP_TXN_PROCEEDING || t->state == SIP_TXN_COMPLETED) && t->resp)
		send_bytes(t, t->resp, t->resp_len);
}

int sip_txn_receive(struct sip_txn_layer *l, const char *buf, size_t len, const struct sockaddr_storage *src)
{
	struct sip_msg *m = &l->rx;
	struct txn_key k;
	struct sip_txn *t;

	if (l->quiet)
		return -ECANCELED;
	if (sip_msg_parse(m, buf, len) < 0 || msg_key(m, &k) < 0 || !sip_msg_hdr(m, SIP_HDR_CALL_ID) ||
	    !sip_msg_hdr(m, SIP_HDR_FROM) || !sip_msg_hdr(m, SIP_HDR_TO)) {
		l->stats.parse_errors++;
		cm_log_rl(&rx_rl, CM_LOG_WARN, "sip", "dropped a malformed message (%zu bytes): %s", len,
			  m->error ? m->error : "missing Via, CSeq, Call-ID, From or To");
		return -EINVAL;
	}
	if (!m->is_request) {
		t = lookup(l, false, &k, k.method);
		if (!t) {
			l->stats.stray_responses++;
			l->ops->on_response(l->ops_arg, NULL, m);
			return 0;
		}
		client_response(t, m);
		return 0;
	}
	/* an ACK belongs to the INVITE server transaction it acknowledges */
	t = lookup(l, true, &k, m->method_id == SIP_ACK ? SIP_STR("INVITE") : m->method);
	if (t) {
		server_retransmission(t, m);
		return 0;
	}
	if (m->method_id == SIP_ACK) {
		l->ops->on_request(l->ops_arg, NULL, m, src); /* ACK for a 2xx: end to end */
		return 0;
	}
	t = txn_new(l, m->method_id == SIP_INVITE ? SIP_TXN_SERVER_INVITE : SIP_TXN_SERVER_NON_INVITE, &k, buf,
		    m->len + (size_t)(m->buf - buf), src);
	if (!t)
		return -ENOMEM;
	if (t->kind == SIP_TXN_SERVER_INVITE) {
		t->state = SIP_TXN_PROCEEDING;
		/* §17.2.1: 100 Trying at once, so the client stops retransmitting */
		sip_txn_respond_simple(t, 100, NULL, NULL);
	} else {
		t->state = SIP_TXN_TRYING;
	}
	l->ops->on_request(l->ops_arg, t, m, src);
	return 0;
}

int sip_txn_respond(struct sip_txn *t, const char *resp, size_t len)
{
	struct sip_txn_layer *l = t->l;
	unsigned st;
	char *copy;
	int rc;

	if (!is_server(t->kind) || t->state == SIP_TXN_COMPLETED || t->state == SIP_TXN_CONFIRMED ||
	    t->state == SIP_TXN_TERMINATED)
		return -EINVAL;
	if (sip_msg_parse(&l->out_msg, resp, len) < 0 || l->out_msg.is_request)
		return -EINVAL;
	st = l->out_msg.status;
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, resp, len);
	free(t->resp);
	t->resp = copy;
	t->resp_len = len;
	t->last_status = st;
	rc = send_bytes(t, t->resp, t->resp_len);
	if (st < 200) {
		t->state = SIP_TXN_PROCEEDING;
	} else if (t->kind == SIP_TXN_SERVER_INVITE && st < 300) {
		terminate_soon(t); /* 2xx retransmission is the TU's (§13.3.1.4) */
	} else {
		t->state = SIP_TXN_COMPLETED;
		if (t->kind == SIP_TXN_SERVER_INVITE) {
			if (!l->reliable) {
				t->retx_ms = SIP_T1_MS;
				sip_wtimer_start(&l->wheel, &t->retx, SIP_T1_MS, on_retx); /* G */
			}
			sip_wtimer_start(&l->wheel, &t->life, 64 * SIP_T1_MS, on_life); /* H */
		} else {
			sip_wtimer_start(&l->wheel, &t->life, l->reliable ? 0 : 64 * SIP_T1_MS, on_life); /* J */
		}
	}
	return rc;
}

int sip_txn_respond_simple(struct sip_txn *t, unsigned status, const char *to_tag, const char *extra_hdrs)
{
	return sip_txn_respond_body(t, status, to_tag, extra_hdrs, NULL, (struct sip_str){ "", 0 });
}

int sip_txn_respond_body(struct sip_txn *t, unsigned status, const char *to_tag, const char *extra_hdrs,
			 const char *content_type, struct sip_str body)
{
	struct sip_txn_layer *l = t->l;
	struct sip_msg *req = &l->view;
	const struct sip_hdr *to;
	struct sip_builder b;
	struct sip_addr a;
	const char *why;
	int n;

	if (sip_msg_parse(req, t->req, t->req_len) < 0)
		return -EINVAL;
	to = sip_msg_hdr(req, SIP_HDR_TO);
	sip_build_response(&b, l->out, sizeof(l->out), status, NULL);
	sip_build_copy_hdrs(&b, req, SIP_HDR_VIA);
	if (t->kind == SIP_TXN_SERVER_INVITE && status > 100 && status < 300)
		sip_build_copy_hdrs(&b, req, SIP_HDR_RECORD_ROUTE);
	sip_build_copy_hdrs(&b, req, SIP_HDR_FROM);
	if (to_tag && status > 100 && sip_parse_addr(to->value, &a, &why) == 0 && a.tag.len == 0)
		sip_build_hdrf(&b, "To", "%.*s;tag=%s", (int)to->value.len, to->value.p, to_tag);
	else
		sip_build_hdr(&b, "To", to->value);
	sip_build_copy_hdrs(&b, req, SIP_HDR_CALL_ID);
	sip_build_copy_hdrs(&b, req, SIP_HDR_CSEQ);
	if (extra_hdrs)
		sip_build_raw(&b, extra_hdrs);
	n = sip_build_finish(&b, content_type, body);
	if (n < 0)
		return n;
	return sip_txn_respond(t, l->out, (size_t)n);
}

enum sip_txn_kind sip_txn_kind(const struct sip_txn *t)
{
	return t->kind;
}

enum sip_txn_state sip_txn_state(const struct sip_txn *t)
{
	return t->state;
}

void *sip_txn_user(const struct sip_txn *t)
{
	return t->user;
}

void sip_txn_set_user(struct sip_txn *t, void *user)
{
	t->user = user;
}

const struct sip_msg *sip_txn_request(const struct sip_txn *t)
{
	struct sip_msg *m = &t->l->view;

	return sip_msg_parse(m, t->req, t->req_len) == 0 ? m : NULL;
}

unsigned sip_txn_last_status(const struct sip_txn *t)
{
	return t->last_status;
}
