/* The kernel's floor under bench_sip_reg_sipp: the same digest registrations (REGISTER → 401 → REGISTER with
 * credentials → 200, REGS distinct users, IN_FLIGHT at a time, against the same Kamailio on 127.0.0.1) made by a
 * client that does nothing but the socket work and the three MD5s qop=auth needs — messages formatted from fixed
 * text, responses matched by Call-ID and status with strstr, the nonce cut out with strstr, no parser, no
 * transactions, no timers (a registration silent for 500 ms sends its last REGISTER again) — batched like the
 * product (recvmmsg per wake-up, one sendmmsg per loop turn).  Its CPU per registration is what any SIP stack on
 * kernel UDP sockets pays here for these four datagrams and the hashing, and its ratio to SIPp's (measured in the
 * same run against the same Kamailio, as in bench_sip_reg_sipp) the lowest ratio such a stack could show.
 * Final line: BENCH sip_reg_kernel_floor <us> us/registration ratio=<floor / SIPp> ref=sipp-uac */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/common.h"
#include "../unit/testutil.h"
#include "bench_floor.h"
#include "bench_util.h"

#define REGS 4000
#define IN_FLIGHT 100

static struct floor_io io;
static EVP_MD_CTX *ctx;
static EVP_MD *md5;

/* per registration: 0 not started, 1 first REGISTER sent, 2 answered REGISTER sent, 3 done; when its last
 * REGISTER left; the Authorization header it answered with (sent again if the answer is lost) */
static struct {
	uint8_t state;
	uint64_t sent_ms;
	char auth[320];
} regs[REGS];

static void reg_send(unsigned i)
{
	char *b = floor_next_buf(&io);

	if (!b)
		return; /* sent again after 500 ms */
	floor_queue(&io, snprintf(b, FLOOR_MSG_MAX,
				  "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
				  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKr%u-%u\r\nMax-Forwards: 70\r\n"
				  "From: <sip:a%u@127.0.0.1>;tag=r%u\r\nTo: <sip:a%u@127.0.0.1>\r\nCall-ID: r%u@floor\r\n"
				  "CSeq: %u REGISTER\r\nContact: <sip:a%u@127.0.0.1:%u>\r\nExpires: 3600\r\n%s"
				  "Content-Length: 0\r\n\r\n",
				  io.lport, i, regs[i].state, i, i, i, i, regs[i].state == 2 ? 2u : 1u, i, io.lport,
				  regs[i].auth));
	regs[i].sent_ms = cm_now_ms();
}

static void md5_hex(const char *in, size_t len, char out[33])
{
	unsigned char d[16];
	unsigned dl;

	EVP_DigestInit_ex2(ctx, md5, NULL);
	EVP_DigestUpdate(ctx, in, len);
	EVP_DigestFinal_ex(ctx, d, &dl);
	for (int k = 0; k < 16; k++) {
		out[2 * k] = "0123456789abcdef"[d[k] >> 4];
		out[2 * k + 1] = "0123456789abcdef"[d[k] & 15];
	}
	out[32] = '\0';
}

/* The 401's nonce (realm: the registrar's, 127.0.0.1) answered with qop=auth, nc 1 (RFC 2617 §3.2.2). */
static int answer(unsigned i, const char *msg)
{
	char a[256], ha1[33], ha2[33], resp[33];
	const char *n = strstr(msg, "nonce=\""), *e;
	int len;

	if (!n || !(e = strchr(n + 7, '"')) || e - n - 7 > 128)
		return -1;
	n += 7;
	len = snprintf(a, sizeof(a), "a%u:127.0.0.1:secret", i);
	md5_hex(a, (size_t)len, ha1);
	md5_hex("REGISTER:sip:127.0.0.1", 22, ha2);
	len = snprintf(a, sizeof(a), "%s:%.*s:00000001:c%u:auth:%s", ha1, (int)(e - n), n, i, ha2);
	md5_hex(a, (size_t)len, resp);
	snprintf(regs[i].auth, sizeof(regs[i].auth),
		 "Authorization: Digest username=\"a%u\", realm=\"127.0.0.1\", nonce=\"%.*s\", uri=\"sip:127.0.0.1\", "
		 "response=\"%s\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c%u\"\r\n",
		 i, (int)(e - n), n, resp, i);
	return 0;
}

int main(void)
{
	char dir[64] = "/tmp/cm-bench-regfloor-XXXXXX";
	unsigned port = tu_free_port(), started = 0, done = 0, failed = 0, resent = 0;
	struct rusage r0, r1;
	pid_t kam;
	double sipp;

	if (system("command -v kamailio >/dev/null 2>&1 && command -v sipp >/dev/null 2>&1") != 0) {
		printf("bench_sip_reg_floor: kamailio or sipp not installed, skipped\n");
		return 0;
	}
	if (!mkdtemp(dir) || bench_kamailio_registrar(dir, port, &kam) < 0) {
		fprintf(stderr, "bench_sip_reg_floor: Kamailio did not start (see %s)\n", dir);
		return 1;
	}
	ctx = EVP_MD_CTX_new();
	md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	if (!ctx || !md5 || floor_open(&io, port) < 0)
		return 1;

	getrusage(RUSAGE_SELF, &r0);
	uint64_t t0 = cm_now_ms(), last_scan = t0;
	while (started < IN_FLIGHT) {
		regs[started].state = 1;
		reg_send(started++);
	}
	floor_flush(&io);
	while (done + failed < REGS && cm_now_ms() - t0 < 60000) {
		int n = floor_receive(&io);

		for (int k = 0; k < n; k++) {
			char *m = io.rbuf[k], *cid;
			unsigned i;

			if (strncmp(m, "SIP/2.0 ", 8) != 0 || !(cid = strstr(m, "Call-ID: r")))
				continue;
			i = (unsigned)strtoul(cid + 10, NULL, 10);
			if (i >= REGS || regs[i].state == 3)
				continue;
			if (regs[i].state == 1 && strncmp(m + 8, "401", 3) == 0) {
				if (answer(i, m) < 0)
					continue;
				regs[i].state = 2;
				reg_send(i);
				continue;
			}
			if (regs[i].state != 2 || m[8] == '1')
				continue;
			regs[i].state = 3;
			if (strncmp(m + 8, "200", 3) == 0)
				done++;
			else
				failed++;
			if (started < REGS) {
				regs[started].state = 1;
				reg_send(started++);
			}
		}
		uint64_t now = cm_now_ms();
		for (unsigned i = 0; now - last_scan >= 100 && i < started && io.n < FLOOR_BATCH; i++) {
			if (regs[i].state == 3 || now - regs[i].sent_ms < 500)
				continue;
			reg_send(i);
			resent++;
		}
		if (now - last_scan >= 100)
			last_scan = now;
		floor_flush(&io);
	}
	getrusage(RUSAGE_SELF, &r1);
	bench_print_split("floor registrar client", &r0, &r1, done);
	double floor_us = (bench_cpu_us(&r1) - bench_cpu_us(&r0)) / (done ? done : 1);
	printf("floor: %u registered, %u failed in %lu ms (%u REGISTERs sent again), %.1f us/registration\n", done,
	       failed, (unsigned long)(cm_now_ms() - t0), resent, floor_us);
	floor_close(&io);
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md5);

	/* the reference: SIPp registering as many other users against the same Kamailio (as bench_sip_reg_sipp) */
	sipp = bench_sipp_reg_us(dir, port, REGS);
	bench_kamailio_stop(kam, dir, sipp < 0);
	if (done != REGS) {
		fprintf(stderr, "bench_sip_reg_floor: %u of %d registrations completed\n", done, REGS);
		return 1;
	}
	if (sipp < 0) {
		fprintf(stderr, "bench_sip_reg_floor: the SIPp reference failed\n");
		return 1;
	}
	printf("BENCH sip_reg_kernel_floor %.1f us/registration ratio=%.3f ref=sipp-uac\n", floor_us, floor_us / sipp);
	return 0;
}
