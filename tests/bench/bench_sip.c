/* SIP benchmarks: messages per second through the parser (header lines delimited, Content-Length applied) and
 * through parse + full validation (every known header parsed), on an RFC 3261 §24.2-style INVITE with SDP;
 * client transactions per second (start, 200 matched, Timer K) over a counting transport on a fake clock.
 * Final line: BENCH sip_parse <n> msgs/s ratio=<parse-only rate / parse+validate rate> ref=parse+validate. */
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "sip/sip.h"

static const char invite[] =
	"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;rport\r\n"
	"Max-Forwards: 70\r\n"
	"To: Bob <sip:bob@biloxi.com>\r\n"
	"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
	"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
	"CSeq: 314159 INVITE\r\n"
	"Contact: <sip:alice@pc33.atlanta.com>\r\n"
	"Route: <sip:p1.example.com;lr>\r\n"
	"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO\r\n"
	"Supported: replaces, timer\r\n"
	"User-Agent: callmeter-bench\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: 142\r\n"
	"\r\n"
	"v=0\r\n"
	"o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.com\r\n"
	"s=Session SDP\r\n"
	"c=IN IP4 192.0.2.101\r\n"
	"t=0 0\r\n"
	"m=audio 49172 RTP/AVP 0\r\n"
	"a=rtpmap:0 PCMU/8000\r\n";

static struct sip_msg msg;

static double rate(bool validate)
{
	uint64_t t0 = cm_now_us(), n = 0, el;

	do {
		for (int i = 0; i < 10000; i++) {
			if (sip_msg_parse(&msg, invite, sizeof(invite) - 1) < 0 || (validate && sip_msg_validate(&msg) < 0)) {
				fprintf(stderr, "bench: the message does not parse: %s\n", msg.error);
				return 0;
			}
		}
		n += 10000;
		el = cm_now_us() - t0;
	} while (el < 1000000);
	return (double)n * 1e6 / (double)el;
}

static uint64_t fake_now;
static unsigned long sends;
static int count_send(void *ctx, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	(void)ctx;
	(void)dst;
	(void)buf;
	(void)len;
	sends++;
	return 0;
}
static void on_response(void *arg, struct sip_txn *ct, const struct sip_msg *resp)
{
	(void)arg;
	(void)ct;
	(void)resp;
}

static double txn_rate(void)
{
	static const struct sip_txn_user_ops ops = { .on_response = on_response };
	struct sip_txn_layer *l = sip_txn_layer_new(0, false, count_send, NULL, &ops, NULL);
	struct sockaddr_storage dst;
	char req[512], resp[512];
	uint64_t t0 = cm_now_us(), n = 0;

	sip_addr_from(&dst, "127.0.0.1", 5060);
	for (; n < 200000; n++) {
		int rl = snprintf(req, sizeof(req),
				  "OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK%lu\r\n"
				  "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: %lu\r\n"
				  "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
				  (unsigned long)n, (unsigned long)n);
		int sl = snprintf(resp, sizeof(resp),
				  "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK%lu\r\n"
				  "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: %lu\r\n"
				  "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
				  (unsigned long)n, (unsigned long)n);
		int err;

		if (!sip_txn_client_start(l, req, (size_t)rl, &dst, NULL, &err) ||
		    sip_txn_receive(l, resp, (size_t)sl, &dst) < 0)
			return 0;
		if (n % 1000 == 0) {
			fake_now += SIP_WHEEL_TICK_MS;
			sip_txn_tick(l, fake_now);
		}
	}
	fake_now += 10 * SIP_T4_MS;
	sip_txn_tick(l, fake_now); /* Timer K ends them all */
	double r = (double)n * 1e6 / (double)(cm_now_us() - t0);
	if (sip_txn_layer_stats(l)->live != 0)
		r = 0;
	sip_txn_layer_free(l);
	return r;
}

int main(void)
{
	double p, v, t;

	p = rate(false);
	v = rate(true);
	t = txn_rate();
	printf("BENCH sip_txn %.0f txns/s (client non-INVITE: start, 200 matched, Timer K; fake transport)\n", t);
	printf("BENCH sip_parse_validate %.0f msgs/s\n", v);
	printf("BENCH sip_parse %.0f msgs/s ratio=%.3f ref=parse+validate\n", p, v > 0 ? p / v : 0);
	return p > 0 && v > 0 && t > 0 ? 0 : 1;
}
