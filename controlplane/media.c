/* Media for the endpoint engine: each call leg becomes a dataplane flow.
 *
 * At plan time every (media, codec, ptime) a group can use is encoded once into a frame cache, and every leg
 * that can exist gets a fixed slot: a flow index, a media IP and an even RTP port — so the SIP side can put the
 * address into its SDP before the call, and nothing is allocated while calls come and go.  At the end of a call
 * the flow's receive statistics become the leg's figures, with MOS and R from the G.107 E-model. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "controlplane/controlplane.h"
#include "dataplane/dataplane.h"

#define NO_SLOT UINT32_MAX
/* No one-way delay measurement yet (the TX-time header extension): the E-model gets the delay a receiver adds
 * itself, a jitter buffer of twice the jitter (at least 20 ms) plus one packetisation interval. */
#define JB_MIN_MS 20.0
#define QUALITY_MEMO_BITS 10

/* E-model results by their inputs: thousands of legs with the same codec, delay and loss share one (a clean run
 * has a handful of distinct inputs), and G.107's powers and logarithms were a third of the per-second sampling. */
struct quality_memo {
	const struct codec_ops *ops;
	double delay_ms, ppl, burst_r;
	double mos, r;
	bool ok;
};

struct cp_media {
	const struct cfg_plan *plan;
	struct codec_cache_set *caches;
	struct codec_media *sources[CFG_MAX_GROUPS];
	uint32_t *slot;           /* per leg: flow index, or NO_SLOT for a leg that cannot exist */
	uint32_t nlegs, nslots;
	uint32_t media_ip[CFG_MAX_MEDIA_IPS];
	uint8_t mac[6];
	struct {                  /* per slot: what a call set up */
		const struct codec_frame_cache *cache;
		const struct codec_ops *ops;
		uint32_t remote_ip;
		uint16_t remote_port;
		uint16_t ptime_ms;
		uint32_t ssrc;
		uint32_t info_sent, info_received; /* DTMF by SIP INFO */
		uint32_t holds;           /* times a re-INVITE stopped our sending */
		uint32_t snap_at;  /* index into snap[] when snap_round == the media's round */
		uint32_t snap_round;
		bool srtp;         /* SDES keys given at the start */
		bool up, held;
	} *legs;
	uint32_t ssrc_seed;
	/* the per-second samples: every up leg's counters read in one batch (dp_flow_snapshot_many) */
	uint32_t *snap_flows;
	struct dp_flow_snapshot *snap;
	uint32_t snap_cap, snap_round;
	struct quality_memo *memo; /* 2^QUALITY_MEMO_BITS entries */
};

/* Endpoint k of group g runs on this worker (always, outside a gateway part). */
static bool here(const struct cfg_plan *plan, uint32_t g, uint32_t k)
{
	const struct cfg_fleet *f = &plan->fleet;

	return !f->on || (g == f->group && k >= f->first && k - f->first < f->count);
}

static bool leg_possible(const struct cfg_group *g, bool incoming)
{
	return incoming ? g->role != CFG_ROLE_CALLER : g->role != CFG_ROLE_CALLEE;
}

void cp_media_free(struct cp_media *m)
{
	if (!m)
		return;
	for (uint32_t g = 0; g < CFG_MAX_GROUPS; g++)
		codec_media_free(m->sources[g]);
	for (size_t i = 0; m->caches && i < codec_cache_set_count(m->caches); i++)
		dp_cache_forget(codec_cache_set_at(m->caches, i));
	codec_cache_set_free(m->caches);
	free(m->slot);
	free(m->legs);
	free(m->snap_flows);
	free(m->snap);
	free(m->memo);
	free(m);
}

struct cp_media *cp_media_new(const struct cfg_plan *plan, char *err, size_t errlen)
{
	struct cp_media *m = calloc(1, sizeof(*m));
	uint32_t ep = 0;

	if (!m)
		return NULL;
	m->plan = plan;
	m->nlegs = 2 * plan->total_endpoints;
	m->slot = malloc((m->nlegs ? m->nlegs : 1) * sizeof(*m->slot));
	m->caches = codec_cache_set_new(0);
	if (!m->slot || !m->caches)
		goto fail_nomem;
	for (uint32_t g = 0; g < plan->ngroups; g++) {
		const struct cfg_group *gr = &plan->groups[g];

		m->sources[g] = codec_media_open(gr->media, err, errlen);
		if (!m->sources[g])
			goto fail;
		/* encode now what this group may send: every codec it offers, at its ptime */
		for (uint8_t c = 0; c < gr->ncodecs; c++) {
			struct codec_params params = { 0 };
			if (!codec_cache_set_get(m->caches, codec_by_name(gr->codecs[c]), &params, m->sources[g],
						 gr->ptime_ms, err, errlen))
				goto fail;
		}
		for (uint32_t k = 0; k < gr->endpoints; k++, ep++) {
			for (int in = 0; in < 2; in++)
				m->slot[CP_LEG(ep, in)] = leg_possible(gr, in) && here(plan, g, k) ? m->nslots++ : NO_SLOT;
		}
	}
	m->legs = calloc(m->nslots ? m->nslots : 1, sizeof(*m->legs));
	m->memo = calloc(1u << QUALITY_MEMO_BITS, sizeof(*m->memo));
	if (!m->legs || !m->memo)
		goto fail_nomem;
	for (uint8_t i = 0; i < plan->dp.nmedia_ips; i++) {
		struct in_addr a;
		inet_pton(AF_INET, plan->dp.media_ips[i], &a);
		m->media_ip[i] = ntohl(a.s_addr);
	}
	m->ssrc_seed = (uint32_t)cm_wallclock_ms();
	cm_log(CM_LOG_INFO, "media", "%u flow slot(s), %zu frame cache(s) of %zu KiB in all", m->nslots,
	       codec_cache_set_count(m->caches), codec_cache_set_mem(m->caches) / 1024);
	return m;

fail_nomem:
	snprintf(err, errlen, "out of memory for %u media legs", m->nlegs);
fail:
	cp_media_free(m);
	return NULL;
}

uint32_t cp_media_flows(const struct cp_media *m)
{
	return m->nslots;
}

/* Slot s is dataplane flow flow_base + s, which uses media IP (flow % n) and port rtp_port_min + 2 * (flow / n):
 * the plan (or the worker, for a gateway part) checked that they fit. */
static uint32_t flow_of(const struct cp_media *m, uint32_t s)
{
	return m->plan->dp.flow_base + s;
}

static void slot_addr(const struct cp_media *m, uint32_t slot, uint32_t *ip, uint16_t *port)
{
	uint32_t n = m->plan->dp.nmedia_ips, s = flow_of(m, slot);

	*ip = m->media_ip[s % n];
	*port = (uint16_t)(m->plan->dp.rtp_port_min + 2 * (s / n));
}

/* The slot of a leg whose call has media up, or NO_SLOT. */
static uint32_t up_slot(const struct cp_media *m, uint32_t leg)
{
	uint32_t s = leg < m->nlegs ? m->slot[leg] : NO_SLOT;

	return s != NO_SLOT && m->legs[s].up ? s : NO_SLOT;
}

int cp_media_local(const struct cp_media *m, uint32_t leg, char *ip, size_t iplen, uint16_t *port)
{
	struct in_addr a;
	uint32_t addr;

	if (leg >= m->nlegs || m->slot[leg] == NO_SLOT)
		return -EINVAL;
	slot_addr(m, m->slot[leg], &addr, port);
	a.s_addr = htonl(addr);
	return inet_ntop(AF_INET, &a, ip, (socklen_t)iplen) ? 0 : -ENOSPC;
}

int cp_dp_config_from(const struct cfg_plan_dataplane *dp, uint32_t flows, struct dp_config *cfg)
{
	struct in_addr a, mask;

	dp_config_default(cfg);
	cfg->max_flows = flows ? flows : 1;
	for (uint8_t i = 0; i < dp->nmedia_ips; i++) {
		if (inet_pton(AF_INET, dp->media_ips[i], &a) != 1)
			return -EINVAL;
		cfg->media_ips[i] = ntohl(a.s_addr);
	}
	cfg->n_media_ips = dp->nmedia_ips;
	cfg->vlan = dp->vlan;
	cfg->lcores = dp->lcores;
	if (dp->gateway_ip[0]) {
		if (inet_pton(AF_INET, dp->gateway_ip, &a) != 1 || inet_pton(AF_INET, dp->netmask, &mask) != 1)
			return -EINVAL;
		cfg->gateway_ip = ntohl(a.s_addr);
		cfg->prefix_len = (uint8_t)__builtin_popcount(mask.s_addr);
	}
	return 0;
}

int cp_media_dp_config(const struct cp_media *m, struct dp_config *cfg)
{
	return cp_dp_config_from(&m->plan->dp, m->nslots, cfg);
}

static uint32_t ppm(double pct)
{
	return (uint32_t)lrint(pct * 10000.0);
}

int cp_media_apply_impairment(const struct cp_media *m)
{
	const struct cfg_impairment *im = &m->plan->imp;
	struct dp_impair d = {
		.loss_ppm = ppm(im->loss_pct),
		.ge_p_ppm = ppm(im->burst_p_pct),
		.ge_r_ppm = ppm(im->burst_r_pct),
		.ge_loss_bad_ppm = ppm(im->burst_loss_pct),
		.dup_ppm = ppm(im->duplicate_pct),
		.reorder_ppm = ppm(im->reorder_pct),
		.jitter_us = im->jitter_ms * 1000,
		.seed = im->seed,
	};

	return dp_impair_set(0, &d);
}

void cp_media_set_mac(struct cp_media *m, const uint8_t mac[6])
{
	memcpy(m->mac, mac, 6);
}

static bool own_ip(const struct cp_media *m, uint32_t ip)
{
	for (uint8_t i = 0; i < m->plan->dp.nmedia_ips; i++)
		if (m->media_ip[i] == ip)
			return true;
	return false;
}

/* The flow of a leg's call: what cp_media_start adds and cp_media_modify changes (SRTP keys: leg_keys). */
static int leg_params(struct cp_media *m, uint32_t leg, const struct cp_call_media *cm, struct dp_flow_params *p,
		      const struct codec_ops **ops_out)
{
	uint32_t ep = CP_LEG_EP(leg), s;
	const struct cfg_group *g;
	const struct codec_ops *ops;
	struct codec_params params = { 0 };
	struct in_addr a;
	char err[256];

	if (leg >= m->nlegs || m->slot[leg] == NO_SLOT)
		return -EINVAL;
	s = m->slot[leg];
	for (g = m->plan->groups; ep >= g->endpoints; g++)
		ep -= g->endpoints;
	ops = codec_by_name(cm->codec);
	if (!ops || inet_pton(AF_INET, cm->remote_ip, &a) != 1)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->remote_ip = ntohl(a.s_addr);
	m->legs[s].cache = codec_cache_set_get(m->caches, ops, &params, m->sources[g - m->plan->groups],
					       cm->ptime_ms ? cm->ptime_ms : g->ptime_ms, err, sizeof(err));
	if (!m->legs[s].cache) {
		cm_log(CM_LOG_ERROR, "media", "leg %u: %s", leg, err);
		return -ENOMEM;
	}
	slot_addr(m, s, &p->local_ip, &p->local_port);
	p->remote_port = cm->remote_port;
	/* our own media address: the port itself; anything else: all zero, resolved by the dataplane's ARP */
	if (own_ip(m, p->remote_ip))
		memcpy(p->remote_mac, m->mac, 6);
	p->dir = cm->only == CP_MEDIA_SEND_ONLY ? DP_FLOW_SEND
		 : cm->only == CP_MEDIA_RECV_ONLY ? DP_FLOW_RECV : DP_FLOW_SEND | DP_FLOW_RECV;
	p->dscp = g->dscp;
	p->payload_type = cm->payload_type;
	p->ptime_ms = m->legs[s].cache->ptime_ms;
	p->ssrc = m->ssrc_seed * 2654435761u + s; /* distinct per slot, different per run */
	p->clock_rate = ops->clock_rate;
	p->dtmf_pt = cm->dtmf_pt;
	p->seq0 = (uint16_t)(p->ssrc >> 7);
	p->ts0 = p->ssrc * 7u;
	p->cache = m->legs[s].cache;
	*ops_out = ops;
	return (int)s;
}

/* The SDES keys of a leg's call into *keys (wiped by the caller after use); NULL for plain RTP. */
static const struct dp_srtp_keys *leg_keys(const struct cp_call_media *cm, struct dp_srtp_keys *keys)
{
	if (!cm->srtp_suite)
		return NULL;
	keys->suite = cm->srtp_suite == 2 ? DP_SRTP_AES_CM_128_HMAC_SHA1_32 : DP_SRTP_AES_CM_128_HMAC_SHA1_80;
	memcpy(keys->tx_key, cm->srtp_tx_key, sizeof(keys->tx_key));
	memcpy(keys->rx_key, cm->srtp_rx_key, sizeof(keys->rx_key));
	return keys;
}

int cp_media_start(void *arg, uint32_t leg, const struct cp_call_media *cm)
{
	struct cp_media *m = arg;
	const struct codec_ops *ops;
	struct dp_flow_params p;
	struct dp_srtp_keys keys = { 0 };
	int rc, s = leg_params(m, leg, cm, &p, &ops);

	if (s < 0)
		return s;
	p.srtp = leg_keys(cm, &keys); /* copied by dp_flow_add */
	rc = dp_flow_add(flow_of(m, (uint32_t)s), &p);
	memset(&keys, 0, sizeof(keys));
	if (rc < 0)
		return rc;
	m->legs[s].ops = ops;
	m->legs[s].remote_ip = p.remote_ip;
	m->legs[s].remote_port = p.remote_port;
	m->legs[s].ptime_ms = p.ptime_ms;
	m->legs[s].ssrc = p.ssrc;
	m->legs[s].info_sent = m->legs[s].info_received = 0;
	m->legs[s].srtp = cm->srtp_suite != 0;
	m->legs[s].holds = 0;
	m->legs[s].held = false;
	m->legs[s].up = true;
	return 0;
}

int cp_media_modify(struct cp_media *m, uint32_t leg, const struct cp_call_media *cm, bool send, bool recv)
{
	const struct codec_ops *ops;
	struct dp_flow_params p;
	struct dp_srtp_keys keys = { 0 };
	int rc, s;

	if (up_slot(m, leg) == NO_SLOT)
		return -EINVAL;
	s = leg_params(m, leg, cm, &p, &ops);
	if (s < 0)
		return s;
	p.dir = (uint8_t)((send ? DP_FLOW_SEND : 0) | (recv ? DP_FLOW_RECV : 0));
	/* a re-INVITE's keys: the dataplane re-keys the directions whose key changed, keeps the others */
	p.srtp = leg_keys(cm, &keys);
	rc = dp_flow_modify(flow_of(m, (uint32_t)s), &p);
	memset(&keys, 0, sizeof(keys));
	if (rc < 0)
		return rc;
	m->legs[s].ops = ops;
	m->legs[s].remote_ip = p.remote_ip;
	m->legs[s].remote_port = p.remote_port;
	m->legs[s].ptime_ms = p.ptime_ms;
	if (!send && !m->legs[s].held)
		m->legs[s].holds++;
	m->legs[s].held = !send;
	return 0;
}

int cp_media_update(void *media, uint32_t leg, const struct cp_call_media *cm)
{
	return cp_media_modify(media, leg, cm, cm->only != CP_MEDIA_RECV_ONLY, cm->only != CP_MEDIA_SEND_ONLY);
}

static struct quality_memo *memo_slot(struct cp_media *m, const struct codec_ops *ops, double delay_ms, double ppl,
				      double burst_r)
{
	uint64_t h = (uint64_t)(uintptr_t)ops * 0x9e3779b97f4a7c15ull, bits;

	memcpy(&bits, &delay_ms, sizeof(bits));
	h = (h ^ bits) * 0x9e3779b97f4a7c15ull;
	memcpy(&bits, &ppl, sizeof(bits));
	h = (h ^ bits) * 0x9e3779b97f4a7c15ull;
	memcpy(&bits, &burst_r, sizeof(bits));
	h = (h ^ bits) * 0x9e3779b97f4a7c15ull;
	return &m->memo[h >> (64 - QUALITY_MEMO_BITS)];
}

/* MOS and R for what this leg received: G.107 with the codec's Ie/Bpl, the measured loss and its burstiness, and
 * the delay the receiver itself adds. */
static void quality(struct cp_media *m, uint32_t s, const struct dp_rx_report *r, double *mos, double *rf,
		    double *br)
{
	const struct codec_ops *ops = m->legs[s].ops;
	struct emodel_input in;
	struct emodel_result out;
	struct quality_memo *q;
	double jb = 2 * r->jitter_ms > JB_MIN_MS ? 2 * r->jitter_ms : JB_MIN_MS;
	double delay, ppl, burst_r;

	if (br)
		*br = 1.0;
	if (r->packets_received == 0) { /* no audio at all (one-way or no media): the worst, not "no loss" */
		*mos = 1.0;
		*rf = 0;
		return;
	}
	delay = emodel_one_way_delay_ms(0, jb, m->legs[s].ptime_ms);
	ppl = r->expected ? 100.0 * (double)(r->packets_lost > 0 ? r->packets_lost : 0) / (double)r->expected : 0;
	if (ppl > 100)
		ppl = 100;
	burst_r = dp_rx_burst_r(r, m->legs[s].ptime_ms);
	if (br)
		*br = burst_r;
	q = memo_slot(m, ops, delay, ppl, burst_r);
	if (q->ops != ops || q->delay_ms != delay || q->ppl != ppl || q->burst_r != burst_r) {
		emodel_defaults(&in);
		emodel_set_codec(&in, ops, ops->has_plc);
		emodel_set_delay(&in, delay);
		in.ppl = ppl;
		in.burst_r = burst_r;
		*q = (struct quality_memo){ .ops = ops, .delay_ms = delay, .ppl = ppl, .burst_r = burst_r };
		q->ok = emodel_compute(&in, &out) == 0;
		q->mos = out.mos;
		q->r = out.r;
	}
	*mos = q->ok ? q->mos : 0;
	*rf = q->ok ? q->r : 0;
}

static void ip_port(uint32_t ip, uint16_t port, char *buf, size_t len)
{
	struct in_addr a = { .s_addr = htonl(ip) };
	char s[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a, s, sizeof(s));
	snprintf(buf, len, "%s:%u", s, port);
}

/* The counters of slot s (a leg with media up): from this second's batch when `batched` and the leg is in it,
 * else read now. */
static int leg_report(struct cp_media *m, uint32_t s, bool batched, struct dp_flow_snapshot *snap,
		      struct dp_rx_report *r)
{
	if (batched && m->snap_round && m->legs[s].snap_round == m->snap_round)
		*snap = m->snap[m->legs[s].snap_at];
	else if (dp_flow_snapshot(flow_of(m, s), snap) < 0)
		return -EIO;
	dp_rx_report(&snap->rx, m->legs[s].ptime_ms, r);
	return 0;
}

void cp_media_sample_begin(void *arg)
{
	struct cp_media *m = arg;
	uint32_t n = 0;

	for (uint32_t s = 0; s < m->nslots; s++)
		n += m->legs[s].up;
	if (n > m->snap_cap) {
		uint32_t cap = n + n / 4 + 64;
		uint32_t *f = realloc(m->snap_flows, cap * sizeof(*f));
		struct dp_flow_snapshot *sn = f ? realloc(m->snap, cap * sizeof(*sn)) : NULL;

		if (f)
			m->snap_flows = f;
		if (sn)
			m->snap = sn;
		if (!f || !sn) {
			m->snap_round = 0; /* each leg reads its own counters */
			return;
		}
		m->snap_cap = cap;
	}
	if (++m->snap_round == 0)
		m->snap_round = 1;
	n = 0;
	for (uint32_t s = 0; s < m->nslots; s++) {
		if (!m->legs[s].up)
			continue;
		m->legs[s].snap_at = n;
		m->legs[s].snap_round = m->snap_round;
		m->snap_flows[n++] = flow_of(m, s);
	}
	if (dp_flow_snapshot_many(m->snap_flows, n, m->snap) < 0)
		m->snap_round = 0;
}

/* A full command ring empties within a few passes: a deleted flow must not go on sending. */
static void flow_delete(uint32_t flow)
{
	for (int i = 0; i < 20000 && dp_flow_delete(flow) == -ENOBUFS; i++)
		usleep(50);
}

void cp_media_stop(void *arg, uint32_t leg, struct cp_flow_report *out)
{
	struct cp_media *m = arg;
	struct dp_flow_snapshot snap;
	struct dp_rx_report r;
	uint32_t local_ip, s = up_slot(m, leg);
	uint16_t local_port;

	memset(out, 0, sizeof(*out));
	if (s == NO_SLOT)
		return;
	/* deleted first: the read that follows is served after the delete, so it counts every packet sent */
	flow_delete(flow_of(m, s));
	if (leg_report(m, s, false, &snap, &r) < 0)
		return;
	out->endpoint = CP_LEG_EP(leg);
	out->dtmf_sent = snap.dtmf_sent + m->legs[s].info_sent;
	out->dtmf_received = snap.dtmf_received + m->legs[s].info_received;
	out->holds = m->legs[s].holds;
	out->ssrc = r.ssrc;
	ip_port(m->legs[s].remote_ip, m->legs[s].remote_port, out->src, sizeof(out->src));
	slot_addr(m, s, &local_ip, &local_port);
	ip_port(local_ip, local_port, out->dst, sizeof(out->dst));
	cm_strlcpy(out->codec, m->legs[s].ops->name, sizeof(out->codec));
	out->packets_sent = snap.tx_packets;
	out->bytes_sent = snap.tx_bytes;
	out->packets_received = r.packets_received;
	out->bytes_received = r.bytes_received;
	out->srtp = m->legs[s].srtp; /* the deleted flow no longer holds its sessions */
	out->rtt_ms = snap.rtt_us >= 0 ? snap.rtt_us / 1000.0 : -1;
	out->packets_lost = r.packets_lost > 0 ? (uint64_t)r.packets_lost : 0;
	out->duplicate_packets = r.duplicate_packets;
	out->out_of_order_packets = r.out_of_order_packets;
	out->jitter_ms = r.jitter_ms;
	out->max_jitter_ms = r.max_jitter_ms;
	quality(m, s, &r, &out->mos, &out->r_factor, &out->burst_r);
	m->legs[s].up = false;
}

void cp_media_sample(void *arg, uint32_t leg, struct cp_sample *smp)
{
	struct cp_media *m = arg;
	struct dp_flow_snapshot snap;
	struct dp_rx_report r;
	uint32_t s = up_slot(m, leg);

	if (s == NO_SLOT || leg_report(m, s, true, &snap, &r) < 0)
		return;
	smp->has_media = true;
	smp->packets_sent = snap.tx_packets;
	smp->bytes_sent = snap.tx_bytes;
	smp->packets_received = r.packets_received;
	smp->bytes_received = r.bytes_received;
	smp->packets_lost = r.packets_lost > 0 ? (uint64_t)r.packets_lost : 0;
	smp->fraction_lost = r.fraction_lost;
	smp->duplicate_packets = r.duplicate_packets;
	smp->out_of_order_packets = r.out_of_order_packets;
	smp->sequence_number_resets = r.sequence_number_resets;
	smp->jitter_ms = r.jitter_ms;
	if (snap.rtt_us >= 0) {
		smp->has_rtt = true;
		smp->rtt_ms = snap.rtt_us / 1000.0;
	}
	smp->burst_density = r.burst_density;
	smp->gap_density = r.gap_density;
	quality(m, s, &r, &smp->mos, &smp->r_factor, NULL);
}

/* RFC 4733 §3.2 event codes: 0-9, then * # A B C D. */
int cp_media_dtmf(struct cp_media *m, uint32_t leg, char digit, uint16_t duration_ms)
{
	static const char events[] = "0123456789*#ABCD";
	const char *e = digit ? strchr(events, digit) : NULL;

	uint32_t s = up_slot(m, leg);

	if (!e || s == NO_SLOT)
		return -EINVAL;
	return dp_dtmf_send(flow_of(m, s), (uint8_t)(e - events), duration_ms, 10 /* -10 dBm0 */);
}

void cp_media_dtmf_info(struct cp_media *m, uint32_t leg, uint32_t sent, uint32_t received)
{
	if (leg >= m->nlegs || m->slot[leg] == NO_SLOT)
		return;
	m->legs[m->slot[leg]].info_sent += sent;
	m->legs[m->slot[leg]].info_received += received;
}
