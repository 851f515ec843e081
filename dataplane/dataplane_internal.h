/* dataplane/ internals shared by its .c files and its unit tests: checksums, the frame builder, the impairment
 * decisions.  Pure functions on plain buffers; no DPDK types. */
#ifndef CM_DATAPLANE_INTERNAL_H
#define CM_DATAPLANE_INTERNAL_H

#include "dataplane/dataplane.h"

#define DP_ETH_HLEN 14
#define DP_IP_HLEN 20
#define DP_UDP_HLEN 8
#define DP_RTP_HLEN 12
#define DP_HDRS_LEN (DP_ETH_HLEN + DP_IP_HLEN + DP_UDP_HLEN + DP_RTP_HLEN)

uint32_t dp_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t dp_csum_fold(uint32_t sum);
uint16_t dp_udp_csum(const uint8_t *ip, const uint8_t *udp, uint16_t udp_len);

/* Writes Ethernet + IPv4 + UDP + RTP headers and the payload for flow f into buf (at least DP_HDRS_LEN +
 * payload_len bytes); sw_csum: fill the IPv4 and UDP checksums (else the IPv4 one is 0 and the UDP one holds the
 * pseudo-header sum, as checksum offload expects).  Returns the frame length. */
uint16_t dp_build_rtp(uint8_t *buf, const struct dp_flow *f, const uint8_t src_mac[6], uint16_t ip_id,
		      bool marker, const uint8_t *payload, uint16_t payload_len, bool sw_csum);

/* What the impairment stage does with packet k of a flow. */
enum dp_imp_action { DP_IMP_SEND = 0, DP_IMP_DROP = 1u << 0, DP_IMP_DUP = 1u << 1, DP_IMP_REORDER = 1u << 2 };
static inline bool dp_impair_active(const struct dp_impair *im)
{
	return im->loss_ppm || im->ge_p_ppm || im->dup_ppm || im->reorder_ppm || im->jitter_us;
}
/* Decides for packet k of flow `flow`; *ge_bad carries the Gilbert–Elliott state between packets. */
unsigned dp_impair_decide(const struct dp_impair *im, uint32_t flow, uint32_t k, uint8_t *ge_bad);
/* Extra delay of packet k in microseconds (uniform in [0, jitter_us]). */
uint32_t dp_impair_delay_us(const struct dp_impair *im, uint32_t flow, uint32_t k);

/* RTP clock of a static payload type (RFC 3551), 0 when dynamic or unknown. */
uint32_t dp_static_pt_clock(uint8_t pt);

#endif

/* ---- engine ↔ port bring-up (port.c starts the port, engine.c runs the lcores) ---------------------------- */
struct rte_mempool;
struct dp_port_ctx {
	uint16_t port_id;
	struct rte_mempool *pool;
	unsigned nlcores;
	const unsigned *lcore_ids;
	bool tx_csum_offload;   /* IPv4 + UDP checksum offload on TX */
	bool rx_csum_offload;   /* the PMD flags checked checksums */
	int ts_offset;          /* mbuf timestamp dynfield offset, −1: none */
	uint64_t ts_flag;       /* ... and the RX flag that says it is set */
};
int dp_engine_start(const struct dp_port_ctx *ctx, char *err, size_t errlen);
void dp_engine_stop(void);  /* stops and waits for the lcores */
bool dp_engine_running(void);
void dp_engine_free(void);
