/* The TCP transport over real sockets on the event loop: a client transaction across a connection opened on
 * demand (no retransmissions, Timer K zero), messages packed into one write and split byte by byte framed
 * correctly with responses on the same connection, and an unframeable stream closed and counted. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "check_main.h"
#include "testutil.h"

static unsigned requests;

static void srv_request(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	(void)arg;
	(void)src;
	(void)req;
	if (!st)
		return;
	requests++;
	sip_txn_respond_simple(st, 200, "tcp1", NULL);
}

static const struct sip_txn_user_ops srv_ops = { .on_request = srv_request };

static struct {
	struct sip_client_handler h;
	unsigned status;
} got;

static void got_response(struct sip_client_handler *h, struct sip_txn *ct, const struct sip_msg *m)
{
	(void)h;
	(void)ct;
	got.status = m->status;
}

static const struct sip_txn_user_ops cli_ops = { .on_response = sip_client_on_response,
						 .on_timeout = sip_client_on_timeout,
						 .on_terminated = sip_client_on_terminated };

static int options(char *buf, size_t cap, const char *branch, unsigned port)
{
	return snprintf(buf, cap,
			"OPTIONS sip:srv@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=%s\r\n"
			"Max-Forwards: 70\r\nFrom: <sip:c@127.0.0.1>;tag=c1\r\nTo: <sip:srv@127.0.0.1>\r\n"
			"Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			port, branch, branch);
}

START_TEST(transaction_over_tcp)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *srv = sip_tcp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sip_tcp *cli = sip_tcp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sockaddr_storage dst;
	char req[1024];
	int n = options(req, sizeof(req), "z9hG4bKtcp1", sip_tcp_port(srv)), err;
	uint64_t t0 = cm_now_ms();

	ck_assert_ptr_nonnull(srv);
	ck_assert_ptr_nonnull(cli);
	requests = 0;
	got.status = 0;
	got.h.on_response = got_response;
	sip_addr_from(&dst, "127.0.0.1", sip_tcp_port(srv));
	ck_assert_ptr_nonnull(sip_tp_request(sip_tcp_tp(cli), req, (size_t)n, &dst, &got.h, &err));
	while (!got.status && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(loop, 50);
	ck_assert_uint_eq(got.status, 200);
	ck_assert_uint_eq(requests, 1);
	ck_assert_uint_eq(sip_tcp_stats(cli)->connected, 1);
	ck_assert_uint_eq(sip_tcp_stats(srv)->accepted, 1);
	/* reliable: no retransmission ever, and Timer K is zero, so the transaction is gone right away */
	while (sip_txn_layer_stats(sip_tp_txn_layer(sip_tcp_tp(cli)))->live && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(loop, 20);
	ck_assert_uint_eq(sip_txn_layer_stats(sip_tp_txn_layer(sip_tcp_tp(cli)))->live, 0);
	ck_assert_uint_eq(sip_txn_layer_stats(sip_tp_txn_layer(sip_tcp_tp(cli)))->retransmissions, 0);
	/* a second request reuses the connection */
	n = options(req, sizeof(req), "z9hG4bKtcp2", sip_tcp_port(srv));
	got.status = 0;
	ck_assert_ptr_nonnull(sip_tp_request(sip_tcp_tp(cli), req, (size_t)n, &dst, &got.h, &err));
	while (!got.status && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(loop, 50);
	ck_assert_uint_eq(got.status, 200);
	ck_assert_uint_eq(sip_tcp_stats(cli)->connected, 1);
	sip_tcp_stop(cli);
	sip_tcp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

/* Reads from a raw client socket while the loop runs, until `want` responses have been framed. */
static unsigned read_responses(struct cp_loop *loop, int fd, unsigned want, char *buf, size_t cap, size_t *len)
{
	struct sip_framer f;
	unsigned got_n = 0;
	uint64_t t0 = cm_now_ms();
	size_t off = 0, mlen;

	*len = 0;
	sip_framer_reset(&f);
	while (got_n < want && cm_now_ms() - t0 < 3000) {
		ssize_t n;
		cp_loop_run_once(loop, 20);
		n = recv(fd, buf + *len, cap - *len, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			*len += (size_t)n;
		while (sip_frame(&f, buf + off, *len - off, &mlen) == SIP_FRAME_OK) {
			ck_assert(memmem(buf + off, mlen, "SIP/2.0 200 OK", 14));
			off += mlen;
			got_n++;
			sip_framer_reset(&f);
		}
	}
	return got_n;
}

START_TEST(framing_packed_and_split)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *srv = sip_tcp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sockaddr_storage dst;
	char a[1024], b[1024], c[1024], both[2048], out[8192];
	int na = options(a, sizeof(a), "z9hG4bKpk1", sip_tcp_port(srv));
	int nb = options(b, sizeof(b), "z9hG4bKpk2", sip_tcp_port(srv));
	int nc = options(c, sizeof(c), "z9hG4bKsp3", sip_tcp_port(srv));
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t len;

	requests = 0;
	sip_addr_from(&dst, "127.0.0.1", sip_tcp_port(srv));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&dst, sizeof(struct sockaddr_in)), 0);
	memcpy(both, "\r\n\r\n", 4); /* keep-alive CRLFs first */
	memcpy(both + 4, a, (size_t)na);
	memcpy(both + 4 + na, b, (size_t)nb);
	ck_assert_int_eq(write(fd, both, (size_t)(4 + na + nb)), 4 + na + nb);
	for (int i = 0; i < nc; i++) {
		ck_assert_int_eq(write(fd, c + i, 1), 1);
		if (i % 16 == 0)
			cp_loop_run_once(loop, 1);
	}
	ck_assert_uint_eq(read_responses(loop, fd, 3, out, sizeof(out), &len), 3);
	ck_assert_uint_eq(requests, 3);
	ck_assert_uint_eq(sip_tcp_stats(srv)->messages, 3);

	/* a stream that cannot be framed (no Content-Length) is closed and counted */
	static const char bad[] = "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKb\r\n\r\n";
	ck_assert_int_eq(write(fd, bad, sizeof(bad) - 1), (ssize_t)sizeof(bad) - 1);
	uint64_t t0 = cm_now_ms();
	ssize_t r = -1;
	while (cm_now_ms() - t0 < 3000) {
		cp_loop_run_once(loop, 20);
		r = recv(fd, out, sizeof(out), MSG_DONTWAIT);
		if (r == 0)
			break;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(sip_tcp_stats(srv)->framing_errors, 1);
	ck_assert_uint_eq(sip_tcp_stats(srv)->closed, 1);
	close(fd);
	sip_tcp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

/* A registrar on any transport that records what the REGISTER said about the transport it came over. */
static struct {
	char via_transport[8], contact_transport[8];
	unsigned registers;
} seen;

static void copy_str(char *out, size_t cap, struct sip_str s)
{
	snprintf(out, cap, "%.*s", (int)s.len, s.p ? s.p : "");
}

static void registrar_request(void *arg, struct sip_txn *st, const struct sip_msg *req,
			      const struct sockaddr_storage *src)
{
	const struct sip_hdr *vh = sip_msg_hdr(req, SIP_HDR_VIA), *ch = sip_msg_hdr(req, SIP_HDR_CONTACT);
	struct sip_str rest, elem, tp = { 0 };
	struct sip_via v;
	struct sip_addr a;
	const char *why;
	char extra[512];

	(void)arg;
	(void)src;
	if (!st || !vh || !ch)
		return;
	seen.registers++;
	rest = vh->value;
	if (sip_next_value(&rest, &elem) > 0 && sip_parse_via(elem, &v, &why) == 0)
		copy_str(seen.via_transport, sizeof(seen.via_transport), v.transport);
	if (sip_parse_addr(ch->value, &a, &why) == 0 && sip_param_get(a.uri.params, "transport", &tp))
		copy_str(seen.contact_transport, sizeof(seen.contact_transport), tp);
	snprintf(extra, sizeof(extra), "Contact: %.*s;expires=60\r\n", (int)ch->value.len, ch->value.p);
	sip_txn_respond_simple(st, 200, "reg1", extra);
}

static const struct sip_txn_user_ops registrar_ops = { .on_request = registrar_request };

/* sip_reg over the generic transport handle: the Via names the transport (UDP, TCP) and the Contact URI carries
 * ;transport=tcp on TCP and nothing on UDP (RFC 3261 §19.1.1, §20.42). */
START_TEST(register_names_its_transport)
{
	static const struct {
		enum sip_tp_kind kind;
		const char *via, *contact;
	} cases[] = { { SIP_TP_UDP, "UDP", "" }, { SIP_TP_TCP, "TCP", "tcp" } };

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cp_loop *loop = cp_loop_new();
		struct sip_tp *srv = sip_tp_start(loop, cases[i].kind, "127.0.0.1", 0, NULL, &registrar_ops, NULL);
		struct sip_tp *cli = sip_tp_start(loop, cases[i].kind, "127.0.0.1", 0, NULL, &cli_ops, NULL);
		struct sip_reg_config cfg = { .domain = "127.0.0.1", .user = "alice", .expires = 60 };
		struct sip_reg *r;
		uint64_t t0 = cm_now_ms();

		ck_assert_ptr_nonnull(srv);
		ck_assert_ptr_nonnull(cli);
		ck_assert_int_eq(sip_tp_kind(cli), cases[i].kind);
		ck_assert_str_eq(sip_tp_via_token(cli), cases[i].via);
		ck_assert_int_eq(sip_tp_reliable(cli), cases[i].kind != SIP_TP_UDP);
		memset(&seen, 0, sizeof(seen));
		sip_addr_from(&cfg.dst, "127.0.0.1", sip_tp_port(srv));
		r = sip_reg_new(cli, &cfg, NULL, NULL);
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(sip_reg_start(r), 0);
		while (sip_reg_stats(r)->state != SIP_REG_REGISTERED && cm_now_ms() - t0 < 3000)
			cp_loop_run_once(loop, 20);
		ck_assert_str_eq(sip_reg_state_name(sip_reg_stats(r)->state), "registered");
		ck_assert_uint_eq(sip_reg_stats(r)->granted_s, 60);
		ck_assert_uint_eq(seen.registers, 1);
		ck_assert_str_eq(seen.via_transport, cases[i].via);
		ck_assert_str_eq(seen.contact_transport, cases[i].contact);
		sip_reg_free(r);
		sip_tp_stop(cli);
		sip_tp_stop(srv);
		cp_loop_free(loop);
	}
}
END_TEST

/* The wire forms the builders use: IPv6 hosts in brackets, the URI parameter per transport. */
START_TEST(via_and_contact_forms)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tp *u = sip_tp_start(loop, SIP_TP_UDP, "::1", 0, NULL, &cli_ops, NULL);
	struct sip_tp *t = sip_tp_start(loop, SIP_TP_TCP, "127.0.0.1", 0, NULL, &cli_ops, NULL);
	char want[128], out[128];

	ck_assert_ptr_nonnull(t);
	if (u) { /* no IPv6 loopback in some containers */
		ck_assert_int_eq(sip_tp_via(u, "z9hG4bKx", out, sizeof(out)), 0);
		snprintf(want, sizeof(want), "SIP/2.0/UDP [::1]:%u;branch=z9hG4bKx;rport", sip_tp_port(u));
		ck_assert_str_eq(out, want);
		ck_assert_int_eq(sip_tp_contact_uri(u, "bob", out, sizeof(out)), 0);
		snprintf(want, sizeof(want), "sip:bob@[::1]:%u", sip_tp_port(u));
		ck_assert_str_eq(out, want);
	}
	ck_assert_int_eq(sip_tp_contact_uri(t, "bob", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "sip:bob@127.0.0.1:%u;transport=tcp", sip_tp_port(t));
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(sip_tp_via(t, "z9hG4bKy", out, 10), -ENOSPC);
	sip_tp_stop(u);
	sip_tp_stop(t);
	cp_loop_free(loop);
}
END_TEST

/* A registrar that notes the source port of each REGISTER and the port in its Contact. */
static struct {
	unsigned n;
	uint16_t src_port[8], contact_port[8];
} ports_seen;

static void port_registrar(void *arg, struct sip_txn *st, const struct sip_msg *req,
			   const struct sockaddr_storage *src)
{
	const struct sip_hdr *ch = sip_msg_hdr(req, SIP_HDR_CONTACT);
	struct sip_addr a;
	const char *why;
	char extra[512];

	(void)arg;
	if (!st || !ch || sip_parse_addr(ch->value, &a, &why) < 0)
		return;
	if (ports_seen.n < 8) {
		ports_seen.src_port[ports_seen.n] = ntohs(((const struct sockaddr_in *)src)->sin_port);
		ports_seen.contact_port[ports_seen.n++] = a.uri.port;
	}
	snprintf(extra, sizeof(extra), "Contact: %.*s;expires=60\r\n", (int)ch->value.len, ch->value.p);
	sip_txn_respond_simple(st, 200, "p1", extra);
}

static const struct sip_txn_user_ops port_registrar_ops = { .on_request = port_registrar };

static void answer_options(void *arg, struct sip_txn *st, const struct sip_msg *req,
			   const struct sockaddr_storage *src)
{
	(void)arg;
	(void)src;
	if (st && req->method_id == SIP_OPTIONS)
		sip_txn_respond_simple(st, 200, "o1", NULL);
}

static const struct sip_txn_user_ops port_cli_ops = { .on_request = answer_options,
						      .on_response = sip_client_on_response,
						      .on_timeout = sip_client_on_timeout,
						      .on_terminated = sip_client_on_terminated };

static enum sip_reg_state register_on(struct cp_loop *loop, struct sip_tp *tp, const char *user, uint16_t port)
{
	struct sip_reg_config cfg = { .domain = "127.0.0.1", .user = user, .expires = 60 };
	struct sip_reg *r;
	enum sip_reg_state s;
	uint64_t t0 = cm_now_ms();

	sip_addr_from(&cfg.dst, "127.0.0.1", port);
	r = sip_reg_new(tp, &cfg, NULL, NULL);
	sip_reg_start(r);
	while (sip_reg_stats(r)->state == SIP_REG_REGISTERING && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(loop, 20);
	s = sip_reg_stats(r)->state;
	sip_reg_free(r);
	return s;
}

/* Per-endpoint ports: two more sockets on one UDP transport, one transaction layer.  Each registration leaves
 * from its own port with that port in Via and Contact, its answer comes back to it; a request sent to one of
 * them is answered from that same port; closing one leaves the others working. */
START_TEST(udp_ports_per_endpoint)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *srv = sip_udp_start(loop, "127.0.0.1", 0, &port_registrar_ops, NULL);
	struct sip_udp *u = sip_udp_start(loop, "127.0.0.1", 0, &port_cli_ops, NULL);
	struct sip_tp *p1 = sip_udp_open_port(u, 0), *p2 = sip_udp_open_port(u, 0);
	struct sockaddr_storage dst, from;
	socklen_t fl = sizeof(from);
	char req[1024], resp[2048];
	int fd = socket(AF_INET, SOCK_DGRAM, 0), n;
	ssize_t got_n = -1;
	uint64_t t0;

	ck_assert_ptr_nonnull(p1);
	ck_assert_ptr_nonnull(p2);
	ck_assert_uint_ne(sip_tp_port(p1), sip_tp_port(p2));
	ck_assert_uint_ne(sip_tp_port(p1), sip_udp_port(u));
	ck_assert_ptr_eq(sip_tp_txn_layer(p1), sip_tp_txn_layer(sip_udp_tp(u)));
	memset(&ports_seen, 0, sizeof(ports_seen));
	ck_assert_int_eq(register_on(loop, p1, "ep1", sip_udp_port(srv)), SIP_REG_REGISTERED);
	ck_assert_int_eq(register_on(loop, p2, "ep2", sip_udp_port(srv)), SIP_REG_REGISTERED);
	ck_assert_uint_eq(ports_seen.n, 2);
	ck_assert_uint_eq(ports_seen.src_port[0], sip_tp_port(p1));
	ck_assert_uint_eq(ports_seen.contact_port[0], sip_tp_port(p1));
	ck_assert_uint_eq(ports_seen.src_port[1], sip_tp_port(p2));
	ck_assert_uint_eq(ports_seen.contact_port[1], sip_tp_port(p2));

	/* a request to p2's port is answered from p2's port */
	n = snprintf(req, sizeof(req),
		     "OPTIONS sip:ep2@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKport1;rport\r\n"
		     "Max-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=x1\r\nTo: <sip:ep2@127.0.0.1>\r\n"
		     "Call-ID: port1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		     sip_tp_port(p2));
	sip_addr_from(&dst, "127.0.0.1", sip_tp_port(p2));
	ck_assert_int_eq(sendto(fd, req, (size_t)n, 0, (struct sockaddr *)&dst, sizeof(struct sockaddr_in)), n);
	t0 = cm_now_ms();
	while (got_n < 0 && cm_now_ms() - t0 < 3000) {
		cp_loop_run_once(loop, 20);
		got_n = recvfrom(fd, resp, sizeof(resp), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	}
	ck_assert_int_gt(got_n, 0);
	ck_assert(memmem(resp, (size_t)got_n, "SIP/2.0 200", 11));
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&from)->sin_port), sip_tp_port(p2));

	/* closing p1 leaves p2 and the transport's own socket working */
	sip_tp_stop(p1);
	ck_assert_int_eq(register_on(loop, p2, "ep2", sip_udp_port(srv)), SIP_REG_REGISTERED);
	ck_assert_int_eq(register_on(loop, sip_udp_tp(u), "main", sip_udp_port(srv)), SIP_REG_REGISTERED);
	ck_assert_uint_eq(ports_seen.src_port[3], sip_udp_port(u));
	close(fd);
	sip_udp_stop(u); /* closes p2 too */
	sip_udp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

static struct sip_reg *turn_regs[2];

static void start_in_turn(struct cp_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	sip_reg_start(turn_regs[0]);
	sip_reg_start(turn_regs[1]);
}

/* UDP and ICMP: a REGISTER to a port nothing listens on fails at once with 503 (the ICMP port unreachable, read
 * from the error queue) instead of at Timer F, and goes on to the fallback registrar; a REGISTER to a live
 * registrar sent right after one to the closed port still goes out (the socket's pending ICMP error is not
 * taken as its own), sent at once or batched at the end of a loop turn. */
START_TEST(udp_icmp_unreachable)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *srv = sip_udp_start(loop, "127.0.0.1", 0, &port_registrar_ops, NULL);
	struct sip_udp *u = sip_udp_start(loop, "127.0.0.1", 0, &port_cli_ops, NULL);
	struct sip_reg_config cfg = { .domain = "127.0.0.1", .user = "fo", .expires = 60 }, good = cfg;
	struct sockaddr_storage live;
	struct sip_reg *a, *b;
	uint16_t closed;
	uint64_t t0;

	close(tu_udp_socket(&closed)); /* a port that was bound a moment ago: nothing listens there now */
	sip_addr_from(&cfg.dst, "127.0.0.1", closed);
	sip_addr_from(&live, "127.0.0.1", sip_udp_port(srv));
	cfg.fallback = &live;
	cfg.nfallback = 1;
	a = sip_reg_new(sip_udp_tp(u), &cfg, NULL, NULL);
	t0 = cm_now_ms();
	sip_reg_start(a);
	while (sip_reg_stats(a)->state == SIP_REG_REGISTERING && cm_now_ms() - t0 < 5000)
		cp_loop_run_once(loop, 20);
	ck_assert_int_eq(sip_reg_stats(a)->state, SIP_REG_REGISTERED);
	ck_assert_uint_eq(sip_reg_stats(a)->failovers, 1);
	ck_assert_uint_lt(cm_now_ms() - t0, 1000); /* not Timer F's 32 s */

	/* back to back in one turn: the closed port, then the live registrar */
	cfg.fallback = NULL;
	cfg.nfallback = 0;
	cfg.user = "closed";
	good.user = "good";
	good.dst = live;
	sip_reg_free(a);
	a = sip_reg_new(sip_udp_tp(u), &cfg, NULL, NULL);
	b = sip_reg_new(sip_udp_tp(u), &good, NULL, NULL);
	t0 = cm_now_ms();
	sip_reg_start(a);
	sip_reg_start(b);
	while ((sip_reg_stats(a)->state == SIP_REG_REGISTERING || sip_reg_stats(b)->state == SIP_REG_REGISTERING) &&
	       cm_now_ms() - t0 < 5000)
		cp_loop_run_once(loop, 20);
	ck_assert_int_eq(sip_reg_stats(a)->state, SIP_REG_FAILED);
	ck_assert_uint_eq(sip_reg_stats(a)->last_status, 503);
	ck_assert_int_eq(sip_reg_stats(b)->state, SIP_REG_REGISTERED);
	ck_assert_uint_lt(cm_now_ms() - t0, 1000);
	sip_reg_free(a);
	sip_reg_free(b);

	/* the same from a timer, twice: both go out in one sendmmsg when the turn ends (the kernel stops the batch at
	 * the pending error after the first; the rest go in the next call), the closed port fails, the live one
	 * registers */
	for (int round = 0; round < 2; round++) {
		struct cp_timer tm;

		turn_regs[0] = a = sip_reg_new(sip_udp_tp(u), &cfg, NULL, NULL);
		turn_regs[1] = b = sip_reg_new(sip_udp_tp(u), &good, NULL, NULL);
		cp_timer_init(&tm, start_in_turn, NULL);
		cp_timer_start(loop, &tm, 0);
		t0 = cm_now_ms();
		do
			cp_loop_run_once(loop, 20);
		while ((sip_reg_stats(a)->state <= SIP_REG_REGISTERING || sip_reg_stats(b)->state <= SIP_REG_REGISTERING) &&
		       cm_now_ms() - t0 < 5000);
		ck_assert_int_eq(sip_reg_stats(a)->state, SIP_REG_FAILED);
		ck_assert_int_eq(sip_reg_stats(b)->state, SIP_REG_REGISTERED);
		ck_assert_uint_lt(cm_now_ms() - t0, 1000);
		sip_reg_free(a);
		sip_reg_free(b);
	}
	sip_udp_stop(u);
	sip_udp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

/* A server that keeps every request unanswered and notes where each came from. */
static struct sockaddr_storage silent_src[4];
static unsigned silent_n;

static void silent_request(void *arg, struct sip_txn *st, const struct sip_msg *req,
			   const struct sockaddr_storage *src)
{
	(void)arg;
	(void)st;
	(void)req;
	if (silent_n < 4)
		silent_src[silent_n++] = *src;
}

static const struct sip_txn_user_ops silent_ops = { .on_request = silent_request };

struct waiter {
	struct sip_client_handler h;
	unsigned status; /* final response, or the status a timeout reports (503: the transport failed) */
	bool done;
};

static void waiter_response(struct sip_client_handler *h, struct sip_txn *ct, const struct sip_msg *m)
{
	struct waiter *w = (struct waiter *)h;

	(void)ct;
	if (m->status >= 200)
		w->status = m->status, w->done = true;
}

static void waiter_timeout(struct sip_client_handler *h, struct sip_txn *ct)
{
	struct waiter *w = (struct waiter *)h;

	w->status = sip_txn_last_status(ct);
	w->done = true;
}

/* Per-endpoint handles on one TCP transport: each has its own listener (its port in Via and Contact) and its own
 * connection to the registrar; a request to a handle's port is answered on that connection; a connection of one
 * handle failing fails that handle's transaction at once and leaves the other's waiting; closing a handle leaves
 * the others working. */
START_TEST(tcp_handles_per_endpoint)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *srv = sip_tcp_start(loop, "127.0.0.1", 0, &port_registrar_ops, NULL);
	struct sip_tcp *silent = sip_tcp_start(loop, "127.0.0.1", 0, &silent_ops, NULL);
	struct sip_tcp *cli = sip_tcp_start(loop, "127.0.0.1", 0, &port_cli_ops, NULL);
	struct sip_tp *h1 = sip_tcp_open_port(cli, 0), *h2 = sip_tcp_open_port(cli, 0);
	struct waiter w1 = { .h = { .on_response = waiter_response, .on_timeout = waiter_timeout } }, w2 = w1;
	struct sockaddr_storage dst;
	char req[1024], resp[2048];
	size_t rlen;
	int fd, n, err;
	uint64_t t0;

	ck_assert_ptr_nonnull(h1);
	ck_assert_ptr_nonnull(h2);
	ck_assert_uint_ne(sip_tp_port(h1), sip_tp_port(h2));
	ck_assert_uint_ne(sip_tp_port(h1), sip_tcp_port(cli));
	ck_assert_ptr_eq(sip_tp_txn_layer(h1), sip_tp_txn_layer(sip_tcp_tp(cli)));
	memset(&ports_seen, 0, sizeof(ports_seen));
	ck_assert_int_eq(register_on(loop, h1, "ep1", sip_tcp_port(srv)), SIP_REG_REGISTERED);
	ck_assert_int_eq(register_on(loop, h2, "ep2", sip_tcp_port(srv)), SIP_REG_REGISTERED);
	ck_assert_int_eq(register_on(loop, h1, "ep1", sip_tcp_port(srv)), SIP_REG_REGISTERED);
	ck_assert_uint_eq(ports_seen.n, 3);
	ck_assert_uint_eq(ports_seen.contact_port[0], sip_tp_port(h1));
	ck_assert_uint_eq(ports_seen.contact_port[1], sip_tp_port(h2));
	ck_assert_uint_ne(ports_seen.src_port[0], ports_seen.src_port[1]); /* two connections */
	ck_assert_uint_eq(ports_seen.src_port[2], ports_seen.src_port[0]); /* h1's again */
	ck_assert_uint_eq(sip_tcp_stats(srv)->accepted, 2);
	ck_assert_uint_eq(sip_tcp_stats(cli)->connected, 2); /* the transport counts its handles' */

	/* a request to h2's port is answered on the connection it came in on */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sip_addr_from(&dst, "127.0.0.1", sip_tp_port(h2));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&dst, sizeof(struct sockaddr_in)), 0);
	n = options(req, sizeof(req), "z9hG4bKh2opt", sip_tp_port(h2));
	ck_assert_int_eq(send(fd, req, (size_t)n, 0), n);
	ck_assert_uint_eq(read_responses(loop, fd, 1, resp, sizeof(resp), &rlen), 1);
	close(fd);

	/* both handles wait on a silent server; its side of h1's connection closes: only h1's request fails */
	silent_n = 0;
	sip_addr_from(&dst, "127.0.0.1", sip_tcp_port(silent));
	n = options(req, sizeof(req), "z9hG4bKsil1", sip_tcp_port(silent));
	ck_assert_ptr_nonnull(sip_tp_request(h1, req, (size_t)n, &dst, &w1.h, &err));
	t0 = cm_now_ms();
	while (silent_n < 1 && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(loop, 20);
	n = options(req, sizeof(req), "z9hG4bKsil2", sip_tcp_port(silent));
	ck_assert_ptr_nonnull(sip_tp_request(h2, req, (size_t)n, &dst, &w2.h, &err));
	while (silent_n < 2 && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(loop, 20);
	ck_assert_uint_eq(silent_n, 2);
	ck_assert_uint_eq(sip_tcp_disconnect(silent, &silent_src[0]), 1);
	while (!w1.done && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(loop, 20);
	ck_assert(w1.done);
	ck_assert_uint_eq(w1.status, 503);
	for (int i = 0; i < 5; i++)
		cp_loop_run_once(loop, 20);
	ck_assert(!w2.done);

	/* closing h1 leaves h2 and the transport's own listener working */
	sip_tp_stop(h1);
	ck_assert_int_eq(register_on(loop, h2, "ep2", sip_tcp_port(srv)), SIP_REG_REGISTERED);
	ck_assert_int_eq(register_on(loop, sip_tcp_tp(cli), "main", sip_tcp_port(srv)), SIP_REG_REGISTERED);
	ck_assert_uint_eq(ports_seen.contact_port[4], sip_tcp_port(cli));
	sip_tcp_stop(cli); /* closes h2 too */
	sip_tcp_stop(silent);
	sip_tcp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

/* ---- RFC 5626 CRLF keep-alive ----------------------------------------------------------------------------- */

static unsigned dead_flows;
static struct sockaddr_storage dead_peer;

static void flow_dead(void *arg, struct sip_tp *tp, const struct sockaddr_storage *peer)
{
	(void)arg;
	(void)tp;
	dead_flows++;
	dead_peer = *peer;
}

/* Our client pings every 100 ms over a connection to our own server, which answers each ping with a pong: the
 * flow stays up, nothing fails. */
START_TEST(keepalive_ping_pong)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *srv = sip_tcp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sip_tcp *cli = sip_tcp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sockaddr_storage dst;
	char req[1024];
	int n = options(req, sizeof(req), "z9hG4bKka1", sip_tcp_port(srv)), err;
	uint64_t t0;

	dead_flows = 0;
	got.status = 0;
	got.h.on_response = got_response;
	ck_assert_int_eq(sip_tp_set_keepalive(sip_tcp_tp(cli), 100, 100, flow_dead, NULL), 0);
	sip_addr_from(&dst, "127.0.0.1", sip_tcp_port(srv));
	ck_assert_ptr_nonnull(sip_tp_request(sip_tcp_tp(cli), req, (size_t)n, &dst, &got.h, &err));
	/* at least 4 pings (one per 100 ms: 400 ms or more, however loaded the machine) */
	for (t0 = cm_now_ms(); sip_tcp_stats(cli)->keepalive_answered < 4 && cm_now_ms() - t0 < 5000;)
		cp_loop_run_once(loop, 10);
	ck_assert_uint_eq(got.status, 200);
	ck_assert_uint_ge(cm_now_ms() - t0, 400);
	ck_assert_uint_ge(sip_tcp_stats(cli)->keepalive_pings, 4);
	ck_assert_uint_ge(sip_tcp_stats(cli)->keepalive_answered + 1, sip_tcp_stats(cli)->keepalive_pings);
	ck_assert_uint_eq(sip_tcp_stats(srv)->keepalive_pongs_sent, sip_tcp_stats(cli)->keepalive_answered +
			  (sip_tcp_stats(cli)->keepalive_pings > sip_tcp_stats(cli)->keepalive_answered));
	ck_assert_uint_eq(sip_tcp_stats(cli)->keepalive_failures, 0);
	ck_assert_uint_eq(sip_tcp_stats(cli)->closed, 0);
	ck_assert_uint_eq(sip_tcp_stats(srv)->framing_errors, 0);
	ck_assert_uint_eq(dead_flows, 0);
	/* a request after many pings still frames and gets its answer on the same connection */
	got.status = 0;
	n = options(req, sizeof(req), "z9hG4bKka2", sip_tcp_port(srv));
	ck_assert_ptr_nonnull(sip_tp_request(sip_tcp_tp(cli), req, (size_t)n, &dst, &got.h, &err));
	for (t0 = cm_now_ms(); !got.status && cm_now_ms() - t0 < 2000;)
		cp_loop_run_once(loop, 10);
	ck_assert_uint_eq(got.status, 200);
	ck_assert_uint_eq(sip_tcp_stats(cli)->connected, 1);
	ck_assert_int_eq(sip_tp_set_keepalive(sip_tcp_tp(cli), 0, 0, NULL, NULL), 0);
	sip_tcp_stop(cli);
	sip_tcp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

/* A peer whose kernel takes the connection but that never answers (a hung server): after one ping and the pong
 * time the flow is closed, the request waiting on it fails at once, and the owner hears which peer died. */
START_TEST(keepalive_dead_flow)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *cli = sip_tcp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), err, n;
	struct sockaddr_storage dst;
	char req[1024];
	uint64_t t0;
	struct sip_txn *t;

	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &sl), 0);
	dead_flows = 0;
	ck_assert_int_eq(sip_tp_set_keepalive(sip_tcp_tp(cli), 100, 150, flow_dead, NULL), 0);
	sip_addr_from(&dst, "127.0.0.1", ntohs(a.sin_port));
	n = options(req, sizeof(req), "z9hG4bKka3", ntohs(a.sin_port));
	t = sip_tp_request(sip_tcp_tp(cli), req, (size_t)n, &dst, NULL, &err);
	ck_assert_ptr_nonnull(t);
	t0 = cm_now_ms();
	while (!dead_flows && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(loop, 10);
	ck_assert_uint_eq(dead_flows, 1);
	ck_assert_uint_ge(cm_now_ms() - t0, 240);       /* the ping at 100 ms, no answer by 250 ms */
	ck_assert_uint_lt(cm_now_ms() - t0, 1000);
	ck_assert(sip_same_addr(&dead_peer, &dst));
	ck_assert_uint_eq(sip_tcp_stats(cli)->keepalive_pings, 1);
	ck_assert_uint_eq(sip_tcp_stats(cli)->keepalive_failures, 1);
	ck_assert_uint_eq(sip_tcp_stats(cli)->closed, 1);
	/* the OPTIONS waiting on the flow failed with it (a transport error, not Timer F 32 s later) */
	ck_assert_uint_eq(sip_txn_layer_stats(sip_tp_txn_layer(sip_tcp_tp(cli)))->transport_errors, 1);
	close(lfd);
	sip_tcp_stop(cli);
	cp_loop_free(loop);
}
END_TEST

/* A ping split across two reads, and pings packed before a request, are answered once each. */
START_TEST(keepalive_pings_answered)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *srv = sip_tcp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(sip_tcp_port(srv)) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char req[1024], in[4096];
	size_t got_len = 0;
	int n;
	uint64_t t0;

	requests = 0;
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(write(fd, "\r\n", 2), 2);
	for (t0 = cm_now_ms(); cm_now_ms() - t0 < 100;)
		cp_loop_run_once(loop, 10);
	ck_assert_int_eq(write(fd, "\r\n", 2), 2);
	n = options(req, sizeof(req), "z9hG4bKka4", sip_tcp_port(srv));
	memmove(req + 8, req, (size_t)n);
	memcpy(req, "\r\n\r\n\r\n\r\n", 8);
	ck_assert_int_eq(write(fd, req, (size_t)n + 8), n + 8);
	for (t0 = cm_now_ms(); cm_now_ms() - t0 < 300;)
		cp_loop_run_once(loop, 10);
	ck_assert_uint_eq(requests, 1);
	ck_assert_uint_eq(sip_tcp_stats(srv)->keepalive_pongs_sent, 3);
	n = (int)recv(fd, in, sizeof(in) - 1, MSG_DONTWAIT);
	ck_assert_int_gt(n, 6);
	got_len = (size_t)n;
	in[got_len] = '\0';
	ck_assert(strncmp(in, "\r\n\r\n\r\nSIP/2.0 200", 17) == 0); /* three pongs, then the response */
	close(fd);
	sip_tcp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

static Suite *tcp_suite(void)
{
	Suite *s = suite_create("sip_tcp");
	TCase *tc = tcase_create("tcp");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, transaction_over_tcp);
	tcase_add_test(tc, framing_packed_and_split);
	tcase_add_test(tc, register_names_its_transport);
	tcase_add_test(tc, via_and_contact_forms);
	tcase_add_test(tc, udp_ports_per_endpoint);
	tcase_add_test(tc, tcp_handles_per_endpoint);
	tcase_add_test(tc, udp_icmp_unreachable);
	tcase_add_test(tc, keepalive_ping_pong);
	tcase_add_test(tc, keepalive_dead_flow);
	tcase_add_test(tc, keepalive_pings_answered);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(tcp_suite());
}
