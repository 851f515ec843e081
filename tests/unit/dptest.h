/* Helpers for tests that run the real dataplane in-process: waiting for the lcores to apply commands, and
 * stopping flows to count what they sent. */
#ifndef CM_TEST_DPTEST_H
#define CM_TEST_DPTEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <check.h>

#include "common/common.h"
#include "dataplane/dataplane_internal.h"

/* The lcore loop driven by hand (dp_engine_manual): passes of lcore 0 for `ms` milliseconds. */
static inline void dpt_run_for_ms(unsigned ms)
{
	uint64_t end = cm_now_us() + ms * 1000ull;

	while (cm_now_us() < end)
		dp_engine_poll_once(0);
}

/* EAL on DPDK's pcap PMD (net_pcap0) for a test named `name`: in a new temporary directory (dir: a mkdtemp
 * template) an empty rx.pcap to receive from, and tx.pcap (its path into tx) for what is sent, complete once
 * dp_stop() has closed it. */
static inline void dpt_pcap_eal(const char *name, char *dir, char *tx, size_t txlen)
{
	static const uint32_t hdr[6] = { 0xa1b2c3d4, 2 | 4u << 16, 0, 0, 65535, 1 }; /* pcap, Ethernet */
	char rx[256], eal[768], err[DP_ERR_MAX];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(rx, sizeof(rx), "%s/rx.pcap", dir);
	snprintf(tx, txlen, "%s/tx.pcap", dir);
	f = fopen(rx, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(hdr, sizeof(hdr), 1, f), 1);
	fclose(f);
	snprintf(eal, sizeof(eal), "--no-huge --no-shconf -m 256 --no-pci -l 0,1 --log-level=error "
		 "--vdev=net_pcap0,rx_pcap=%s,tx_pcap=%s", rx, tx);
	ck_assert_msg(dp_eal_init(name, eal, err, sizeof(err)) == 0, "%s", err);
}

/* Until every lcore has applied every command sent (2 s at most). */
static inline void dpt_wait_commands(void)
{
	for (int i = 0; i < 2000 && !dp_commands_done(); i++)
		usleep(1000);
	ck_assert(dp_commands_done());
}

/* Flows 0..n-1 stop sending (inactive); once the lcores have applied it and the last packets are out, each
 * flow's packets sent and packets its impairment dropped (each flow sent at least min_sent). */
static inline void dpt_stop_and_count(uint32_t n, uint32_t local_ip, uint64_t *sent, uint64_t *lost,
				      uint64_t min_sent)
{
	for (uint32_t i = 0; i < n; i++) {
		struct dp_flow_params p = { .local_ip = local_ip, .dir = 0 };

		ck_assert_int_eq(dp_flow_modify(i, &p), 0);
	}
	dpt_wait_commands();
	usleep(50000);
	for (uint32_t i = 0; i < n; i++) {
		struct dp_flow_snapshot s;

		ck_assert_int_eq(dp_flow_snapshot(i, &s), 0);
		sent[i] = s.tx_packets;
		lost[i] = s.imp_lost;
		ck_assert_uint_ge(sent[i], min_sent);
	}
}

#endif
