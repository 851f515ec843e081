/* Helpers for tests that write captures and read analyze's output: a pcap writer, an Ethernet + IPv4 + UDP
 * frame builder, running a command for its output, reading a number from flat JSON. */
#ifndef CM_TEST_PCAPUTIL_H
#define CM_TEST_PCAPUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

static inline FILE *pcap_open(const char *path)
{
	FILE *f = fopen(path, "wb");
	const uint32_t hdr[6] = { 0xa1b2c3d4, 2 | 4u << 16, 0, 0, 65535, 1 };

	ck_assert_ptr_nonnull(f);
	fwrite(hdr, sizeof(hdr), 1, f);
	return f;
}

static inline void pcap_frame(FILE *f, uint64_t t_us, const uint8_t *frame, uint32_t len)
{
	uint32_t rec[4] = { (uint32_t)(t_us / 1000000), (uint32_t)(t_us % 1000000), len, len };

	fwrite(rec, sizeof(rec), 1, f);
	fwrite(frame, len, 1, f);
}

static inline void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

/* Ethernet + IPv4 (protocol proto, l4len bytes after it) at b: 34 bytes. */
static inline void ipv4_frame(uint8_t *b, uint8_t proto, uint32_t src, uint32_t dst, uint32_t l4len)
{
	uint32_t sum = 0;

	memset(b, 0, 34);
	memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	b[14] = 0x45;
	put16(b + 16, 20 + l4len);
	b[22] = 64;
	b[23] = proto;
	put32(b + 26, src);
	put32(b + 30, dst);
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	put16(b + 24, ~sum & 0xffff);
}

/* Ethernet + IPv4 + TCP (20-byte header, flags as given, checksum 0: analyze does not check it). */
static inline uint32_t tcp_frame(uint8_t *b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint32_t seq,
				 uint8_t flags, const uint8_t *payload, uint32_t plen)
{
	ipv4_frame(b, 6, src, dst, 20 + plen);
	memset(b + 34, 0, 20);
	put16(b + 34, sport);
	put16(b + 36, dport);
	put32(b + 38, seq);
	b[46] = 5 << 4;
	b[47] = flags;
	put16(b + 48, 65535);
	if (plen) /* a SYN carries none (payload NULL) */
		memcpy(b + 54, payload, plen);
	return 54 + plen;
}

/* Ethernet + IPv4 + UDP around `payload` (UDP checksum 0: not computed, as RFC 768 allows). */
static inline uint32_t udp_frame(uint8_t *b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
				 const uint8_t *payload, uint32_t plen)
{
	ipv4_frame(b, 17, src, dst, 8 + plen);
	memset(b + 34, 0, 8);
	put16(b + 34, sport);
	put16(b + 36, dport);
	put16(b + 38, 8 + plen);
	memcpy(b + 42, payload, plen);
	return 42 + plen;
}

/* Runs a command and returns its standard output (malloc'd). */
static inline char *run(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	size_t cap = 1 << 16, len = 0, n;
	char *out = malloc(cap);

	ck_assert_ptr_nonnull(p);
	while ((n = fread(out + len, 1, cap - 1 - len, p)) > 0)
		len += n;
	out[len] = '\0';
	*status = pclose(p);
	return out;
}

static inline double json_num(const char *obj, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(obj, pat);
	ck_assert_msg(p != NULL, "key %s missing", key);
	return strtod(p + strlen(pat), NULL);
}

/* A whole (small) file, NUL-terminated (malloc'd). */
static inline char *read_text(const char *path)
{
	FILE *jf = fopen(path, "r");
	char *js = calloc(1, 1 << 16);

	ck_assert_ptr_nonnull(jf);
	ck_assert_uint_gt(fread(js, 1, (1 << 16) - 1, jf), 0);
	fclose(jf);
	return js;
}

/* A stream's object in analyze's JSON summary, from its "ssrc" key on. */
static inline const char *flow_obj(const char *js, uint32_t ssrc)
{
	char pat[32];
	const char *p;

	snprintf(pat, sizeof(pat), "\"ssrc\": \"0x%08x\"", ssrc);
	p = strstr(js, pat);
	ck_assert_msg(p != NULL, "stream 0x%08x missing: %s", ssrc, js);
	return p;
}

#endif
