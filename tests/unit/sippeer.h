/* A scripted SIP peer on its own UDP port of 127.0.0.1, for the dialog tests that need a peer doing exactly (and
 * only) what the test says: send a request or a response built from the last request, wait for a message that
 * passes a predicate.  Shared by test_sip_prack and test_sip_session_timer. */
#ifndef CM_TEST_SIPPEER_H
#define CM_TEST_SIPPEER_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <check.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "testutil.h"

/* ---- a scripted UDP peer ---------------------------------------------------------------------------------- */

struct peer {
	int fd;
	uint16_t port;
	struct sockaddr_in to;   /* the stack's socket */
	char last[4096];         /* the last message received */
	struct sip_msg m;
};

static inline void peer_open(struct peer *p, uint16_t port)
{
	memset(p, 0, sizeof(*p));
	p->fd = tu_udp_socket(&p->port);
	p->to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				      .sin_port = htons(port) };
}

static inline void peer_sendf(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void peer_sendf(struct peer *p, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ck_assert_int_lt(n, (int)sizeof(msg));
	ck_assert_int_eq(sendto(p->fd, msg, (size_t)n, 0, (struct sockaddr *)&p->to, sizeof(p->to)), n);
}

/* Runs the loop until a message passing `want` arrives (NULL: any) or ms pass; true if one did.  Messages that
 * do not pass are passed over. */
static inline bool peer_wait(struct cp_loop *loop, struct peer *p, bool (*want)(const struct sip_msg *m), uint64_t ms)
{
	uint64_t t0 = cm_now_ms();

	while (cm_now_ms() - t0 < ms) {
		ssize_t n;

		cp_loop_run_once(loop, 2);
		while ((n = recv(p->fd, p->last, sizeof(p->last) - 1, 0)) > 0) {
			p->last[n] = '\0';
			ck_assert_int_eq(sip_msg_parse(&p->m, p->last, (size_t)n), 0);
			if (!want || want(&p->m))
				return true;
		}
	}
	return false;
}

static inline bool is_ack(const struct sip_msg *m) { return m->is_request && m->method_id == SIP_ACK; }
static inline bool is_bye(const struct sip_msg *m) { return m->is_request && m->method_id == SIP_BYE; }
static inline bool is_invite(const struct sip_msg *m) { return m->is_request && m->method_id == SIP_INVITE; }

static inline bool is_resp(const struct sip_msg *m, unsigned status, const char *method)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CSEQ);
	struct sip_cseq cs;
	const char *why;

	return !m->is_request && m->status == status && h && sip_parse_cseq(h->value, &cs, &why) == 0 &&
	       sip_str_eq(cs.method, method);
}

static unsigned want_status __attribute__((unused));
static const char *want_method __attribute__((unused));
static inline bool is_wanted_resp(const struct sip_msg *m) { return is_resp(m, want_status, want_method); }

static inline bool resp_wait(struct cp_loop *loop, struct peer *p, unsigned status, const char *method, uint64_t ms)
{
	want_status = status;
	want_method = method;
	return peer_wait(loop, p, is_wanted_resp, ms);
}

/* A response to the request in p->m: its Via, From, To (with our tag if it has none), Call-ID, CSeq. */
static inline void peer_respond(struct peer *p, unsigned status, const char *extra, const char *sdp)
{
	char resp[4096];
	struct sip_builder b;
	const struct sip_hdr *to = sip_msg_hdr(&p->m, SIP_HDR_TO);
	int n;

	sip_build_response(&b, resp, sizeof(resp), status, NULL);
	sip_build_copy_hdrs(&b, &p->m, SIP_HDR_VIA);
	sip_build_copy_hdrs(&b, &p->m, SIP_HDR_FROM);
	if (memmem(to->value.p, to->value.len, "tag=", 4))
		sip_build_hdr(&b, "To", to->value);
	else
		sip_build_hdrf(&b, "To", "%.*s;tag=peer1", (int)to->value.len, to->value.p);
	sip_build_copy_hdrs(&b, &p->m, SIP_HDR_CALL_ID);
	sip_build_copy_hdrs(&b, &p->m, SIP_HDR_CSEQ);
	sip_build_hdrf(&b, "Contact", "<sip:peer@127.0.0.1:%u>", p->port);
	if (extra)
		sip_build_raw(&b, extra);
	n = sip_build_finish(&b, sdp ? "application/sdp" : NULL, (struct sip_str){ sdp ? sdp : "", sdp ? strlen(sdp) : 0 });
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(sendto(p->fd, resp, (size_t)n, 0, (struct sockaddr *)&p->to, sizeof(p->to)), n);
}

static const char peer_sdp[] __attribute__((unused)) = "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
			       "m=audio 31000 RTP/AVP 0\r\n";

#endif
