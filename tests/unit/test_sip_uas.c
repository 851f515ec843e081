/* The UAS side over real UDP sockets, called by this stack's own UAC: ring time then 200 with the SDP answer,
 * the configured rejection, 488 for an offer with no common codec, CANCEL while ringing (487), and raw
 * requests for OPTIONS, re-INVITE to hold (the answer mirrors sendonly as recvonly), INFO DTMF and BYE; the 2xx
 * retransmitted until the ACK (RFC 3261 §13.3.1.4) against a scripted UDP peer.  With
 * CALLMETER_SIPP_NETNS set (tests/integration/test_sip_call.sh), SIPp's UAC calls this UAS from that network
 * namespace and must report every call successful. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "check_main.h"
#include "testutil.h"
#include "uapair.h"

static const struct sdp_codec pcmu[] = { { .name = "PCMU", .clock_rate = 8000, .pt = 0 } };
static const struct sdp_codec g729[] = { { .name = "G729", .clock_rate = 8000, .pt = 18 } };

static void setup(struct ua_pair *b, uint32_t ring_ms, unsigned reject, const char *ip)
{
	struct sip_ua_config cfg = { .answer = { .media = { .addr = ip, .port = 42000, .codecs = pcmu, .ncodecs = 1,
							    .dtmf_pt = 101, .dir = SDP_SENDRECV },
						 .ring_ms = ring_ms, .status = reject, .contact_user = "callee" } };

	ua_pair_start(b, &cfg, ip);
}

static const struct sip_call_stats *call(struct ua_pair *b, const struct sdp_codec *codecs, uint32_t no_answer_ms,
					 struct sip_call **out)
{
	char to[64];
	struct sip_call_config cfg = { .from_user = "alice", .from_domain = "uac.test", .to_uri = to,
				       .duration_ms = 100, .no_answer_ms = no_answer_ms,
				       .media = { .addr = "127.0.0.1", .port = 30000, .codecs = codecs, .ncodecs = 1,
						  .dir = SDP_SENDRECV } };
	struct sip_call *c;
	uint64_t t0 = cm_now_ms();

	snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%u", sip_udp_port(b->uas_u));
	sip_addr_from(&cfg.dst, "127.0.0.1", sip_udp_port(b->uas_u));
	c = sip_call_new(b->uac, &cfg, NULL, NULL);
	ck_assert_int_eq(sip_call_start(c), 0);
	while (sip_call_stats(c)->state != SIP_CALL_ENDED && cm_now_ms() - t0 < 5000)
		cp_loop_run_once(b->loop, 50);
	*out = c;
	return sip_call_stats(c);
}

START_TEST(answers_after_ring_time)
{
	struct ua_pair b;
	struct sip_call *c;
	const struct sip_call_stats *st;

	setup(&b, 200, 0, "127.0.0.1");
	st = call(&b, pcmu, 0, &c);
	ck_assert_int_eq(st->result, SIP_RESULT_ANSWERED);
	ck_assert_uint_lt(st->time_to_ringing_ms, 150);
	ck_assert_uint_ge(st->setup_ms, 200);
	ck_assert_uint_eq(st->media.remote_port, 42000);
	ck_assert_uint_eq(st->bye_status, 200);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->answered, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->acks, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->byes, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->live, 0);
	sip_call_free(c);
	ua_pair_stop(&b);
}
END_TEST

START_TEST(configured_rejection)
{
	struct ua_pair b;
	struct sip_call *c;
	const struct sip_call_stats *st;

	setup(&b, 50, 603, "127.0.0.1");
	st = call(&b, pcmu, 0, &c);
	ck_assert_int_eq(st->result, SIP_RESULT_REJECTED);
	ck_assert_uint_eq(st->final_status, 603);
	ck_assert_str_eq(st->reason, "Decline");
	ck_assert_uint_eq(sip_ua_stats(b.uas)->rejected, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->live, 0);
	sip_call_free(c);
	ua_pair_stop(&b);
}
END_TEST

START_TEST(no_common_codec_488)
{
	struct ua_pair b;
	struct sip_call *c;
	const struct sip_call_stats *st;

	setup(&b, 50, 0, "127.0.0.1");
	st = call(&b, g729, 0, &c);
	ck_assert_int_eq(st->result, SIP_RESULT_FAILED);
	ck_assert_uint_eq(st->final_status, 488);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->negotiation_failed, 1);
	sip_call_free(c);
	ua_pair_stop(&b);
}
END_TEST

START_TEST(cancel_while_ringing)
{
	struct ua_pair b;
	struct sip_call *c;
	const struct sip_call_stats *st;

	setup(&b, 10000, 0, "127.0.0.1");
	st = call(&b, pcmu, 200, &c);
	ck_assert_int_eq(st->result, SIP_RESULT_CANCELLED);
	ck_assert_uint_eq(st->final_status, 487);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->cancelled, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->live, 0);
	sip_call_free(c);
	ua_pair_stop(&b);
}
END_TEST

/* ---- raw in-dialog requests ------------------------------------------------------------------------------- */

static struct {
	struct sip_client_handler h;
	unsigned status;
	char body[2048];
	char to_tag[64];
} got;

static void got_response(struct sip_client_handler *h, struct sip_txn *ct, const struct sip_msg *m)
{
	struct sip_addr a;
	const char *why;

	(void)h;
	(void)ct;
	if (m->status < 200)
		return;
	got.status = m->status;
	snprintf(got.body, sizeof(got.body), "%.*s", (int)m->body.len, m->body.p);
	if (sip_parse_addr(sip_msg_hdr(m, SIP_HDR_TO)->value, &a, &why) == 0)
		snprintf(got.to_tag, sizeof(got.to_tag), "%.*s", (int)a.tag.len, a.tag.p);
}

static unsigned raw(struct ua_pair *b, const char *method, unsigned cseq, const char *to_tag, const char *ctype,
		    const char *body)
{
	char req[4096], branch[40], tag[80] = "";
	struct sockaddr_storage dst;
	uint64_t t0 = cm_now_ms();
	int n, err;

	snprintf(branch, sizeof(branch), "z9hG4bKraw%s%u", method, cseq);
	if (to_tag)
		snprintf(tag, sizeof(tag), ";tag=%s", to_tag);
	n = snprintf(req, sizeof(req),
		     "%s sip:callee@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=%s\r\n"
		     "Max-Forwards: 70\r\nFrom: <sip:raw@uac.test>;tag=r1\r\nTo: <sip:callee@127.0.0.1>%s\r\n"
		     "Call-ID: raw-dialog-1\r\nCSeq: %u %s\r\nContact: <sip:raw@127.0.0.1:%u>\r\n%s%s%s"
		     "Content-Length: %zu\r\n\r\n%s",
		     method, sip_udp_port(b->uas_u), sip_udp_port(b->uac_u), branch, tag, cseq, method,
		     sip_udp_port(b->uac_u), ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
		     body ? strlen(body) : 0, body ? body : "");
	sip_addr_from(&dst, "127.0.0.1", sip_udp_port(b->uas_u));
	got.status = 0;
	got.h.on_response = got_response;
	ck_assert_ptr_nonnull(sip_tp_request(sip_udp_tp(b->uac_u), req, (size_t)n, &dst, &got.h, &err));
	while (!got.status && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(b->loop, 50);
	return got.status;
}

START_TEST(options_reinvite_hold_info_bye)
{
	static const char offer[] = "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
				    "m=audio 31000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
	static const char hold[] = "v=0\r\no=raw 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
				   "m=audio 31000 RTP/AVP 0\r\na=sendonly\r\n";
	struct ua_pair b;
	char tag[64];

	setup(&b, 0, 0, "127.0.0.1");
	ck_assert_uint_eq(raw(&b, "OPTIONS", 1, NULL, NULL, NULL), 200);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->options, 1);
	ck_assert_uint_eq(raw(&b, "INVITE", 2, NULL, "application/sdp", offer), 200);
	ck_assert(strstr(got.body, "m=audio 42000 RTP/AVP 0 101\r\n"));
	ck_assert(strstr(got.body, "a=sendrecv\r\n"));
	snprintf(tag, sizeof(tag), "%s", got.to_tag);
	ck_assert_uint_gt(strlen(tag), 0);
	ck_assert_uint_eq(raw(&b, "INVITE", 3, tag, "application/sdp", hold), 200);
	ck_assert(strstr(got.body, "a=recvonly\r\n"));
	ck_assert_uint_eq(sip_ua_stats(b.uas)->reinvites, 1);
	ck_assert_uint_eq(raw(&b, "INFO", 4, tag, "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"), 200);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->dtmf_digits, 1);
	ck_assert_int_eq(sip_ua_stats(b.uas)->last_dtmf, '5');
	ck_assert_uint_eq(raw(&b, "MESSAGE", 5, tag, "text/plain", "hi"), 405);
	ck_assert_uint_eq(raw(&b, "BYE", 6, tag, NULL, NULL), 200);
	ck_assert_uint_eq(raw(&b, "BYE", 7, tag, NULL, NULL), 481);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->live, 0);
	ua_pair_stop(&b);
}
END_TEST

/* ---- 2xx retransmission until the ACK (RFC 3261 §13.3.1.4), against a scripted UDP peer ------------------- */

/* A bare UDP socket playing the caller: it sends what the test scripts and records what comes back. */
struct peer {
	int fd;
	uint16_t port;
	struct sockaddr_in uas;
	uint64_t ok_at[32];      /* arrival times of the 200 OK (original and retransmissions) */
	unsigned oks, byes;
	char to_tag[64];
	char bye[2048];
};

static void peer_open(struct peer *p, uint16_t uas_port)
{
	memset(p, 0, sizeof(*p));
	p->fd = tu_udp_socket(&p->port);
	p->uas = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				       .sin_port = htons(uas_port) };
}

static void peer_send(struct peer *p, const char *method, unsigned cseq, const char *branch, bool with_tag,
		      const char *body)
{
	char msg[2048];
	int n = snprintf(msg, sizeof(msg),
			 "%s sip:callee@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=%s\r\n"
			 "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:callee@127.0.0.1>%s%s\r\n"
			 "Call-ID: retx-1@127.0.0.1\r\nCSeq: %u %s\r\nContact: <sip:peer@127.0.0.1:%u>\r\n"
			 "%sContent-Length: %zu\r\n\r\n%s",
			 method, ntohs(p->uas.sin_port), p->port, branch, with_tag ? ";tag=" : "",
			 with_tag ? p->to_tag : "", cseq, method, p->port, body ? "Content-Type: application/sdp\r\n" : "",
			 body ? strlen(body) : 0, body ? body : "");

	ck_assert_int_eq(sendto(p->fd, msg, (size_t)n, 0, (struct sockaddr *)&p->uas, sizeof(p->uas)), n);
}

/* Runs the loop for ms, recording every 200 OK to the INVITE and answering a BYE with 200. */
static void peer_run(struct ua_pair *b, struct peer *p, uint64_t ms)
{
	uint64_t t0 = cm_now_ms();
	char buf[4096];

	while (cm_now_ms() - t0 < ms) {
		ssize_t n;

		cp_loop_run_once(b->loop, 2);
		while ((n = recv(p->fd, buf, sizeof(buf) - 1, 0)) > 0) {
			struct sip_msg m;
			buf[n] = '\0';
			ck_assert_int_eq(sip_msg_parse(&m, buf, (size_t)n), 0);
			if (!m.is_request && m.status == 200 && strstr(buf, " INVITE\r\n")) {
				struct sip_addr to;
				const char *why;
				if (p->oks < 32)
					p->ok_at[p->oks] = cm_now_ms();
				p->oks++;
				ck_assert_int_eq(sip_parse_addr(sip_msg_hdr(&m, SIP_HDR_TO)->value, &to, &why), 0);
				snprintf(p->to_tag, sizeof(p->to_tag), "%.*s", (int)to.tag.len, to.tag.p);
			} else if (m.is_request && m.method_id == SIP_BYE) {
				char resp[2048];
				struct sip_builder rb;
				int len;
				p->byes++;
				sip_build_response(&rb, resp, sizeof(resp), 200, NULL);
				sip_build_copy_hdrs(&rb, &m, SIP_HDR_VIA);
				sip_build_copy_hdrs(&rb, &m, SIP_HDR_FROM);
				sip_build_copy_hdrs(&rb, &m, SIP_HDR_TO);
				sip_build_copy_hdrs(&rb, &m, SIP_HDR_CALL_ID);
				sip_build_copy_hdrs(&rb, &m, SIP_HDR_CSEQ);
				len = sip_build_finish(&rb, NULL, (struct sip_str){ "", 0 });
				ck_assert_int_gt(len, 0);
				sendto(p->fd, resp, (size_t)len, 0, (struct sockaddr *)&p->uas, sizeof(p->uas));
			}
		}
	}
}

static const char peer_offer[] = "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
				 "m=audio 31000 RTP/AVP 0\r\n";

static void setup_t1(struct ua_pair *b, uint32_t t1_ms)
{
	struct sip_ua_config cfg = { .answer = { .media = { .addr = "127.0.0.1", .port = 42000, .codecs = pcmu,
							    .ncodecs = 1, .dir = SDP_SENDRECV },
						 .ring_ms = 0, .contact_user = "callee" },
				     .t1_ms = t1_ms };

	memset(b, 0, sizeof(*b));
	b->loop = cp_loop_new();
	b->uas = sip_ua_new(&cfg);
	b->uas_u = ua_listen(b->loop, b->uas, "127.0.0.1");
}

static void peer_close(struct ua_pair *b, struct peer *p)
{
	close(p->fd);
	sip_ua_free(b->uas);
	sip_udp_stop(b->uas_u);
	cp_loop_free(b->loop);
}

/* The peer drops the first two chances to ACK (as if its ACKs were lost): the 2xx comes again after T1, then
 * 2*T1; the ACK after the third copy stops it. */
START_TEST(ok_retransmitted_until_ack)
{
	struct ua_pair b;
	struct peer p;

	setup_t1(&b, 100);
	peer_open(&p, sip_udp_port(b.uas_u));
	peer_send(&p, "INVITE", 1, "z9hG4bKretx1", false, peer_offer);
	while (p.oks < 3 && p.oks < 32) {
		uint64_t t0 = cm_now_ms();
		peer_run(&b, &p, 20);
		ck_assert_msg(cm_now_ms() - t0 < 5000, "no 200");
	}
	peer_send(&p, "ACK", 1, "z9hG4bKretxack", true, NULL);
	peer_run(&b, &p, 600); /* longer than the next interval (4*T1) */
	ck_assert_uint_eq(p.oks, 3);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->ok_retransmissions, 2);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->acks, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->ack_timeouts, 0);
	/* T1, then 2*T1 (timer granularity and a busy machine allow some slack, never less) */
	ck_assert_uint_ge(p.ok_at[1] - p.ok_at[0], 95);
	ck_assert_uint_lt(p.ok_at[1] - p.ok_at[0], 180);
	ck_assert_uint_ge(p.ok_at[2] - p.ok_at[1], 195);
	ck_assert_uint_lt(p.ok_at[2] - p.ok_at[1], 300);
	/* the call goes on: the peer's BYE ends it */
	peer_send(&p, "BYE", 2, "z9hG4bKretxbye", true, NULL);
	peer_run(&b, &p, 100);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->byes, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->live, 0);
	peer_close(&b, &p);
}
END_TEST

/* No ACK at all: the 2xx doubles from T1 up, and after 64*T1 the UAS ends the session with a BYE. */
START_TEST(no_ack_ends_with_bye)
{
	struct ua_pair b;
	struct peer p;
	uint64_t t0;

	setup_t1(&b, 20);
	peer_open(&p, sip_udp_port(b.uas_u));
	t0 = cm_now_ms();
	peer_send(&p, "INVITE", 1, "z9hG4bKnoack1", false, peer_offer);
	while (!p.byes && cm_now_ms() - t0 < 5000)
		peer_run(&b, &p, 20);
	ck_assert_uint_eq(p.byes, 1);
	/* 20, 40, 80, 160, 320, 640 ms: six copies after the first, then the BYE at 64*T1 = 1280 ms */
	ck_assert_uint_eq(p.oks, 7);
	for (unsigned i = 1; i + 1 < p.oks; i++)
		ck_assert_msg(p.ok_at[i + 1] - p.ok_at[i] + 10 >= 2 * (p.ok_at[i] - p.ok_at[i - 1]) - 10,
			      "interval %u did not double", i);
	ck_assert_uint_ge(cm_now_ms() - t0, 1280);
	peer_run(&b, &p, 100); /* the BYE's 200 */
	ck_assert_uint_eq(sip_ua_stats(b.uas)->ok_retransmissions, 6);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->ack_timeouts, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->acks, 0);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->live, 0);
	peer_close(&b, &p);
}
END_TEST

/* ---- SIPp's UAC calling this UAS (integration) ------------------------------------------------------------ */

START_TEST(sipp_uac_calls)
{
	const char *ns = getenv("CALLMETER_SIPP_NETNS"), *ip = getenv("CALLMETER_SIP_LOCAL_IP");
	const char *peer = getenv("CALLMETER_SIPP_PEER_IP");
	char target[64], port[8];
	struct ua_pair b;
	struct tu_proc p;
	int rc = -1;
	uint64_t t0 = cm_now_ms();

	ck_assert_ptr_nonnull(ip);
	ck_assert_ptr_nonnull(peer);
	setup(&b, 100, 0, ip);
	snprintf(target, sizeof(target), "%s:%u", ip, sip_udp_port(b.uas_u));
	snprintf(port, sizeof(port), "%u", 5080);
	char *argv[] = { "/usr/sbin/ip", "netns", "exec", (char *)ns, "sipp", "-sn", "uac", target, "-i", (char *)peer,
			 "-p", port, "-m", "3", "-d", "200", "-nostdin", "-timeout", "20s", NULL };
	char *env[] = { "PATH=/usr/bin:/bin:/usr/sbin:/sbin", NULL };
	tu_spawn(&p, argv, env);
	while (cm_now_ms() - t0 < 30000) {
		int st;
		cp_loop_run_once(b.loop, 20);
		if (waitpid(p.pid, &st, WNOHANG) == p.pid) {
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
			break;
		}
	}
	char *out = tu_output(&p);
	ck_assert_msg(rc == 0, "sipp exit %d: %s", rc, out);
	free(out);
	unlink(p.out);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->answered, 3);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->acks, 3);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->byes, 3);
	printf("SIPp UAC: 3 calls answered by the UAS\n");
	ua_pair_stop(&b);
}
END_TEST

static Suite *uas_suite(void)
{
	Suite *s = suite_create("sip_uas");
	TCase *tc = tcase_create("uas");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, answers_after_ring_time);
	tcase_add_test(tc, configured_rejection);
	tcase_add_test(tc, no_common_codec_488);
	tcase_add_test(tc, cancel_while_ringing);
	tcase_add_test(tc, options_reinvite_hold_info_bye);
	tcase_add_test(tc, ok_retransmitted_until_ack);
	tcase_add_test(tc, no_ack_ends_with_bye);
	suite_add_tcase(s, tc);
	if (getenv("CALLMETER_SIPP_NETNS")) {
		TCase *real = tcase_create("SIPp UAC");
		tcase_set_timeout(real, 60);
		tcase_add_test(real, sipp_uac_calls);
		suite_add_tcase(s, real);
	}
	return s;
}

int main(void)
{
	return run_suite(uas_suite());
}
