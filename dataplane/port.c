/* EAL and port bring-up, and the dataplane lcore loop.  EAL runs with whatever the configuration says; the
 * default (config/config.h) needs neither hugepages nor a NIC. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "common/common.h"
#include "dataplane/dataplane_internal.h"

#define DP_RX_DESC 1024
#define DP_TX_DESC 1024
#define DP_MBUFS_MIN 16383
#define DP_MBUFS_MAX 262143
#define DP_MBUF_CACHE 256

static struct {
	bool eal_up;
	bool port_started;
	uint16_t port_id;
	struct rte_mempool *pool;
	unsigned nlcores;
	unsigned lcore_ids[RTE_MAX_LCORE];
	FILE *log_stream;
	char log_line[512];
	size_t log_len;
} g_dp;

/* ---- EAL log lines into cm_log -------------------------------------------------------------------------- */

static enum cm_log_level from_rte_level(uint32_t l)
{
	if (l <= RTE_LOG_ERR)
		return CM_LOG_ERROR;
	if (l <= RTE_LOG_WARNING)
		return CM_LOG_WARN;
	if (l <= RTE_LOG_INFO)
		return CM_LOG_INFO;
	return CM_LOG_DEBUG;
}

static ssize_t eal_log_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\n' || g_dp.log_len == sizeof(g_dp.log_line) - 1) {
			g_dp.log_line[g_dp.log_len] = '\0';
			if (g_dp.log_len)
				cm_log(from_rte_level((uint32_t)rte_log_cur_msg_loglevel()), "dpdk", "%s", g_dp.log_line);
			g_dp.log_len = 0;
			if (buf[i] == '\n')
				continue;
		}
		g_dp.log_line[g_dp.log_len++] = buf[i];
	}
	return (ssize_t)size;
}

int dp_eal_init(const char *prog, const char *args, char *err, size_t errlen)
{
	char *argv[DP_MAX_EAL_ARGS + 2], *copy, *save = NULL, *tok;
	int argc = 0, rc;
	cookie_io_functions_t io = { .write = eal_log_write };

	copy = strdup(args);
	if (!copy)
		return -ENOMEM;
	argv[argc++] = (char *)prog;
	for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		if (argc == DP_MAX_EAL_ARGS + 1) {
			snprintf(err, errlen, "too many EAL arguments (at most %d)", DP_MAX_EAL_ARGS);
			free(copy);
			return -E2BIG;
		}
		argv[argc++] = tok;
	}
	argv[argc] = NULL;

	g_dp.log_stream = fopencookie(NULL, "w", io);
	if (g_dp.log_stream) {
		setvbuf(g_dp.log_stream, NULL, _IONBF, 0);
		rte_openlog_stream(g_dp.log_stream);
	}
	rc = rte_eal_init(argc, argv);
	free(copy); /* EAL keeps no pointers into argv after init */
	if (rc < 0) {
		snprintf(err, errlen, "DPDK EAL initialisation failed (%s) with arguments '%s'; without hugepages "
			 "or a NIC use '--no-huge --no-shconf -m 512 --no-pci --vdev=net_ring0'",
			 rte_strerror(rte_errno), args);
		return -rte_errno ? -rte_errno : -EINVAL;
	}
	g_dp.eal_up = true;
	return 0;
}

void dp_eal_cleanup(void)
{
	dp_engine_free();
	if (g_dp.eal_up) {
		rte_eal_cleanup();
		g_dp.eal_up = false;
	}
	if (g_dp.log_stream) {
		rte_openlog_stream(NULL);
		fclose(g_dp.log_stream);
		g_dp.log_stream = NULL;
	}
}

static int find_port(const char *name, uint16_t *port_id, char *err, size_t errlen)
{
	if (rte_eth_dev_count_avail() == 0) {
		snprintf(err, errlen, "EAL found no network port: name a NIC (e.g. EAL '-a 0000:03:00.0' bound to "
			 "vfio-pci) or a virtual device (e.g. '--vdev=net_ring0')");
		return -ENODEV;
	}
	if (!name || !*name) {
		RTE_ETH_FOREACH_DEV(*port_id)
			return 0;
	}
	if (rte_eth_dev_get_port_by_name(name, port_id) != 0) {
		snprintf(err, errlen, "no DPDK port named '%s' (EAL found %u port(s))", name,
			 rte_eth_dev_count_avail());
		return -ENODEV;
	}
	return 0;
}

/* Virtual devices such as net_ring start with an all-zero MAC, which no peer would answer ARP for: give them
 * a random locally administered one. */
static void ensure_unicast_mac(uint16_t port_id)
{
	struct rte_ether_addr mac;

	if (rte_eth_macaddr_get(port_id, &mac) != 0 || !rte_is_zero_ether_addr(&mac))
		return;
	rte_eth_random_addr(mac.addr_bytes);
	if (rte_eth_dev_default_mac_addr_set(port_id, &mac) != 0)
		cm_log(CM_LOG_INFO, "dataplane", "port %u has no MAC address and refuses one: frames carry a "
		       "software one", port_id);
}

static void fill_info(struct dp_port_info *info)
{
	struct rte_ether_addr mac;
	struct rte_eth_link link;
	struct rte_eth_dev_info di;

	info->port_id = g_dp.port_id;
	rte_eth_dev_get_name_by_port(g_dp.port_id, info->name);
	if (rte_eth_dev_info_get(g_dp.port_id, &di) == 0)
		snprintf(info->driver, sizeof(info->driver), "%s", di.driver_name);
	/* the address frames carry: the port's, or the software one a MAC-less virtual device gets */
	dp_port_mac(mac.addr_bytes);
	if (rte_is_zero_ether_addr(&mac) && rte_eth_macaddr_get(g_dp.port_id, &mac) != 0)
		memset(&mac, 0, sizeof(mac));
	rte_ether_format_addr(info->mac, sizeof(info->mac), &mac);
	memset(&link, 0, sizeof(link));
	if (rte_eth_link_get_nowait(g_dp.port_id, &link) == 0) {
		info->link_up = link.link_status == RTE_ETH_LINK_UP;
		info->speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
	}
	info->lcores = g_dp.nlcores;
	info->rx_queues = info->tx_queues = (uint16_t)g_dp.nlcores;
}

int dp_start(const char *port_name, struct dp_port_info *info, char *err, size_t errlen)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info di;
	uint16_t nrx = DP_RX_DESC, ntx = DP_TX_DESC;
	struct dp_port_ctx ctx = { .ts_offset = -1 };
	bool tx_csum, rx_csum;
	unsigned lcore;
	int rc;

	memset(info, 0, sizeof(*info));
	rc = find_port(port_name, &g_dp.port_id, err, errlen);
	if (rc < 0)
		return rc;
	g_dp.nlcores = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (dp_engine_lcores() && g_dp.nlcores == dp_engine_lcores())
			break; /* dp_config.lcores: the rest stay idle */
		g_dp.lcore_ids[g_dp.nlcores++] = lcore;
	}
	if (g_dp.nlcores == 0 && dp_engine_manual) /* benchmarks run the lcore passes on the main thread */
		g_dp.lcore_ids[g_dp.nlcores++] = rte_get_main_lcore();
	if (g_dp.nlcores == 0) {
		snprintf(err, errlen, "the dataplane needs at least one lcore besides the main one (EAL '-l 0,1', "
			 "or on a single CPU '--lcores=(0,1)@0')");
		return -EINVAL;
	}
	rc = rte_eth_dev_info_get(g_dp.port_id, &di);
	if (rc != 0)
		goto port_error;
	if (g_dp.nlcores > di.max_rx_queues || g_dp.nlcores > di.max_tx_queues)
		g_dp.nlcores = RTE_MIN(di.max_rx_queues, di.max_tx_queues);
	if (g_dp.nlcores > 1 && (di.flow_type_rss_offloads & RTE_ETH_RSS_UDP)) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_UDP & di.flow_type_rss_offloads;
	}
	/* Checksums: offloaded when the port does both, computed in software otherwise. */
	tx_csum = (di.tx_offload_capa & (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM)) ==
		  (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
	if (tx_csum)
		conf.txmode.offloads = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	rx_csum = (di.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM)) ==
		  (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
	if (rx_csum)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
	/* Arrival times from the PMD where it has them (NIC clocks; the pcap PMD's file times), TSC otherwise. */
	if (di.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP) {
		int off = rte_mbuf_dyn_rx_timestamp_register(&ctx.ts_offset, &ctx.ts_flag);
		if (off == 0)
			conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
		else
			ctx.ts_offset = -1;
	}

	/* Packet buffers sized from the flow count: the descriptor rings, the lcores' stashes and bursts, and the
	 * packets the reordering impairment holds (one per flow at most; a few percent of flows at a time). */
	{
		int sock = rte_eth_dev_socket_id(g_dp.port_id) < 0 ? (int)rte_socket_id()
								  : rte_eth_dev_socket_id(g_dp.port_id);
		uint64_t want = (uint64_t)(DP_RX_DESC + DP_TX_DESC + 2 * DP_MBUF_CACHE) * g_dp.nlcores +
				dp_engine_flows() / 16;
		unsigned n = DP_MBUFS_MIN;

		while (n < want && n < DP_MBUFS_MAX)
			n = 2 * n + 1;
		g_dp.pool = rte_pktmbuf_pool_create("cm_mbufs", n, DP_MBUF_CACHE, 0, RTE_MBUF_DEFAULT_BUF_SIZE, sock);
		if (!g_dp.pool && n > DP_MBUFS_MIN) {
			cm_log(CM_LOG_WARN, "dataplane", "cannot allocate %u packet buffers for %u flows (%s): using %u; "
			       "give EAL more memory with -m", n, dp_engine_flows(), rte_strerror(rte_errno),
			       DP_MBUFS_MIN);
			n = DP_MBUFS_MIN;
			g_dp.pool = rte_pktmbuf_pool_create("cm_mbufs", n, DP_MBUF_CACHE, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
							    sock);
		}
		if (!g_dp.pool) {
			snprintf(err, errlen, "cannot allocate %u packet buffers: %s (give EAL more memory with -m)", n,
				 rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	rc = rte_eth_dev_configure(g_dp.port_id, (uint16_t)g_dp.nlcores, (uint16_t)g_dp.nlcores, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(g_dp.port_id, &nrx, &ntx);
	for (unsigned q = 0; rc == 0 && q < g_dp.nlcores; q++) {
		int sock = rte_eth_dev_socket_id(g_dp.port_id);
		rc = rte_eth_rx_queue_setup(g_dp.port_id, (uint16_t)q, nrx, (unsigned)sock, NULL, g_dp.pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(g_dp.port_id, (uint16_t)q, ntx, (unsigned)sock, NULL);
	}
	if (rc == 0)
		rc = rte_eth_dev_start(g_dp.port_id);
	if (rc != 0)
		goto free_pool;
	g_dp.port_started = true;
	rte_eth_promiscuous_enable(g_dp.port_id); /* not every PMD has it; media IPs are filtered in software */
	ensure_unicast_mac(g_dp.port_id);

	ctx.port_id = g_dp.port_id;
	ctx.pool = g_dp.pool;
	ctx.nlcores = g_dp.nlcores;
	ctx.lcore_ids = g_dp.lcore_ids;
	ctx.tx_csum_offload = tx_csum;
	ctx.rx_csum_offload = rx_csum;
	ctx.loops_back = strcmp(di.driver_name, "net_ring") == 0;
	rc = dp_engine_start(&ctx, err, errlen);
	if (rc < 0) {
		rte_eth_dev_stop(g_dp.port_id);
		g_dp.port_started = false;
		rte_mempool_free(g_dp.pool);
		g_dp.pool = NULL;
		return rc;
	}
	fill_info(info);
	cm_log(CM_LOG_INFO, "dataplane", "port %u (%s, driver %s) started: MAC %s, link %s%s%u Mbps, %u lcore(s)",
	       info->port_id, info->name, info->driver, info->mac, info->link_up ? "up" : "down",
	       info->link_up ? ", " : ", speed ", info->speed_mbps, info->lcores);
	return 0;

free_pool:
	rte_mempool_free(g_dp.pool);
	g_dp.pool = NULL;
port_error:
	snprintf(err, errlen, "cannot set up DPDK port %u: %s", g_dp.port_id, rte_strerror(-rc));
	return rc < 0 ? rc : -EIO;
}

bool dp_healthy(struct dp_port_info *info)
{
	if (!g_dp.port_started)
		return false;
	fill_info(info);
	return info->link_up && dp_engine_running();
}

void dp_stop(void)
{
	if (!g_dp.port_started)
		return;
	dp_engine_stop();
	rte_eth_dev_stop(g_dp.port_id);
	rte_eth_dev_close(g_dp.port_id);
	g_dp.port_started = false;
	rte_mempool_free(g_dp.pool);
	g_dp.pool = NULL;
	cm_log(CM_LOG_INFO, "dataplane", "port %u stopped", g_dp.port_id);
}

/* Control plane only (allocates): names and values in one call each. */
int dp_port_xstats(void (*fn)(const char *name, uint64_t value, void *arg), void *arg)
{
	struct rte_eth_xstat_name *names = NULL;
	struct rte_eth_xstat *vals = NULL;
	int n, rc;

	if (!g_dp.port_started)
		return -ENODEV;
	n = rte_eth_xstats_get_names(g_dp.port_id, NULL, 0);
	if (n <= 0)
		return n;
	names = calloc((size_t)n, sizeof(*names));
	vals = calloc((size_t)n, sizeof(*vals));
	rc = -ENOMEM;
	if (!names || !vals)
		goto out;
	rc = -EIO;
	if (rte_eth_xstats_get_names(g_dp.port_id, names, (unsigned)n) != n ||
	    rte_eth_xstats_get(g_dp.port_id, vals, (unsigned)n) != n)
		goto out;
	for (int i = 0; i < n; i++)
		fn(names[vals[i].id].name, vals[i].value, arg);
	rc = n;
out:
	free(names);
	free(vals);
	return rc;
}
