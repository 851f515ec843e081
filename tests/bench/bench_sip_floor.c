/* The kernel's floor under bench_sip_call: the same calls (INVITE → 180 → 200 → ACK → BYE → 200, 50 at a time,
 * against SIPp's UAS on 127.0.0.1) placed by a client that does nothing but the socket work — messages formatted
 * from fixed text, responses matched by Call-ID and status with a few memchr/strstr, no transactions, no
 * timers (a call silent for 500 ms sends its last request again: loopback drops a datagram now and then), no
 * parser — with the same batching as the product (recvmmsg per wake-up, one sendmmsg per loop
 * turn).  Its CPU per call is what any SIP stack on kernel UDP sockets pays for these six datagrams here, and
 * its ratio to SIPp's UAC (measured in the same run, as in bench_sip_call) is the lowest ratio such a stack
 * could show: the target (<= 0.5) is reachable only if this floor is well below it.
 * Final line: BENCH sip_call_kernel_floor <us> us/call ratio=<floor / SIPp UAC> ref=sipp-uac */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "../unit/testutil.h"
#include "bench_floor.h"
#include "bench_util.h"

#define CALLS 2000
#define CONCURRENT 50

static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
			  "m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
			  "a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";

static struct floor_io io;

/* per call: 0 not started, 1 INVITE sent, 2 BYE sent, 3 done; when its last request left; the dialog's To tag */
static struct {
	uint8_t state;
	uint64_t sent_ms;
	char totag[48];
} calls[CALLS];

static void invite(unsigned call)
{
	char *b = floor_next_buf(&io);

	calls[call].state = 1;
	calls[call].sent_ms = cm_now_ms();
	if (b)
		floor_queue(&io, snprintf(b, FLOOR_MSG_MAX,
				  "INVITE sip:service@127.0.0.1:%u SIP/2.0\r\n"
				  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKf%ui;rport\r\n"
				  "Max-Forwards: 70\r\nFrom: <sip:bench@127.0.0.1>;tag=f%u\r\n"
				  "To: <sip:service@127.0.0.1:%u>\r\nCall-ID: f%u@floor\r\nCSeq: 1 INVITE\r\n"
				  "Contact: <sip:bench@127.0.0.1:%u>\r\nContent-Type: application/sdp\r\n"
				  "Content-Length: %zu\r\n\r\n%s",
				  ntohs(io.peer.sin_port), io.lport, call, call, ntohs(io.peer.sin_port), call, io.lport,
				  strlen(sdp), sdp));
}

/* ACK or BYE in the dialog the 200 set up (its To tag). */
static void in_dialog(unsigned call, const char *method, unsigned cseq, const char *totag, int tlen)
{
	char *b = floor_next_buf(&io);

	if (b)
		floor_queue(&io, snprintf(b, FLOOR_MSG_MAX,
				  "%s sip:service@127.0.0.1:%u SIP/2.0\r\n"
				  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKf%u%c;rport\r\n"
				  "Max-Forwards: 70\r\nFrom: <sip:bench@127.0.0.1>;tag=f%u\r\n"
				  "To: <sip:service@127.0.0.1:%u>;tag=%.*s\r\nCall-ID: f%u@floor\r\nCSeq: %u %s\r\n"
				  "Content-Length: 0\r\n\r\n",
				  method, ntohs(io.peer.sin_port), io.lport, call, method[0], call, ntohs(io.peer.sin_port),
				  tlen, totag, call, cseq, method));
}

int main(void)
{
	unsigned port = tu_free_port(), started = 0, done = 0, resent = 0;
	struct rusage r0, r1;
	pid_t uas;
	double sipp;

	if (system("command -v sipp >/dev/null 2>&1") != 0) {
		printf("bench_sip_floor: sipp not installed, skipped\n");
		return 0;
	}
	uas = bench_sipp_uas(port);

	if (floor_open(&io, port) < 0)
		return 1;

	getrusage(RUSAGE_SELF, &r0);
	uint64_t t0 = cm_now_ms(), last_scan = t0;
	while (started < CONCURRENT)
		invite(started++);
	floor_flush(&io);
	while (done < CALLS && cm_now_ms() - t0 < 60000) {
		int n = floor_receive(&io);

		for (int i = 0; i < n; i++) {
			char *m = io.rbuf[i], *cid, *to, *tag;
			unsigned call;

			if (strncmp(m, "SIP/2.0 200", 11) != 0 || !(cid = strstr(m, "Call-ID: f")))
				continue; /* 100, 180, or anything else: nothing to do */
			call = (unsigned)strtoul(cid + 10, NULL, 10);
			if (call >= CALLS || calls[call].state == 3)
				continue;
			if (strstr(m, "CSeq: 2 BYE")) {
				calls[call].state = 3;
				done++;
				if (started < CALLS)
					invite(started++);
				continue;
			}
			if (!(to = strstr(m, "\nTo:")) || !(tag = strstr(to, ";tag=")))
				continue;
			tag += 5;
			int tlen = (int)strcspn(tag, ";\r\n");
			if (tlen >= (int)sizeof(calls[call].totag))
				continue;
			memcpy(calls[call].totag, tag, (size_t)tlen);
			calls[call].totag[tlen] = '\0';
			in_dialog(call, "ACK", 1, tag, tlen);
			in_dialog(call, "BYE", 2, tag, tlen);
			calls[call].state = 2;
			calls[call].sent_ms = cm_now_ms();
		}
		uint64_t now = cm_now_ms();
		for (unsigned c = 0; now - last_scan >= 100 && c < started && io.n + 2 <= FLOOR_BATCH; c++) {
			if (calls[c].state == 0 || calls[c].state == 3 || now - calls[c].sent_ms < 500)
				continue;
			if (calls[c].state == 1) {
				invite(c);
			} else {
				in_dialog(c, "BYE", 2, calls[c].totag, (int)strlen(calls[c].totag));
				calls[c].sent_ms = now;
			}
			resent++;
		}
		if (now - last_scan >= 100)
			last_scan = now;
		floor_flush(&io);
	}
	getrusage(RUSAGE_SELF, &r1);
	bench_print_split("floor UAC", &r0, &r1, done);
	double floor_us = (bench_cpu_us(&r1) - bench_cpu_us(&r0)) / (done ? done : 1);
	printf("floor UAC: %u calls in %lu ms (%u requests sent again), %.1f us/call\n", done,
	       (unsigned long)(cm_now_ms() - t0), resent, floor_us);
	floor_close(&io);

	/* the reference: SIPp's own UAC, same calls, same UAS, same concurrency (as bench_sip_call) */
	sipp = bench_sipp_uac_us(port, CALLS);
	kill(uas, SIGKILL);
	waitpid(uas, NULL, 0);
	if (done != CALLS) {
		fprintf(stderr, "bench_sip_floor: %u of %d calls completed\n", done, CALLS);
		return 1;
	}
	if (sipp < 0) {
		fprintf(stderr, "bench_sip_floor: the SIPp reference failed\n");
		return 1;
	}
	printf("BENCH sip_call_kernel_floor %.1f us/call ratio=%.3f ref=sipp-uac\n", floor_us, floor_us / sipp);
	return 0;
}
