/* ARP and ICMP echo for the dataplane's media IPs, and the bounded ARP cache.  Pure functions on buffers. */
#include <errno.h>
#include <string.h>

#include "dataplane/dataplane_internal.h"

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/* Ethernet header with an optional 802.1Q tag; returns the offset of the payload. */
static unsigned eth_header(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6], uint16_t vlan, uint16_t type)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	if (vlan) {
		wr16(buf + 12, 0x8100);
		wr16(buf + 14, vlan & 0x0fff);
		wr16(buf + 16, type);
		return 18;
	}
	wr16(buf + 12, type);
	return 14;
}

uint16_t dp_arp_build(uint8_t *buf, uint16_t vlan, uint16_t op, const uint8_t src_mac[6], uint32_t src_ip,
		      const uint8_t dst_mac[6], uint32_t dst_ip)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, zero[6] = { 0 };
	unsigned off = eth_header(buf, op == 1 ? bcast : dst_mac, src_mac, vlan, 0x0806);
	uint8_t *a = buf + off;

	wr16(a, 1);      /* Ethernet */
	wr16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, op);
	memcpy(a + 8, src_mac, 6);
	wr32(a + 14, src_ip);
	memcpy(a + 18, op == 1 ? zero : dst_mac, 6);
	wr32(a + 24, dst_ip);
	memset(a + 28, 0, DP_ARP_FRAME_LEN + (vlan ? 4 : 0) - off - 28);
	return (uint16_t)(DP_ARP_FRAME_LEN + (vlan ? 4 : 0));
}

int dp_arp_parse(const uint8_t *f, uint32_t len, struct dp_arp *out)
{
	uint32_t off = 14;

	if (len >= 18 && dp_rd16(f + 12) == 0x8100)
		off = 18;
	if (len < off + 28 || dp_rd16(f + off - 2) != 0x0806)
		return -EINVAL;
	f += off;
	if (dp_rd16(f) != 1 || dp_rd16(f + 2) != 0x0800 || f[4] != 6 || f[5] != 4)
		return -EINVAL;
	out->op = dp_rd16(f + 6);
	memcpy(out->sender_mac, f + 8, 6);
	out->sender_ip = dp_rd32(f + 14);
	out->target_ip = dp_rd32(f + 24);
	return out->op == 1 || out->op == 2 ? 0 : -EINVAL;
}

/* RFC 1624 incremental update is not worth it here: echo requests are rare, the sum is recomputed. */
bool dp_icmp_echo_reply(uint8_t *f, uint32_t len, uint32_t own_ip)
{
	uint32_t off = 14, ihl, tot;
	uint8_t *ip, *icmp, tmp[6];

	if (len >= 18 && dp_rd16(f + 12) == 0x8100)
		off = 18;
	if (len < off + 20 || dp_rd16(f + off - 2) != 0x0800)
		return false;
	ip = f + off;
	ihl = (ip[0] & 0x0fu) * 4u;
	tot = dp_rd16(ip + 2);
	if (ip[0] >> 4 != 4 || ihl < 20 || tot < ihl + 8 || len < off + tot || ip[9] != 1 || dp_rd32(ip + 16) != own_ip ||
	    (dp_rd16(ip + 6) & 0x3fff))
		return false;
	icmp = ip + ihl;
	if (icmp[0] != 8 || icmp[1] != 0 || dp_csum_fold(dp_csum_add(0, icmp, tot - ihl)) != 0)
		return false;
	memcpy(tmp, f, 6);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, tmp, 6);
	wr32(ip + 16, dp_rd32(ip + 12));
	wr32(ip + 12, own_ip);
	ip[8] = 64;
	wr16(ip + 10, 0);
	wr16(ip + 10, dp_csum_fold(dp_csum_add(0, ip, ihl)));
	icmp[0] = 0;
	wr16(icmp + 2, 0);
	wr16(icmp + 2, dp_csum_fold(dp_csum_add(0, icmp, tot - ihl)));
	return true;
}

static uint32_t arp_hash(uint32_t ip)
{
	return (ip * 0x9e3779b1u) ^ (ip >> 16);
}

/* Every lcore learns into and reads from the one cache (an ARP reply may arrive on any lcore's queue), so each
 * entry carries a sequence count, seqlock style: a writer takes it odd with a compare-and-swap (a writer that
 * loses the race skips this learning: the next ARP packet learns again, nobody waits), rewrites the entry and
 * makes it even; a reader copies the entry between two even, equal readings and tries again otherwise.  An
 * entry evicted for another address can therefore never be read with the old address and the new MAC. */
#define DP_ARP_READ_TRIES 4

bool dp_arp_lookup(const struct dp_arp_cache *c, uint32_t ip, struct dp_arp_entry *out)
{
	uint32_t h = arp_hash(ip);

	for (unsigned i = 0; i < DP_ARP_PROBE; i++) {
		const struct dp_arp_entry *e = &c->e[(h + i) & c->mask];

		for (unsigned t = 0; t < DP_ARP_READ_TRIES; t++) {
			uint16_t s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE), s2;
			struct dp_arp_entry copy;

			if (s1 & 1)
				continue; /* being rewritten */
			copy.ip = __atomic_load_n(&e->ip, __ATOMIC_RELAXED);
			for (unsigned b = 0; b < 6; b++)
				copy.mac[b] = __atomic_load_n(&e->mac[b], __ATOMIC_RELAXED);
			copy.learned_ns = __atomic_load_n(&e->learned_ns, __ATOMIC_RELAXED);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			s2 = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
			if (s1 != s2)
				continue;
			if (copy.ip != ip)
				break;
			copy.seq = s1;
			*out = copy;
			return true;
		}
	}
	return false;
}

bool dp_arp_learn(struct dp_arp_cache *c, uint32_t ip, const uint8_t mac[6], uint64_t now_ns)
{
	uint32_t h = arp_hash(ip);
	struct dp_arp_entry *victim = NULL;
	uint64_t victim_ns = 0;
	uint32_t victim_ip = 0;
	uint16_t s;

	if (!ip)
		return false;
	for (unsigned i = 0; i < DP_ARP_PROBE; i++) {
		struct dp_arp_entry *e = &c->e[(h + i) & c->mask];
		uint32_t eip = __atomic_load_n(&e->ip, __ATOMIC_RELAXED);
		uint64_t ens = __atomic_load_n(&e->learned_ns, __ATOMIC_RELAXED);

		if (eip == ip) {
			victim = e;
			break;
		}
		if (!victim || (victim_ip && (!eip || ens < victim_ns))) {
			victim = e;
			victim_ip = eip;
			victim_ns = ens;
		}
	}
	s = __atomic_load_n(&victim->seq, __ATOMIC_RELAXED);
	if ((s & 1) || !__atomic_compare_exchange_n(&victim->seq, &s, (uint16_t)(s + 1), false, __ATOMIC_ACQUIRE,
						      __ATOMIC_RELAXED))
		return false; /* another lcore is writing this entry */
	__atomic_thread_fence(__ATOMIC_RELEASE); /* the odd count is visible before the entry changes */
	__atomic_store_n(&victim->ip, ip, __ATOMIC_RELAXED);
	for (unsigned b = 0; b < 6; b++)
		__atomic_store_n(&victim->mac[b], mac[b], __ATOMIC_RELAXED);
	__atomic_store_n(&victim->learned_ns, now_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&victim->seq, (uint16_t)(s + 2), __ATOMIC_RELEASE);
	return true;
}
