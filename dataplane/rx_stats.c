/* Per-flow receive statistics: RFC 3550 A.1 / A.8, RFC 3611 §4.7.2, RFC 5481 PDV.  Pure arithmetic on one
 * struct per flow, called once per packet on the owning lcore: no allocation, no floating point on the
 * per-packet path. */
#include <stdbool.h>
#include <math.h>
#include <string.h>

#include "codecs/codecs.h"
#include "dataplane/dataplane_internal.h"

#define RTP_SEQ_MOD (1u << 16)
_Static_assert(DP_RX_GMIN <= UINT8_MAX, "the open candidate's run is a byte");

enum rx_kind { RX_PROBATION, RX_IN_ORDER, RX_DUPLICATE, RX_OUT_OF_ORDER, RX_LATE, RX_BAD, RX_RESYNC };

/* What keeps a packet off the in-order path, after anything that changes one of them. */
static void slow_update(struct dp_rx_stats *st)
{
	st->slow = !st->have_ssrc || st->probation || st->cand_lost || !st->clock_rate || st->clock_restart;
}

void dp_rx_init(struct dp_rx_stats *st, uint32_t clock_rate)
{
	memset(st, 0, sizeof(*st));
	st->clock_rate = clock_rate;
	st->pt = DP_RX_PT_NONE;
	slow_update(st);
}

void dp_rx_payload_type(struct dp_rx_stats *st, uint8_t pt, uint32_t clock)
{
	st->pt = pt;
	if (clock == st->clock_rate)
		return; /* the same clock: its timestamps go on (RFC 3550 §5.1) */
	st->clock_rate = clock;
	st->clock_restart = 1;
	slow_update(st);
}

/* Each in-order packet counted by dp_rx_in_order() is one more packet, received in sequence, in a gap. */
void dp_rx_settle(struct dp_rx_stats *st)
{
	uint32_t n = st->in_order;

	if (!n)
		return;
	st->packets += n;
	st->received += n;
	st->gap_pkts += n;
	st->seen = n >= DP_RX_WINDOW ? ~0ull : st->seen << n | ((1ull << n) - 1);
	st->in_order = 0;
}

/* ---- RFC 3611 §4.7.2: a burst is the longest run that starts and ends with a loss and holds no Gmin
 * consecutive received packets; an isolated loss (a candidate burst of one loss) belongs to the gap around it,
 * as the RFC's reference code counts it (c14).  Only the candidate burst's trailing run is pending. ---------- */

static void burst_close(struct dp_rx_stats *st)
{
	if (st->cand_lost >= 2) {
		st->bursts++;
		st->burst_pkts += st->cand_pkts;
		st->burst_lost += st->cand_lost;
	} else if (st->cand_lost == 1) {
		st->gap_pkts++;
		st->gap_lost++;
	}
	st->cand_lost = st->cand_pkts = 0;
}

static void burst_received(struct dp_rx_stats *st)
{
	if (!st->cand_lost) {
		st->gap_pkts++;
		return;
	}
	if (++st->run >= DP_RX_GMIN) {
		burst_close(st);
		st->gap_pkts += st->run;
		st->run = 0;
	}
}

static void burst_lost(struct dp_rx_stats *st, uint32_t n)
{
	if (st->cand_lost) {
		st->cand_pkts += st->run + n;
	} else {
		st->cand_pkts = n;
	}
	st->cand_lost += n;
	st->run = 0;
}

/* ---- RFC 3550 A.1 ---------------------------------------------------------------------------------------- */

static void init_seq(struct dp_rx_stats *st, uint16_t seq)
{
	st->base_seq = seq;
	st->max_seq = seq;
	st->bad_seq = RTP_SEQ_MOD + 1;
	st->cycles = 0;
	st->received = 0;
	st->seen = 1;
}

static uint32_t expected_now(const struct dp_rx_stats *st)
{
	if (st->probation || !st->have_ssrc)
		return 0;
	return st->cycles + st->max_seq - st->base_seq + 1;
}

/* Closes the counting period of the current source (SSRC change, resync) so that loss stays cumulative. */
static void fold_period(struct dp_rx_stats *st)
{
	uint32_t exp = expected_now(st);

	st->expected_prior += exp;
	st->lost_prior += (int32_t)(exp - st->received);
}

static enum rx_kind update_seq(struct dp_rx_stats *st, uint16_t seq)
{
	uint16_t udelta = (uint16_t)(seq - st->max_seq);

	if (st->probation) {
		if (seq == (uint16_t)(st->max_seq + 1)) {
			st->probation--;
			st->max_seq = seq;
			if (st->probation == 0) {
				/* A.1 starts counting at this packet; the probation packets were in sequence with
				 * it, so they count too (expected and received alike). */
				init_seq(st, seq);
				st->base_seq = (uint32_t)seq - (DP_RX_MIN_SEQUENTIAL - 1); /* modular */
				st->seen = (1ull << DP_RX_MIN_SEQUENTIAL) - 1;
				st->received = DP_RX_MIN_SEQUENTIAL;
				for (int i = 0; i < DP_RX_MIN_SEQUENTIAL; i++)
					burst_received(st);
				return RX_IN_ORDER;
			}
		} else {
			st->probation = DP_RX_MIN_SEQUENTIAL - 1;
			st->max_seq = seq;
		}
		return RX_PROBATION;
	}
	if (udelta == 0) {
		st->received++;
		st->duplicates++;
		return RX_DUPLICATE;
	}
	if (udelta < DP_RX_MAX_DROPOUT) {
		if (seq < st->max_seq)
			st->cycles += RTP_SEQ_MOD;
		st->max_seq = seq;
		st->seen = udelta >= DP_RX_WINDOW ? 1 : (st->seen << udelta) | 1;
		if (udelta > 1)
			burst_lost(st, udelta - 1u);
		burst_received(st);
		st->received++;
		return RX_IN_ORDER;
	}
	if (udelta <= RTP_SEQ_MOD - DP_RX_MAX_MISORDER) {
		/* A large jump: a restarted sender, or garbage.  Believe it when the next packet follows it. */
		if (seq == st->bad_seq) {
			fold_period(st);
			st->seq_resets++;
			init_seq(st, seq);
			st->base_seq = (uint32_t)seq - 1; /* modular; the packet that announced the jump counts too */
			st->seen = 3;
			st->received = 2;
			burst_received(st);
			burst_received(st);
			return RX_RESYNC;
		}
		st->bad_seq = (seq + 1) & (RTP_SEQ_MOD - 1);
		return RX_BAD;
	}
	/* Behind the highest sequence number: duplicate, reordered, or too late to tell. */
	st->received++;
	uint32_t back = RTP_SEQ_MOD - udelta;
	if (back >= DP_RX_WINDOW) {
		st->late++;
		return RX_LATE;
	}
	if (st->seen & (1ull << back)) {
		st->duplicates++;
		return RX_DUPLICATE;
	}
	st->seen |= 1ull << back;
	st->out_of_order++;
	return RX_OUT_OF_ORDER;
}

/* A new source (first packet, or an SSRC change): RFC 3550 A.1 probation from this packet on. */
static void start_source(struct dp_rx_stats *st, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t arrival_ns)
{
	st->ssrc = ssrc;
	st->have_ssrc = 1;
	init_seq(st, seq);
	st->max_seq = (uint16_t)(seq - 1);
	st->probation = DP_RX_MIN_SEQUENTIAL;
	update_seq(st, seq);
	st->last_ts = ts;
	st->last_arrival_ns = arrival_ns;
	st->rel_transit_ns = 0;
	st->clock_restart = 0;
}

static void rx_packet(struct dp_rx_stats *st, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t arrival_ns,
		      uint32_t len, bool timing)
{
	st->packets++;
	dp_add_split(&st->bytes_lo, &st->bytes_hi, len);
	if (!st->have_ssrc || ssrc != st->ssrc) {
		if (st->have_ssrc) {
			st->ssrc_changes++;
			fold_period(st);
		}
		start_source(st, seq, ts, ssrc, arrival_ns);
		return;
	}
	enum rx_kind kind = update_seq(st, seq);
	if (!timing)
		return;
	if (kind == RX_DUPLICATE || kind == RX_BAD || !st->clock_rate) {
		st->last_arrival_ns = arrival_ns;
		return;
	}
	if (st->clock_restart) { /* the first packet in another clock: the new reference, as a timestamp jump's */
		st->clock_restart = 0;
		st->last_ts = ts;
		st->last_arrival_ns = arrival_ns;
		st->rel_transit_ns = 0;
		return;
	}
	dp_rx_timing(st, ts, arrival_ns);
}

void dp_rx_packet(struct dp_rx_stats *st, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t arrival_ns,
		  uint32_t len)
{
	dp_rx_settle(st);
	if (!dp_rx_in_order(st, seq, ts, ssrc, arrival_ns, len)) {
		rx_packet(st, seq, ts, ssrc, arrival_ns, len, true);
		slow_update(st);
	}
	dp_rx_settle(st);
}

/* RFC 4733 event packets share the stream's sequence numbers but all carry the event's start timestamp: they
 * count for sequence and loss, and leave the jitter reference on the last media packet. */
void dp_rx_event_packet(struct dp_rx_stats *st, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t arrival_ns,
			uint32_t len)
{
	dp_rx_settle(st);
	rx_packet(st, seq, ts, ssrc, arrival_ns, len, false);
	slow_update(st);
}

void dp_rx_report(const struct dp_rx_stats *in, double ptime_ms, struct dp_rx_report *out)
{
	struct dp_rx_stats settled = *in, *st = &settled;

	dp_rx_settle(st);
	uint64_t expected = (uint64_t)st->expected_prior + expected_now(st);
	int64_t lost = (int64_t)st->lost_prior + (int64_t)expected_now(st) - (int64_t)st->received +
		       (int64_t)st->duplicates;
	uint64_t bpkts = st->burst_pkts, blost = st->burst_lost, bursts = st->bursts;
	uint64_t gpkts = st->gap_pkts + st->run, glost = st->gap_lost;

	memset(out, 0, sizeof(*out));
	/* The open candidate closes as if Gmin received packets followed (RFC 3611 §4.7.2). */
	if (st->cand_lost >= 2) {
		bpkts += st->cand_pkts;
		blost += st->cand_lost;
		bursts++;
	} else if (st->cand_lost == 1) {
		gpkts++;
		glost++;
	}
	out->ssrc = st->ssrc;
	out->packets_received = st->packets;
	out->bytes_received = dp_rx_bytes(st);
	out->expected = expected;
	out->packets_lost = lost;
	out->fraction_lost = expected ? (double)lost / (double)expected : 0.0;
	out->duplicate_packets = st->duplicates;
	out->out_of_order_packets = st->out_of_order;
	out->late_packets = st->late;
	out->ssrc_changes = st->ssrc_changes;
	out->sequence_number_resets = st->seq_resets;
	out->timestamp_jumps = st->ts_jumps;
	out->jitter_ms = st->jitter_ns / 1e6;
	out->max_jitter_ms = st->max_jitter_ns / 1e6;
	out->pdv_ms = ((int64_t)st->pdv_max_us - st->pdv_min_us) / 1e3;
	out->burst_density = bpkts ? (double)blost / (double)bpkts : 0.0;
	out->gap_density = gpkts ? (double)glost / (double)gpkts : 0.0;
	out->burst_duration_ms = bursts ? (double)bpkts / (double)bursts * ptime_ms : 0.0;
	out->gap_duration_ms = gpkts ? (double)gpkts / (double)(bursts + 1) * ptime_ms : 0.0;
	out->last_arrival_ns = st->last_arrival_ns;
}

/* G.107 §3.3.2: BurstR = 1 / (p + q) for a two-state Markov loss model, p = P(lost | previous received) and
 * q = P(received | previous lost) — each the number of loss runs over the received or the lost packets.  The
 * dataplane reports RFC 3611 burst/gap figures rather than runs, so runs are estimated from them: every gap loss
 * is a run of its own (isolated by definition), every burst starts one, and each stretch of received packets
 * inside a burst starts another; a stretch is taken as long as a geometric run of received packets at the
 * overall loss rate, given that it is shorter than Gmin (a longer one would have ended the burst).  On simulated
 * random and Gilbert–Elliott loss this lands within a few percent of the exact Markov estimate (random: 1.0).
 * The counts come back from the report's means: with Db = burst packets per burst and Dg = gap packets per gap
 * (bursts + 1 gaps), bursts = (total - Dg) / (Db + Dg). */
double dp_rx_burst_r(const struct dp_rx_report *r, double ptime_ms)
{
	double total = (double)r->expected, db = r->burst_duration_ms / ptime_ms, dg = r->gap_duration_ms / ptime_ms;
	double bursts, bpkts, blost, glost, lost, x, w = 0, wk = 0, runs;

	if (r->packets_lost <= 0 || total <= 0 || ptime_ms <= 0 || db + dg <= 0)
		return 1.0;
	bursts = db > 0 ? fmax(0, (total - dg) / (db + dg)) : 0;
	bpkts = bursts * db;
	blost = r->burst_density * bpkts;
	glost = r->gap_density * (total - bpkts);
	lost = blost + glost;
	if (lost <= 0 || lost >= total)
		return 1.0;
	x = lost / total;
	for (unsigned k = 1; k < DP_RX_GMIN; k++) {
		double pk = pow(1 - x, k - 1) * x; /* P(a received stretch is k long) */
		w += pk;
		wk += k * pk;
	}
	runs = glost + bursts + (bpkts - blost) / (w > 0 ? wk / w : 1);
	return emodel_burst_r(runs / (total - lost), fmin(1.0, runs / lost));
}
