/* How the RX analysis sees a call put on hold by its sender (controlplane hold_at/hold_for): the dataplane stops
 * sending but keeps the RTP clock running, so after the hold the sequence numbers go on where they stopped and
 * the timestamp has moved by the held time.  That must count no loss, no reordering and no jitter; a sender
 * that froze its timestamp over a long hold shows as one timestamp jump, also without jitter. */
#include "dataplane/dataplane.h"
#include "check_main.h"

#define MS 1000000ull

/* 100 packets, a hold of held_ms (the timestamp advancing by ts_ms of it), 100 more; 20 ms / 160 ticks apart. */
static void held_stream(struct dp_rx_report *r, uint32_t held_ms, uint32_t ts_ms)
{
	struct dp_rx_stats st;
	uint64_t t = 3 * MS;
	uint32_t ts = 4242;

	dp_rx_init(&st, 8000);
	for (int i = 0; i < 200; i++) {
		if (i == 100) {
			t += (uint64_t)held_ms * MS;
			ts += ts_ms * 8;
		}
		dp_rx_packet(&st, (uint16_t)(65500 + i), ts, 0xfeed, t, 172); /* the sequence wraps on the way */
		t += 20 * MS;
		ts += 160;
	}
	dp_rx_report(&st, 20, r);
}

START_TEST(hold_gap_is_not_loss_or_jitter)
{
	struct dp_rx_report r;

	held_stream(&r, 3000, 3000);
	ck_assert_uint_eq(r.packets_received, 200);
	ck_assert_uint_eq(r.expected, 200);
	ck_assert_int_eq(r.packets_lost, 0);
	ck_assert(r.fraction_lost == 0);
	ck_assert_uint_eq(r.out_of_order_packets + r.duplicate_packets + r.late_packets, 0);
	ck_assert_uint_eq(r.sequence_number_resets + r.timestamp_jumps + r.ssrc_changes, 0);
	ck_assert(r.jitter_ms == 0 && r.max_jitter_ms == 0 && r.pdv_ms == 0);
	ck_assert(r.burst_density == 0 && r.gap_density == 0);
}
END_TEST

START_TEST(frozen_timestamp_is_one_jump)
{
	struct dp_rx_report r;

	held_stream(&r, 3000, 0);
	ck_assert_int_eq(r.packets_lost, 0);
	ck_assert_uint_eq(r.timestamp_jumps, 1);
	ck_assert(r.jitter_ms == 0 && r.max_jitter_ms == 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rx_hold");
	TCase *tc = tcase_create("rx_hold");

	tcase_add_test(tc, hold_gap_is_not_loss_or_jitter);
	tcase_add_test(tc, frozen_timestamp_is_one_jump);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
