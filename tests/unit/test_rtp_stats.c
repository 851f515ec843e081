/* RX analysis arithmetic against hand-worked cases: RFC 3550 A.1 sequence validation (probation, wrap, resync),
 * loss / duplicates / reordering / late packets, A.8 jitter, RFC 3611 burst/gap with Gmin 16, PDV, SSRC changes
 * and timestamp jumps; the lcores' in-order path (counts kept back until dp_rx_settle, a 32-bit byte count with a
 * carry) against the general one. */
#include <math.h>
#include <string.h>

#include "dataplane/dataplane_internal.h"
#include "check_main.h"

#define MS 1000000ull

/* Feeds packets seq = first + i (i in order[]), 20 ms / 160 ticks apart, arriving on time. */
static void feed(struct dp_rx_stats *st, uint16_t first, const int *order, int n, uint32_t ssrc)
{
	for (int k = 0; k < n; k++) {
		int i = order[k];
		dp_rx_packet(st, (uint16_t)(first + i), 1000u + 160u * (uint32_t)i, ssrc, 5 * MS + 20 * MS * (uint64_t)i,
			     172);
	}
}

static int seq_without(int *order, int n, const int *skip, int nskip)
{
	int m = 0;
	for (int i = 0; i < n; i++) {
		int drop = 0;
		for (int j = 0; j < nskip; j++)
			drop |= skip[j] == i;
		if (!drop)
			order[m++] = i;
	}
	return m;
}

START_TEST(clean_stream)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;
	int order[100];
	int n = seq_without(order, 100, NULL, 0);

	dp_rx_init(&st, 8000);
	feed(&st, 1000, order, n, 0x1234);
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.ssrc, 0x1234);
	ck_assert_uint_eq(r.packets_received, 100);
	ck_assert_uint_eq(r.bytes_received, 17200);
	ck_assert_uint_eq(r.expected, 100);
	ck_assert_int_eq(r.packets_lost, 0);
	ck_assert_uint_eq(r.duplicate_packets + r.out_of_order_packets + r.late_packets, 0);
	ck_assert(r.jitter_ms == 0 && r.max_jitter_ms == 0 && r.pdv_ms == 0);
	ck_assert(r.burst_density == 0 && r.gap_density == 0);
	ck_assert_double_eq_tol(r.gap_duration_ms, 2000, 1e-9);
}
END_TEST

/* Losses at 10 and 20..22: the 9 received between 10 and 20 are fewer than Gmin, so one burst spans 10..22
 * (13 packets, 4 lost); the other 87 packets are gap.  Mean gap duration: 87 packets over 2 gaps × 20 ms. */
START_TEST(loss_and_burst)
{
	static const int skip[] = { 10, 20, 21, 22 };
	struct dp_rx_stats st;
	struct dp_rx_report r;
	int order[100];
	int n = seq_without(order, 100, skip, 4);

	dp_rx_init(&st, 8000);
	feed(&st, 7, order, n, 1);
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.packets_received, 96);
	ck_assert_uint_eq(r.expected, 100);
	ck_assert_int_eq(r.packets_lost, 4);
	ck_assert_double_eq_tol(r.fraction_lost, 0.04, 1e-12);
	ck_assert_double_eq_tol(r.burst_density, 4.0 / 13.0, 1e-12);
	ck_assert_double_eq_tol(r.gap_density, 0, 1e-12);
	ck_assert_double_eq_tol(r.burst_duration_ms, 260, 1e-9);
	ck_assert_double_eq_tol(r.gap_duration_ms, 870, 1e-9);
	ck_assert(r.jitter_ms == 0);
}
END_TEST

/* Losses at 10 and 40 are 29 received packets apart (≥ Gmin): two isolated losses, both in the gap. */
START_TEST(isolated_losses_are_gap)
{
	static const int skip[] = { 10, 40 };
	struct dp_rx_stats st;
	struct dp_rx_report r;
	int order[100];
	int n = seq_without(order, 100, skip, 2);

	dp_rx_init(&st, 8000);
	feed(&st, 0, order, n, 1);
	dp_rx_report(&st, 20, &r);
	ck_assert_int_eq(r.packets_lost, 2);
	ck_assert_double_eq_tol(r.burst_density, 0, 1e-12);
	ck_assert_double_eq_tol(r.gap_density, 2.0 / 100.0, 1e-12);
	ck_assert_double_eq_tol(r.burst_duration_ms, 0, 1e-12);
}
END_TEST

START_TEST(duplicates_reorder_late)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;
	int order[210], n = 0;

	/* 0..199 with: 5 sent twice, 30/31 swapped, 50 again after 60 (duplicate inside the window), 100 held
	 * back until after 180 (80 behind: late). */
	for (int i = 0; i < 200; i++) {
		if (i == 30) {
			order[n++] = 31;
			order[n++] = 30;
			continue;
		}
		if (i == 31 || i == 100)
			continue;
		order[n++] = i;
		if (i == 5 || i == 60)
			order[n++] = i == 5 ? 5 : 50;
		if (i == 180)
			order[n++] = 100;
	}
	dp_rx_init(&st, 8000);
	feed(&st, 65000, order, n, 9); /* wraps at 536 */
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.packets_received, 202);
	ck_assert_uint_eq(r.expected, 200);
	ck_assert_uint_eq(r.duplicate_packets, 2);
	ck_assert_uint_eq(r.out_of_order_packets, 1);
	ck_assert_uint_eq(r.late_packets, 1);
	ck_assert_int_eq(r.packets_lost, 0);
}
END_TEST

START_TEST(sequence_wrap)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;
	int order[20];
	int n = seq_without(order, 20, NULL, 0);

	dp_rx_init(&st, 8000);
	feed(&st, 65530, order, n, 3);
	ck_assert_uint_eq(st.cycles, 65536);
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.expected, 20);
	ck_assert_int_eq(r.packets_lost, 0);
}
END_TEST

/* A jump of 20000 sequence numbers: the first packet after it is held as "bad", the second confirms it
 * (RFC 3550 A.1 resync).  Both count; nothing is lost. */
START_TEST(resync_on_large_jump)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;

	dp_rx_init(&st, 8000);
	for (int i = 0; i < 50; i++)
		dp_rx_packet(&st, (uint16_t)(100 + i), 160u * (uint32_t)i, 5, 20 * MS * (uint64_t)i, 172);
	for (int i = 50; i < 60; i++)
		dp_rx_packet(&st, (uint16_t)(20000 + i), 160u * (uint32_t)i, 5, 20 * MS * (uint64_t)i, 172);
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.sequence_number_resets, 1);
	ck_assert_uint_eq(r.packets_received, 60);
	ck_assert_uint_eq(r.expected, 60);
	ck_assert_int_eq(r.packets_lost, 0);

	/* A single stray packet far away does not resync (and is not counted as expected). */
	dp_rx_packet(&st, 40000, 160u * 60, 5, 20 * MS * 60, 172);
	dp_rx_packet(&st, 20060, 160u * 61, 5, 20 * MS * 61, 172);
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.sequence_number_resets, 1);
	ck_assert_uint_eq(r.expected, 61);
	ck_assert_int_eq(r.packets_lost, 0);
}
END_TEST

/* Probation: 1 then 5 are not in sequence; 5, 6 validate the source with base 5. */
START_TEST(probation)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;
	static const uint16_t seqs[] = { 1, 5, 6, 7, 8 };

	dp_rx_init(&st, 8000);
	for (int i = 0; i < 5; i++)
		dp_rx_packet(&st, seqs[i], 160u * seqs[i], 5, 20 * MS * seqs[i], 172);
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.packets_received, 5);
	ck_assert_uint_eq(r.expected, 4);
	ck_assert_int_eq(r.packets_lost, 0);
}
END_TEST

/* Arrival deltas 20, 30, 10, 20 ms for 20 ms of timestamp each:
 * D = 0, 10, 10, 0 ms; J = 0, 0.625, 0.625 + 9.375/16 = 1.2109375, 1.2109375 × 15/16 = 1.13525390625 ms.
 * Transit relative to the first packet: 0, 0, 10, 0, 0 ms → PDV 10 ms. */
START_TEST(jitter_a8)
{
	static const uint64_t at[] = { 0, 20, 50, 60, 80 };
	struct dp_rx_stats st;
	struct dp_rx_report r;

	dp_rx_init(&st, 8000);
	for (int i = 0; i < 5; i++)
		dp_rx_packet(&st, (uint16_t)(10 + i), 4000000000u + 160u * (uint32_t)i, 77, 1000 * MS + at[i] * MS, 172);
	dp_rx_report(&st, 20, &r);
	ck_assert_double_eq_tol(r.jitter_ms, 1.13525390625, 2e-6);
	ck_assert_double_eq_tol(r.max_jitter_ms, 1.2109375, 2e-6);
	ck_assert_double_eq_tol(r.pdv_ms, 10, 1e-9);
	ck_assert_uint_eq(r.timestamp_jumps, 0);
}
END_TEST

START_TEST(ssrc_change)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;

	dp_rx_init(&st, 8000);
	for (int i = 0; i < 20; i++)
		dp_rx_packet(&st, (uint16_t)(500 + i), 160u * (uint32_t)i, 0xaaaa, 20 * MS * (uint64_t)i, 172);
	/* 2 lost in the first period (at 20, 21, before the change), then a new source from 9000 with one loss. */
	for (int i = 22; i < 40; i++)
		dp_rx_packet(&st, (uint16_t)(500 + i), 160u * (uint32_t)i, 0xaaaa, 20 * MS * (uint64_t)i, 172);
	for (int i = 0; i < 20; i++) {
		if (i == 10)
			continue;
		dp_rx_packet(&st, (uint16_t)(9000 + i), 777777u + 160u * (uint32_t)i, 0xbbbb,
			     800 * MS + 20 * MS * (uint64_t)i, 172);
	}
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.ssrc, 0xbbbb);
	ck_assert_uint_eq(r.ssrc_changes, 1);
	ck_assert_uint_eq(r.expected, 40 + 20);
	ck_assert_int_eq(r.packets_lost, 3);
	ck_assert_uint_eq(r.timestamp_jumps, 0);
	ck_assert(r.jitter_ms == 0);
}
END_TEST

/* The sender's timestamp moves 5 s ahead while packets keep arriving 20 ms apart: one jump, jitter untouched. */
START_TEST(timestamp_jump)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;

	dp_rx_init(&st, 8000);
	for (int i = 0; i < 20; i++) {
		uint32_t ts = 160u * (uint32_t)i + (i >= 10 ? 40000u : 0u);
		dp_rx_packet(&st, (uint16_t)i, ts, 1, 20 * MS * (uint64_t)i, 172);
	}
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.timestamp_jumps, 1);
	ck_assert(r.jitter_ms == 0 && r.max_jitter_ms == 0 && r.pdv_ms == 0);
	ck_assert_int_eq(r.packets_lost, 0);
}
END_TEST

START_TEST(unknown_clock_skips_timing)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;

	dp_rx_init(&st, 0);
	for (int i = 0; i < 10; i++)
		dp_rx_packet(&st, (uint16_t)i, 0, 1, 20 * MS * (uint64_t)i + (i % 2) * 7 * MS, 100);
	dp_rx_report(&st, 20, &r);
	ck_assert(r.jitter_ms == 0 && r.pdv_ms == 0);
	ck_assert_uint_eq(r.expected, 10);
}
END_TEST

/* RFC 4733 events between audio packets: 5 event packets with the event's start timestamp, 20 ms apart, then
 * audio resumes with the timestamp that kept running.  They count as received; jitter stays 0. */
START_TEST(telephone_events_skip_timing)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;

	dp_rx_init(&st, 8000);
	for (int i = 0; i < 30; i++) {
		uint32_t ts = 160u * (uint32_t)i;
		if (i >= 10 && i < 15)
			dp_rx_event_packet(&st, (uint16_t)i, 1600, 9, 20 * MS * (uint64_t)i, 16);
		else
			dp_rx_packet(&st, (uint16_t)i, ts, 9, 20 * MS * (uint64_t)i, 172);
	}
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.packets_received, 30);
	ck_assert_int_eq(r.packets_lost, 0);
	ck_assert(r.jitter_ms == 0 && r.max_jitter_ms == 0 && r.pdv_ms == 0);
	ck_assert_uint_eq(r.timestamp_jumps, 0);
}
END_TEST

/* A codec switch mid-stream (RFC 3550 §5.1: each payload format's own clock, the timestamp going on): 8 kHz
 * packets, then 48 kHz ones 960 ticks apart, then a payload type of unknown clock, then 8 kHz again, all 20 ms
 * apart and on time.  Each change of clock restarts the reference: no jitter, PDV or timestamp jump at all. */
START_TEST(clock_follows_payload_type)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;
	uint32_t ts = 5000;

	dp_rx_init(&st, 8000);
	for (int i = 0; i < 60; i++) {
		uint8_t pt = i < 20 ? 0 : i < 40 ? 111 : i < 45 ? 100 : 8;
		uint32_t clock = pt == 111 ? 48000 : pt == 100 ? 0 : 8000;

		if (pt != st.pt)
			dp_rx_payload_type(&st, pt, clock);
		ts += i == 0 ? 0 : pt == 111 ? 960 : 160;
		dp_rx_packet(&st, (uint16_t)(300 + i), ts, 4, 20 * MS * (uint64_t)i, 172);
	}
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.packets_received, 60);
	ck_assert_int_eq(r.packets_lost, 0);
	ck_assert_uint_eq(r.timestamp_jumps, 0);
	ck_assert(r.jitter_ms == 0 && r.max_jitter_ms == 0 && r.pdv_ms == 0);
	ck_assert_uint_eq(st.clock_rate, 8000);

	/* the same stream read in one clock throughout: the 48 kHz deltas are taken for 120 ms instead of 20 */
	dp_rx_init(&st, 8000);
	ts = 5000;
	for (int i = 0; i < 40; i++) {
		ts += i == 0 ? 0 : i < 20 ? 160 : 960;
		dp_rx_packet(&st, (uint16_t)(300 + i), ts, 4, 20 * MS * (uint64_t)i, 172);
	}
	dp_rx_report(&st, 20, &r);
	ck_assert_double_gt(r.max_jitter_ms, 50);
}
END_TEST

/* ---- the in-order path the lcores take: dp_rx_in_order() first, dp_rx_packet() for what it leaves --------- */

static void engine_packet(struct dp_rx_stats *st, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t at, uint32_t len)
{
	if (!dp_rx_in_order(st, seq, ts, ssrc, at, len))
		dp_rx_packet(st, seq, ts, ssrc, at, len);
}

/* b, settled, holds what a holds (a went through dp_rx_packet() only, which leaves nothing behind). */
static void assert_same(const struct dp_rx_stats *a, const struct dp_rx_stats *b_in)
{
	struct dp_rx_stats b = *b_in;
	struct dp_rx_report ra, rb;

	ck_assert_uint_eq(a->in_order, 0);
	dp_rx_settle(&b);
	ck_assert_uint_eq(b.in_order, 0);
	ck_assert_uint_eq(a->packets, b.packets);
	ck_assert_uint_eq(a->received, b.received);
	ck_assert_uint_eq(a->gap_pkts, b.gap_pkts);
	ck_assert_uint_eq(a->seen, b.seen);
	ck_assert_uint_eq(a->max_seq, b.max_seq);
	ck_assert_uint_eq(a->cycles, b.cycles);
	ck_assert_uint_eq(a->bytes_lo, b.bytes_lo);
	ck_assert_uint_eq(a->bytes_hi, b.bytes_hi);
	ck_assert_uint_eq(a->slow, b.slow);
	ck_assert_uint_eq(a->jitter_ns, b.jitter_ns);
	ck_assert_int_eq(a->rel_transit_ns, b.rel_transit_ns);
	/* and the report from the unsettled state is the settled one's */
	dp_rx_report(a, 20, &ra);
	dp_rx_report(b_in, 20, &rb);
	ck_assert_int_eq(memcmp(&ra, &rb, sizeof(ra)), 0);
}

/* A stream with everything the general path handles — losses single and in bursts, duplicates, reordering, late
 * packets, sequence wraps, resyncs, SSRC changes, clock changes, timestamp jumps, telephone events — fed to one
 * stats through dp_rx_packet() and to another the lcores' way: the same state, checked along the way. */
START_TEST(in_order_path_matches_general)
{
	struct dp_rx_stats a, b;
	uint64_t x = 0x9e3779b97f4a7c15ull, at = 0;
	uint32_t ssrc = 7, ts = 0, in_order = 0, wraps = 0;
	uint16_t seq = 65000;

	dp_rx_init(&a, 8000);
	dp_rx_init(&b, 8000);
	for (int i = 0; i < 200000; i++) {
		uint64_t r;
		uint16_t s = seq;
		uint32_t t = ts, len = 172;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = x % 1000;
		seq++;
		ts += 160;
		at += 20 * MS + (x >> 20) % (3 * MS);
		if (r < 20) {          /* lost: one, or a burst */
			uint16_t k = (uint16_t)(r < 5 ? 1 + (x >> 40) % 40 : 1);
			seq = (uint16_t)(seq + k);
			ts += 160u * k;
			continue;
		} else if (r < 30) {   /* a duplicate, an old one, or one far behind */
			s = (uint16_t)(seq - 1 - (r < 25 ? 0 : (x >> 30) % 200));
		} else if (r < 32) {   /* SSRC change */
			ssrc++;
		} else if (r == 32) {  /* a restarted sender: jump */
			seq = (uint16_t)(seq + 20000);
			s = seq;
		} else if (r == 33) {  /* timestamp jump */
			ts += 8000 * 5;
			t = ts;
		} else if (r == 34) {  /* another clock, and back */
			dp_rx_payload_type(&a, 8, (x >> 33) & 1 ? 16000 : 8000);
			dp_rx_payload_type(&b, 8, (x >> 33) & 1 ? 16000 : 8000);
		} else if (r == 35) {  /* a telephone event (the engine sends these to dp_rx_event_packet too) */
			dp_rx_event_packet(&a, s, t, ssrc, at, 16);
			dp_rx_event_packet(&b, s, t, ssrc, at, 16);
			continue;
		} else if (r < 40) {   /* a large packet: the byte count goes on */
			len = 1400 + (uint32_t)(x >> 50);
		}
		if (s == seq)
			t = ts;
		dp_rx_packet(&a, s, t, ssrc, at, len);
		if (dp_rx_in_order(&b, s, t, ssrc, at, len)) {
			in_order++;
			wraps += s == 0;
		} else {
			dp_rx_packet(&b, s, t, ssrc, at, len);
		}
		if (r >= 990)
			assert_same(&a, &b);
	}
	assert_same(&a, &b);
	ck_assert_uint_gt(in_order, 100000);  /* the in-order path was taken, */
	ck_assert_uint_gt(a.duplicates, 100); /* and so were the others */
	ck_assert_uint_gt(a.out_of_order, 20);
	ck_assert_uint_gt(a.ssrc_changes, 100);
	ck_assert_uint_gt(a.seq_resets, 10);
	ck_assert_uint_gt(a.ts_jumps, 10);
	ck_assert_uint_gt(a.bursts, 100);
	ck_assert_uint_gt(wraps, 0);
}
END_TEST

/* The byte count: 32 bits on the in-order path's line, carried into bytes_hi, on either path. */
START_TEST(rx_bytes_carry)
{
	struct dp_rx_stats st;
	struct dp_rx_report r;
	uint64_t at = 0;
	uint16_t seq = 0;

	dp_rx_init(&st, 8000);
	for (; seq < 3; seq++, at += 20 * MS)
		dp_rx_packet(&st, seq, 160u * seq, 1, at, 172);
	ck_assert_uint_eq(dp_rx_bytes(&st), 3 * 172);
	st.bytes_lo = 0xffffff00u;
	engine_packet(&st, seq, 160u * seq, 1, at, 0xff); /* in order: up to 2^32 − 1 */
	seq++, at += 20 * MS;
	ck_assert_uint_eq(st.in_order, 1);
	ck_assert_uint_eq(dp_rx_bytes(&st), 0xffffffffull);
	engine_packet(&st, seq, 160u * seq, 1, at, 1);    /* in order: the carry */
	seq++, at += 20 * MS;
	ck_assert_uint_eq(st.in_order, 2);
	ck_assert_uint_eq(dp_rx_bytes(&st), 0x100000000ull);
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.bytes_received, 0x100000000ull);
	ck_assert_uint_eq(r.packets_received, 5);
	st.bytes_lo = 0xfffffff0u;
	engine_packet(&st, (uint16_t)(seq - 1), 160u * (seq - 1), 1, at, 0x20); /* a duplicate: the general path */
	ck_assert_uint_eq(st.in_order, 0);
	ck_assert_uint_eq(st.duplicates, 1);
	ck_assert_uint_eq(dp_rx_bytes(&st), 0x200000010ull);
	st.bytes_hi = 0xffffffffu;
	st.bytes_lo = 0xfffffffeu;
	engine_packet(&st, seq, 160u * seq, 1, at, 2);    /* the top of 64 bits wraps to 0, as a uint64_t would */
	ck_assert_uint_eq(dp_rx_bytes(&st), 0);
	dp_rx_report(&st, 20, &r);
	ck_assert_uint_eq(r.packets_received, 7);
	ck_assert_int_eq(r.packets_lost, 0);
}
END_TEST

/* 2^32 − 1 in-order packets kept back: the next one goes the general way (settling them first), so that the
 * count never wraps into a wrong seen window. */
START_TEST(in_order_count_full)
{
	struct dp_rx_stats a, b;
	uint64_t at = 0;
	uint16_t seq = 100;

	dp_rx_init(&a, 8000);
	for (; seq < 200; seq++, at += 20 * MS)
		dp_rx_packet(&a, seq, 160u * seq, 9, at, 172);
	ck_assert_uint_eq(a.seen, ~0ull);
	/* b: the same state, with all but two of its packets kept back as in-order ones */
	b = a;
	b.in_order = UINT32_MAX;
	b.packets -= UINT32_MAX;
	b.received -= UINT32_MAX;
	b.gap_pkts -= UINT32_MAX;
	b.seen = 3;
	assert_same(&a, &b);
	ck_assert(!dp_rx_in_order(&b, seq, 160u * seq, 9, at, 172));
	ck_assert_uint_eq(b.in_order, UINT32_MAX); /* refused: nothing changed */
	dp_rx_packet(&b, seq, 160u * seq, 9, at, 172);
	ck_assert_uint_eq(b.in_order, 0);
	dp_rx_packet(&a, seq, 160u * seq, 9, at, 172);
	assert_same(&a, &b);
	ck_assert_uint_eq(b.packets, 101);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rtp_stats");
	TCase *tc = tcase_create("rx");

	tcase_add_test(tc, clean_stream);
	tcase_add_test(tc, loss_and_burst);
	tcase_add_test(tc, isolated_losses_are_gap);
	tcase_add_test(tc, duplicates_reorder_late);
	tcase_add_test(tc, sequence_wrap);
	tcase_add_test(tc, resync_on_large_jump);
	tcase_add_test(tc, probation);
	tcase_add_test(tc, jitter_a8);
	tcase_add_test(tc, ssrc_change);
	tcase_add_test(tc, timestamp_jump);
	tcase_add_test(tc, unknown_clock_skips_timing);
	tcase_add_test(tc, telephone_events_skip_timing);
	tcase_add_test(tc, clock_follows_payload_type);
	tcase_add_test(tc, in_order_path_matches_general);
	tcase_add_test(tc, rx_bytes_carry);
	tcase_add_test(tc, in_order_count_full);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
