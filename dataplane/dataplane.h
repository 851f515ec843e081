/* dataplane/ — DPDK: EAL bring-up, port setup, and the polled lcores that carry media.
 *
 * The control plane calls these from the main lcore only.  Functions return 0 or a negative errno and leave a
 * one-line reason in the caller's buffer; burst functions (later) return counts. */
#ifndef CM_DATAPLANE_H
#define CM_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_ERR_MAX 256
#define DP_MAX_EAL_ARGS 64

struct dp_port_info {
	uint16_t port_id;
	char name[64];
	char driver[32];
	char mac[24];
	bool link_up;
	uint32_t speed_mbps;
	uint16_t rx_queues;
	uint16_t tx_queues;
	unsigned lcores; /* dataplane lcores polling it */
};

/* Splits `args` on white space (no quoting: paths with spaces are not supported in EAL arguments) and
 * initialises EAL; EAL's own log lines go through cm_log.  Call once per process. */
int dp_eal_init(const char *prog, const char *args, char *err, size_t errlen);
void dp_eal_cleanup(void);

/* Opens the port named `port_name` (a DPDK device name such as "net_ring0" or a PCI address; empty: the first
 * port), sets up one RX/TX queue pair per dataplane lcore, starts it and launches the lcore loops. */
int dp_start(const char *port_name, struct dp_port_info *info, char *err, size_t errlen);
/* Refreshes link state; false if the port is down or the lcores have stopped. */
bool dp_healthy(struct dp_port_info *info);
/* Stops the lcores (waits for them), then the port. */
void dp_stop(void);

/* Packets and bytes received by all dataplane lcores since start (an eventually consistent read). */
void dp_rx_totals(uint64_t *packets, uint64_t *bytes);

#endif
