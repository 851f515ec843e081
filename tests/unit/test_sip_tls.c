/* The TLS transport over real sockets on the event loop, with a CA and certificates this test makes with the
 * openssl command: a REGISTER and its answer one way and an OPTIONS the other way on the same connection
 * (Via TLS, Contact ;transport=tls); an untrusted server certificate and a certificate for another name refused
 * (counted, and the registration fails at once with 503 instead of waiting for Timer F); a server requiring a
 * client certificate refusing a client without one and accepting one with it (mutual TLS); the second
 * connection to a peer resuming the first one's session; incoming connections refused without a certificate; a
 * peer that never answers the handshake given up after the setup time. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "check_main.h"
#include "testutil.h"

static char dir[64];
static char ca[128], srv_cert[128], srv_key[128], cli_cert[128], cli_key[128], rogue_cert[128], rogue_key[128];

/* CA, a server certificate for sip.test and 127.0.0.1, a client certificate (both signed by the CA) and a
 * self-signed "rogue" certificate for the same names. */
static void make_pki(void)
{
	char cmd[4096];

	snprintf(dir, sizeof(dir), "/tmp/cm-tls-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s; K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
		 "printf 'subjectAltName=DNS:sip.test,IP:127.0.0.1\\n' > san.ext;"
		 "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=callmeter-test-ca 2>/dev/null;"
		 "openssl req $K -keyout srv.key -out srv.csr -subj /CN=sip.test 2>/dev/null;"
		 "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext "
		 "-out srv.pem 2>/dev/null;"
		 "openssl req $K -keyout cli.key -out cli.csr -subj /CN=client 2>/dev/null;"
		 "openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out cli.pem 2>/dev/null;"
		 "openssl req -x509 $K -keyout rogue.key -out rogue.pem -days 2 -subj /CN=sip.test "
		 "-addext subjectAltName=DNS:sip.test,IP:127.0.0.1 2>/dev/null",
		 dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(srv_cert, sizeof(srv_cert), "%s/srv.pem", dir);
	snprintf(srv_key, sizeof(srv_key), "%s/srv.key", dir);
	snprintf(cli_cert, sizeof(cli_cert), "%s/cli.pem", dir);
	snprintf(cli_key, sizeof(cli_key), "%s/cli.key", dir);
	snprintf(rogue_cert, sizeof(rogue_cert), "%s/rogue.pem", dir);
	snprintf(rogue_key, sizeof(rogue_key), "%s/rogue.key", dir);
}

static void remove_pki(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* The server side: answers REGISTER (recording Via and Contact transports) and sends the client an OPTIONS. */
static struct {
	char via[8], contact[8];
	unsigned registers;
	struct sockaddr_storage client;
	bool have_client;
	unsigned options_in;    /* OPTIONS the client side received */
	unsigned options_ok;    /* 200s the server side got for them */
} seen;

static void copy_str(char *out, size_t cap, struct sip_str s)
{
	snprintf(out, cap, "%.*s", (int)s.len, s.p ? s.p : "");
}

static void srv_request(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	const struct sip_hdr *vh = sip_msg_hdr(req, SIP_HDR_VIA), *ch = sip_msg_hdr(req, SIP_HDR_CONTACT);
	struct sip_str rest, elem, tp = { 0 };
	struct sip_via v;
	struct sip_addr a;
	const char *why;
	char extra[512];

	(void)arg;
	if (!st || !vh || !ch)
		return;
	seen.registers++;
	seen.client = *src;
	seen.have_client = true;
	rest = vh->value;
	if (sip_next_value(&rest, &elem) > 0 && sip_parse_via(elem, &v, &why) == 0)
		copy_str(seen.via, sizeof(seen.via), v.transport);
	if (sip_parse_addr(ch->value, &a, &why) == 0 && sip_param_get(a.uri.params, "transport", &tp))
		copy_str(seen.contact, sizeof(seen.contact), tp);
	snprintf(extra, sizeof(extra), "Contact: %.*s;expires=60\r\n", (int)ch->value.len, ch->value.p);
	sip_txn_respond_simple(st, 200, "tls1", extra);
}

static void srv_response(void *arg, struct sip_txn *ct, const struct sip_msg *m)
{
	(void)arg;
	if (ct && m->status == 200)
		seen.options_ok++;
}

static const struct sip_txn_user_ops srv_ops = { .on_request = srv_request, .on_response = srv_response };

static void cli_request(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	(void)arg;
	(void)src;
	if (st && req->method_id == SIP_OPTIONS) {
		seen.options_in++;
		sip_txn_respond_simple(st, 200, "cli1", NULL);
	}
}

static const struct sip_txn_user_ops cli_ops = { .on_request = cli_request,
						 .on_response = sip_client_on_response,
						 .on_timeout = sip_client_on_timeout,
						 .on_terminated = sip_client_on_terminated };

struct bed {
	struct cp_loop *loop;
	struct sip_tcp *srv, *cli;
};

static void bed_start(struct bed *b, const struct sip_tls_config *srv, const struct sip_tls_config *cli)
{
	memset(&seen, 0, sizeof(seen));
	b->loop = cp_loop_new();
	b->srv = sip_tls_start(b->loop, "127.0.0.1", 0, srv, &srv_ops, NULL);
	b->cli = sip_tls_start(b->loop, "127.0.0.1", 0, cli, &cli_ops, NULL);
	ck_assert_ptr_nonnull(b->srv);
	ck_assert_ptr_nonnull(b->cli);
}

static void bed_stop(struct bed *b)
{
	sip_tcp_stop(b->cli);
	sip_tcp_stop(b->srv);
	cp_loop_free(b->loop);
}

/* Registers `user` from the client to the server; returns the registration's final state, its status in
 * *status and the time it took. */
static enum sip_reg_state reg_once(struct bed *b, const char *user, unsigned *status, uint64_t *ms)
{
	struct sip_reg_config cfg = { .domain = "sip.test", .user = user, .expires = 60 };
	struct sip_reg *r;
	uint64_t t0 = cm_now_ms();
	enum sip_reg_state s;

	sip_addr_from(&cfg.dst, "127.0.0.1", sip_tcp_port(b->srv));
	r = sip_reg_new(sip_tcp_tp(b->cli), &cfg, NULL, NULL);
	ck_assert_ptr_nonnull(r);
	sip_reg_start(r);
	while ((sip_reg_stats(r)->state == SIP_REG_REGISTERING) && cm_now_ms() - t0 < 10000)
		cp_loop_run_once(b->loop, 20);
	s = sip_reg_stats(r)->state;
	*status = sip_reg_stats(r)->last_status;
	*ms = cm_now_ms() - t0;
	sip_reg_free(r);
	return s;
}

START_TEST(handshake_and_messages_both_ways)
{
	struct sip_tls_config srv = { .verify = SIP_TLS_VERIFY_NONE, .cert_file = srv_cert, .key_file = srv_key };
	struct sip_tls_config cli = { .verify = SIP_TLS_VERIFY_CA, .ca_file = ca, .server_name = "sip.test" };
	struct bed b;
	unsigned status;
	uint64_t ms, t0;
	char req[1024];
	int n, err;

	bed_start(&b, &srv, &cli);
	ck_assert_str_eq(sip_tp_via_token(sip_tcp_tp(b.cli)), "TLS");
	ck_assert_int_eq(sip_tp_kind(sip_tcp_tp(b.cli)), SIP_TP_TLS);
	ck_assert(sip_tp_reliable(sip_tcp_tp(b.cli)));
	ck_assert_int_eq(reg_once(&b, "alice", &status, &ms), SIP_REG_REGISTERED);
	ck_assert_uint_eq(status, 200);
	ck_assert_uint_eq(seen.registers, 1);
	ck_assert_str_eq(seen.via, "TLS");
	ck_assert_str_eq(seen.contact, "tls");
	ck_assert_uint_eq(sip_tcp_stats(b.cli)->tls_handshakes, 1);
	ck_assert_uint_eq(sip_tcp_stats(b.srv)->tls_handshakes, 1);

	/* the other way: the server sends a request to the client's address, which is the accepted connection */
	ck_assert(seen.have_client);
	n = snprintf(req, sizeof(req),
		     "OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:%u;branch=z9hG4bKopt1\r\n"
		     "Max-Forwards: 70\r\nFrom: <sip:srv@sip.test>;tag=s1\r\nTo: <sip:alice@sip.test>\r\n"
		     "Call-ID: opt1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		     sip_tcp_port(b.srv));
	ck_assert_ptr_nonnull(sip_tp_request(sip_tcp_tp(b.srv), req, (size_t)n, &seen.client, NULL, &err));
	t0 = cm_now_ms();
	while (!seen.options_ok && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(b.loop, 20);
	ck_assert_uint_eq(seen.options_in, 1);
	ck_assert_uint_eq(seen.options_ok, 1);
	ck_assert_uint_eq(sip_tcp_stats(b.srv)->connected, 0); /* no second connection: the same one */
	ck_assert_uint_eq(sip_tcp_stats(b.cli)->accepted, 0);
	ck_assert_uint_eq(sip_tcp_stats(b.cli)->tls_verify_failures, 0);
	bed_stop(&b);
}
END_TEST

/* An untrusted certificate (self-signed, not from our CA) and a trusted one for another name: both refused by
 * the client, counted, and the registration fails with 503 at once. */
START_TEST(bad_certificates_refused)
{
	static const struct {
		const char *name;
		bool rogue;
		const char *server_name;
	} cases[] = { { "untrusted", true, "sip.test" }, { "wrong name", false, "other.test" },
		      { "wrong IP", false, "127.0.0.2" } };

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sip_tls_config srv = { .verify = SIP_TLS_VERIFY_NONE,
					      .cert_file = cases[i].rogue ? rogue_cert : srv_cert,
					      .key_file = cases[i].rogue ? rogue_key : srv_key };
		struct sip_tls_config cli = { .verify = SIP_TLS_VERIFY_CA, .ca_file = ca,
					      .server_name = cases[i].server_name };
		struct bed b;
		unsigned status;
		uint64_t ms;

		bed_start(&b, &srv, &cli);
		ck_assert_msg(reg_once(&b, "bob", &status, &ms) == SIP_REG_FAILED, "%s: not refused", cases[i].name);
		ck_assert_uint_eq(status, 503);
		ck_assert_msg(ms < 3000, "%s: took %llu ms", cases[i].name, (unsigned long long)ms);
		ck_assert_uint_eq(sip_tcp_stats(b.cli)->tls_verify_failures, 1);
		ck_assert_uint_eq(sip_tcp_stats(b.cli)->tls_handshakes, 0);
		ck_assert_uint_eq(seen.registers, 0);
		bed_stop(&b);
	}
	/* verification off: the rogue certificate is accepted */
	struct sip_tls_config srv = { .verify = SIP_TLS_VERIFY_NONE, .cert_file = rogue_cert, .key_file = rogue_key };
	struct sip_tls_config cli = { .verify = SIP_TLS_VERIFY_NONE, .server_name = "sip.test" };
	struct bed b;
	unsigned status;
	uint64_t ms;

	bed_start(&b, &srv, &cli);
	ck_assert_int_eq(reg_once(&b, "bob", &status, &ms), SIP_REG_REGISTERED);
	bed_stop(&b);
}
END_TEST

/* The client checks the peer's IP address when it has no name (the certificate lists 127.0.0.1). */
START_TEST(certificate_checked_against_address)
{
	struct sip_tls_config srv = { .verify = SIP_TLS_VERIFY_NONE, .cert_file = srv_cert, .key_file = srv_key };
	struct sip_tls_config cli = { .verify = SIP_TLS_VERIFY_CA, .ca_file = ca };
	struct bed b;
	unsigned status;
	uint64_t ms;
	struct sockaddr_storage dst;

	bed_start(&b, &srv, &cli);
	ck_assert_int_eq(reg_once(&b, "carol", &status, &ms), SIP_REG_REGISTERED);
	/* a per-peer name overrides it: a name the certificate does not carry is refused */
	sip_tcp_disconnect(b.cli, NULL);
	sip_addr_from(&dst, "127.0.0.1", sip_tcp_port(b.srv));
	ck_assert_int_eq(sip_tp_set_peer_name(sip_tcp_tp(b.cli), &dst, "nope.test"), 0);
	ck_assert_int_eq(reg_once(&b, "carol", &status, &ms), SIP_REG_FAILED);
	ck_assert_uint_eq(sip_tcp_stats(b.cli)->tls_verify_failures, 1);
	ck_assert_int_eq(sip_tp_set_peer_name(sip_tcp_tp(b.cli), &dst, "sip.test"), 0);
	ck_assert_int_eq(reg_once(&b, "carol", &status, &ms), SIP_REG_REGISTERED);
	bed_stop(&b);
}
END_TEST

START_TEST(mutual_tls)
{
	struct sip_tls_config srv = { .verify = SIP_TLS_VERIFY_CA, .ca_file = ca, .cert_file = srv_cert,
				      .key_file = srv_key, .require_client_cert = true };
	struct sip_tls_config anon = { .verify = SIP_TLS_VERIFY_CA, .ca_file = ca, .server_name = "sip.test" };
	struct sip_tls_config withcert = { .verify = SIP_TLS_VERIFY_CA, .ca_file = ca, .server_name = "sip.test",
					   .cert_file = cli_cert, .key_file = cli_key };
	struct sip_tls_config rogue = { .verify = SIP_TLS_VERIFY_CA, .ca_file = ca, .server_name = "sip.test",
					.cert_file = rogue_cert, .key_file = rogue_key };
	struct bed b;
	unsigned status;
	uint64_t ms;

	/* no client certificate: the server refuses; the registration fails fast */
	bed_start(&b, &srv, &anon);
	ck_assert_int_eq(reg_once(&b, "dave", &status, &ms), SIP_REG_FAILED);
	ck_assert_uint_eq(status, 503);
	ck_assert_uint_lt(ms, 3000);
	ck_assert_uint_eq(seen.registers, 0);
	ck_assert_uint_eq(sip_tcp_stats(b.srv)->tls_handshakes, 0);
	ck_assert_uint_eq(sip_tcp_stats(b.srv)->tls_failures + sip_tcp_stats(b.srv)->tls_verify_failures, 1);
	bed_stop(&b);
	/* a certificate the server's CA did not sign: refused as well, as a verification failure */
	bed_start(&b, &srv, &rogue);
	ck_assert_int_eq(reg_once(&b, "dave", &status, &ms), SIP_REG_FAILED);
	ck_assert_uint_eq(sip_tcp_stats(b.srv)->tls_verify_failures, 1);
	bed_stop(&b);
	/* with the CA's client certificate: accepted */
	bed_start(&b, &srv, &withcert);
	ck_assert_int_eq(reg_once(&b, "dave", &status, &ms), SIP_REG_REGISTERED);
	ck_assert_uint_eq(seen.registers, 1);
	ck_assert_uint_eq(sip_tcp_stats(b.srv)->tls_handshakes, 1);
	bed_stop(&b);
}
END_TEST

START_TEST(session_resumption)
{
	struct sip_tls_config srv = { .verify = SIP_TLS_VERIFY_NONE, .cert_file = srv_cert, .key_file = srv_key };
	struct sip_tls_config cli = { .verify = SIP_TLS_VERIFY_CA, .ca_file = ca, .server_name = "sip.test" };
	struct bed b;
	unsigned status;
	uint64_t ms;

	bed_start(&b, &srv, &cli);
	ck_assert_int_eq(reg_once(&b, "erin", &status, &ms), SIP_REG_REGISTERED);
	ck_assert_uint_eq(sip_tcp_stats(b.cli)->tls_resumed, 0);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_uint_eq(sip_tcp_disconnect(b.cli, NULL), 1);
		ck_assert_int_eq(reg_once(&b, "erin", &status, &ms), SIP_REG_REGISTERED);
	}
	ck_assert_uint_eq(sip_tcp_stats(b.cli)->tls_handshakes, 4);
	ck_assert_uint_eq(sip_tcp_stats(b.cli)->connected, 4);
	ck_assert_uint_eq(sip_tcp_stats(b.cli)->tls_resumed, 3);
	ck_assert_uint_eq(sip_tcp_stats(b.srv)->tls_resumed, 3);
	bed_stop(&b);
}
END_TEST

/* A TLS transport without a certificate of its own can only dial out: incoming connections are refused and
 * counted; TCP and TLS do not mix. */
START_TEST(no_certificate_no_server)
{
	struct sip_tls_config cli = { .verify = SIP_TLS_VERIFY_NONE };
	struct sip_tls_config srv = { .verify = SIP_TLS_VERIFY_NONE, .cert_file = srv_cert, .key_file = srv_key };
	struct sip_tls_config bad = { .verify = SIP_TLS_VERIFY_CA };
	struct bed b;
	unsigned status;
	uint64_t ms;

	bed_start(&b, &cli, &cli);
	ck_assert_int_eq(reg_once(&b, "frank", &status, &ms), SIP_REG_FAILED);
	ck_assert_uint_eq(status, 503);
	ck_assert_uint_eq(sip_tcp_stats(b.srv)->tls_refused, 1);
	bed_stop(&b);

	/* a plain TCP client against a TLS server: the stream is not TLS, the server drops it */
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *s = sip_tls_start(loop, "127.0.0.1", 0, &srv, &srv_ops, NULL);
	struct sip_tcp *c = sip_tcp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sip_reg_config rc = { .domain = "sip.test", .user = "gina", .expires = 60 };
	struct sip_reg *r;
	uint64_t t0 = cm_now_ms();

	memset(&seen, 0, sizeof(seen));
	sip_addr_from(&rc.dst, "127.0.0.1", sip_tcp_port(s));
	r = sip_reg_new(sip_tcp_tp(c), &rc, NULL, NULL);
	sip_reg_start(r);
	while (sip_reg_stats(r)->state == SIP_REG_REGISTERING && cm_now_ms() - t0 < 5000)
		cp_loop_run_once(loop, 20);
	ck_assert_str_eq(sip_reg_state_name(sip_reg_stats(r)->state), "failed");
	ck_assert_uint_eq(sip_tcp_stats(s)->tls_failures, 1);
	ck_assert_uint_eq(seen.registers, 0);
	sip_reg_free(r);
	sip_tcp_stop(c);
	sip_tcp_stop(s);
	cp_loop_free(loop);

	/* configuration errors: CA verification without a CA file, a missing certificate file */
	loop = cp_loop_new();
	ck_assert_ptr_null(sip_tls_start(loop, "127.0.0.1", 0, &bad, &srv_ops, NULL));
	srv.cert_file = "/nonexistent/cert.pem";
	ck_assert_ptr_null(sip_tls_start(loop, "127.0.0.1", 0, &srv, &srv_ops, NULL));
	cp_loop_free(loop);
}
END_TEST

/* A peer that accepts TCP and never speaks TLS: the connection is closed after the setup time and the
 * registration fails with 503 then, not after Timer F (32 s); the next request opens a fresh connection. */
START_TEST(silent_peer_times_out)
{
	struct sip_tls_config cli = { .verify = SIP_TLS_VERIFY_NONE };
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *c = sip_tls_start(loop, "127.0.0.1", 0, &cli, &cli_ops, NULL);
	struct sip_reg_config cfg = { .domain = "sip.test", .user = "ivy", .expires = 60 };
	struct sockaddr_storage a;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t al = sizeof(a);
	struct sip_reg *r;
	uint64_t t0;

	ck_assert_ptr_nonnull(c);
	sip_addr_from(&a, "127.0.0.1", 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(struct sockaddr_in)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0); /* the kernel completes the TCP handshake; nobody ever answers */
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	cfg.dst = a;
	sip_tcp_set_setup_timeout(c, 300);
	for (unsigned i = 1; i <= 2; i++) {
		r = sip_reg_new(sip_tcp_tp(c), &cfg, NULL, NULL);
		t0 = cm_now_ms();
		sip_reg_start(r);
		while (sip_reg_stats(r)->state == SIP_REG_REGISTERING && cm_now_ms() - t0 < 5000)
			cp_loop_run_once(loop, 20);
		ck_assert_str_eq(sip_reg_state_name(sip_reg_stats(r)->state), "failed");
		ck_assert_uint_eq(sip_reg_stats(r)->last_status, 503);
		ck_assert_uint_ge(cm_now_ms() - t0, 250);
		ck_assert_uint_lt(cm_now_ms() - t0, 2000);
		ck_assert_uint_eq(sip_tcp_stats(c)->setup_timeouts, i);
		ck_assert_uint_eq(sip_tcp_stats(c)->connected, i);
		sip_reg_free(r);
	}
	close(lfd);
	sip_tcp_stop(c);
	cp_loop_free(loop);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("sip_tls");
	TCase *tc = tcase_create("tls");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, make_pki, remove_pki);
	tcase_add_test(tc, handshake_and_messages_both_ways);
	tcase_add_test(tc, bad_certificates_refused);
	tcase_add_test(tc, certificate_checked_against_address);
	tcase_add_test(tc, mutual_tls);
	tcase_add_test(tc, session_resumption);
	tcase_add_test(tc, no_certificate_no_server);
	tcase_add_test(tc, silent_peer_times_out);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as in both programs: OpenSSL writes to a dropped peer with write(2) */
	return run_suite(tls_suite());
}
