/* Registration over real UDP sockets on the event loop.  Against an in-process registrar built on the same
 * transaction layer (digest SHA-256 with qop=auth, 423 with Min-Expires, a stale nonce on refresh): challenge
 * answered, interval raised, binding refreshed before expiry, unregistered; a wrong password fails with 401.
 * With CALLMETER_SIP_REGISTRAR=IP:PORT (tests/integration/test_sip_register.sh sets it, with Kamailio in a
 * network namespace) the same client registers, refreshes and unregisters against that real registrar. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "sip/sip_internal.h"
#include "check_main.h"
#include "testutil.h"

/* ---- the in-process registrar ----------------------------------------------------------------------------- */

static struct {
	const char *password;
	uint32_t min_expires;
	bool stale_on_refresh;
	const char *realm;          /* NULL: test.example */
	const char *realm_on_refresh; /* the realm changes once a binding exists: a fresh challenge with it */
	uint32_t grant;             /* nonzero: the binding gets this interval, listed after another user's
				     * binding at the same address whose name ends with ours, with a longer interval */
	bool hold_refresh;          /* a refresh (a REGISTER while a binding exists) is not answered until the
				     * test calls answer_held() */
	struct sip_txn *held;
	unsigned overlapping;       /* REGISTERs that arrived while another was unanswered */
	unsigned nonce_gen;
	char nonce[32];
	unsigned registers, authorized_ok, stale_sent, binding_expires, bindings;
} reg_srv;

static void challenge(struct sip_txn *st, bool stale)
{
	char hdr[256];

	snprintf(reg_srv.nonce, sizeof(reg_srv.nonce), "nonce%u", ++reg_srv.nonce_gen);
	snprintf(hdr, sizeof(hdr),
		 "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", qop=\"auth\", "
		 "algorithm=SHA-256%s\r\n",
		 reg_srv.realm ? reg_srv.realm : "test.example", reg_srv.nonce, stale ? ", stale=true" : "");
	sip_txn_respond_simple(st, 401, "srv", hdr);
}

static void srv_request(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	const struct sip_hdr *ah = sip_msg_hdr(req, SIP_HDR_AUTHORIZATION), *eh = sip_msg_hdr(req, SIP_HDR_EXPIRES);
	const struct sip_hdr *ch = sip_msg_hdr(req, SIP_HDR_CONTACT);
	struct sip_auth cred;
	const char *why;
	uint32_t expires = 3600;
	char extra[256];

	(void)arg;
	(void)src;
	if (!st || req->method_id != SIP_REGISTER)
		return;
	reg_srv.registers++;
	if (reg_srv.held)
		reg_srv.overlapping++;
	if (reg_srv.hold_refresh && reg_srv.bindings && eh && !sip_str_eq(eh->value, "0")) {
		reg_srv.hold_refresh = false;
		reg_srv.held = st;
		return;
	}
	if (reg_srv.realm_on_refresh && reg_srv.bindings) {
		reg_srv.realm = reg_srv.realm_on_refresh;
		reg_srv.realm_on_refresh = NULL;
		challenge(st, false);
		return;
	}
	if (!ah || sip_parse_auth(ah->value, &cred, &why) < 0 ||
	    !sip_str_eq(sip_auth_param(&cred, "nonce"), reg_srv.nonce) ||
	    !sip_str_eq(sip_auth_param(&cred, "realm"), reg_srv.realm ? reg_srv.realm : "test.example") ||
	    sip_digest_verify(&cred, "REGISTER", reg_srv.password, &why) < 0) {
		challenge(st, false);
		return;
	}
	reg_srv.authorized_ok++;
	if (eh)
		sip_parse_uint(eh->value, SIP_MAX_EXPIRES, &expires, &why);
	if (expires == 0) {
		reg_srv.bindings = 0;
		sip_txn_respond_simple(st, 200, "srv", NULL);
		return;
	}
	if (reg_srv.stale_on_refresh && reg_srv.bindings && !reg_srv.stale_sent) {
		reg_srv.stale_sent++;
		challenge(st, true);
		return;
	}
	if (expires < reg_srv.min_expires) {
		snprintf(extra, sizeof(extra), "Min-Expires: %u\r\n", reg_srv.min_expires);
		sip_txn_respond_simple(st, 423, "srv", extra);
		return;
	}
	reg_srv.bindings = 1;
	reg_srv.binding_expires = expires;
	if (reg_srv.grant) {
		struct sip_addr a;
		/* <sip:alice@HOST:PORT> → the decoy <sip:malice@HOST:PORT> first, then ours */
		ck_assert_int_eq(sip_parse_addr(ch->value, &a, &why), 0);
		snprintf(extra, sizeof(extra), "Contact: <sip:m%.*s@%.*s:%u>;expires=%u, <%.*s>;expires=%u\r\n",
			 (int)a.uri.user.len, a.uri.user.p, (int)a.uri.host.len, a.uri.host.p, a.uri.port,
			 expires + 100, (int)a.uri_str.len, a.uri_str.p, reg_srv.grant);
		sip_txn_respond_simple(st, 200, "srv", extra);
		return;
	}
	snprintf(extra, sizeof(extra), "Contact: %.*s;expires=%u\r\n", (int)ch->value.len, ch->value.p, expires);
	sip_txn_respond_simple(st, 200, "srv", extra);
}

static const struct sip_txn_user_ops srv_ops = { .on_request = srv_request };
static const struct sip_txn_user_ops cli_ops = { .on_response = sip_client_on_response,
						 .on_timeout = sip_client_on_timeout,
						 .on_terminated = sip_client_on_terminated };

static struct {
	enum sip_reg_state seen[32];
	unsigned n;
} changes;

static void on_change(struct sip_reg *r, void *arg)
{
	(void)arg;
	if (changes.n < 32)
		changes.seen[changes.n++] = sip_reg_stats(r)->state;
}

static void run_until(struct cp_loop *loop, struct sip_reg *r, bool (*done)(const struct sip_reg *), int ms)
{
	uint64_t t0 = cm_now_ms();

	while (!done(r) && cm_now_ms() - t0 < (uint64_t)ms)
		cp_loop_run_once(loop, 50);
}

static bool settled(const struct sip_reg *r)
{
	enum sip_reg_state s = sip_reg_stats(r)->state;
	return s == SIP_REG_REGISTERED || s == SIP_REG_FAILED || s == SIP_REG_UNREGISTERED;
}

static bool refreshed(const struct sip_reg *r)
{
	return sip_reg_stats(r)->ok >= 2 || sip_reg_stats(r)->state != SIP_REG_REGISTERED;
}

START_TEST(register_challenge_423_refresh_unregister)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *srv = sip_udp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sip_udp *cli = sip_udp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sip_reg_config cfg = { .domain = "test.example", .user = "alice", .password = "s3cret", .expires = 1 };
	struct sip_reg *r;
	const struct sip_reg_stats *st;

	memset(&reg_srv, 0, sizeof(reg_srv));
	memset(&changes, 0, sizeof(changes));
	reg_srv.password = "s3cret";
	reg_srv.min_expires = 2;
	reg_srv.stale_on_refresh = true;
	ck_assert_ptr_nonnull(srv);
	ck_assert_ptr_nonnull(cli);
	sip_addr_from(&cfg.dst, "127.0.0.1", sip_udp_port(srv));
	r = sip_reg_new(sip_udp_tp(cli), &cfg, on_change, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(sip_reg_start(r), 0);
	run_until(loop, r, settled, 5000);
	st = sip_reg_stats(r);
	ck_assert_msg(st->state == SIP_REG_REGISTERED, "state %s status %u", sip_reg_state_name(st->state),
		      st->last_status);
	ck_assert_uint_eq(st->granted_s, 2);            /* raised by 423 Min-Expires */
	ck_assert_uint_eq(st->interval_too_brief, 1);
	ck_assert_uint_eq(st->challenges, 1);
	ck_assert_uint_eq(st->registers_sent, 3);        /* plain, authorized (423), authorized with 2 */
	ck_assert_uint_gt(st->time_to_register_ms, 0);
	ck_assert_uint_lt(st->time_to_register_ms, 1000);
	ck_assert_uint_eq(reg_srv.bindings, 1);

	/* refresh at half of 2 s; the registrar says the nonce is stale once, the client re-authorizes */
	run_until(loop, r, refreshed, 4000);
	ck_assert_uint_ge(st->refreshes, 1);
	ck_assert_uint_ge(st->ok, 2);
	ck_assert_uint_eq(reg_srv.stale_sent, 1);
	ck_assert_uint_eq(st->challenges, 2);
	ck_assert_uint_eq(st->state, SIP_REG_REGISTERED);

	ck_assert_int_eq(sip_reg_stop(r), 0);
	run_until(loop, r, settled, 3000);
	ck_assert_int_eq(st->state, SIP_REG_UNREGISTERED);
	ck_assert_uint_eq(reg_srv.bindings, 0);
	ck_assert_int_eq(changes.seen[0], SIP_REG_REGISTERING);
	ck_assert_int_eq(changes.seen[1], SIP_REG_REGISTERED);
	ck_assert_int_eq(changes.seen[changes.n - 1], SIP_REG_UNREGISTERED);
	sip_reg_free(r);
	sip_udp_stop(cli);
	sip_udp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

/* The HA1 a registration keeps: H(user:realm:password) of the challenge's realm, the same after a stale nonce of
 * that realm (the refresh is still accepted), computed again when the registrar challenges with another realm
 * (the registrar checks the response against the new realm: an HA1 left from the old one fails). */
START_TEST(ha1_follows_the_realm)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *srv = sip_udp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sip_udp *cli = sip_udp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sip_reg_config cfg = { .domain = "test.example", .user = "alice", .auth_user = "alice-auth",
				      .password = "s3cret", .expires = 2 };
	char want[SIP_DIGEST_HEX_MAX + 1];
	struct sip_reg *r;
	const struct sip_reg_stats *st;

	memset(&reg_srv, 0, sizeof(reg_srv));
	reg_srv.password = "s3cret";
	reg_srv.stale_on_refresh = true;
	sip_addr_from(&cfg.dst, "127.0.0.1", sip_udp_port(srv));
	r = sip_reg_new(sip_udp_tp(cli), &cfg, NULL, NULL);
	ck_assert_ptr_null(sip_reg_ha1(r));
	ck_assert_int_eq(sip_reg_start(r), 0);
	run_until(loop, r, settled, 5000);
	st = sip_reg_stats(r);
	ck_assert_int_eq(st->state, SIP_REG_REGISTERED);
	ck_assert_int_eq(sip_digest_ha1(SIP_DIGEST_SHA256, "alice-auth", "test.example", "s3cret", want), 0);
	ck_assert_str_eq(sip_reg_ha1(r), want);
	/* refresh: a stale nonce of the same realm, answered with the kept HA1 */
	run_until(loop, r, refreshed, 4000);
	ck_assert_uint_eq(reg_srv.stale_sent, 1);
	ck_assert_uint_eq(st->challenges, 2);
	ck_assert_uint_ge(st->ok, 2);
	ck_assert_str_eq(sip_reg_ha1(r), want);
	/* the next refresh meets another realm: HA1 again, and the registrar accepts it */
	reg_srv.realm_on_refresh = "other.example";
	unsigned ok = st->ok;
	uint64_t t0 = cm_now_ms();
	while (st->ok == ok && st->state == SIP_REG_REGISTERED && cm_now_ms() - t0 < 4000)
		cp_loop_run_once(loop, 50);
	ck_assert_int_eq(st->state, SIP_REG_REGISTERED);
	ck_assert_uint_eq(st->ok, ok + 1);
	ck_assert_uint_eq(st->challenges, 3);
	ck_assert_int_eq(sip_digest_ha1(SIP_DIGEST_SHA256, "alice-auth", "other.example", "s3cret", want), 0);
	ck_assert_str_eq(sip_reg_ha1(r), want);
	sip_reg_free(r);
	sip_udp_stop(cli);
	sip_udp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

/* The interval granted is read from our own binding in the 200's Contact list (no Expires header here): matched
 * by user, host and port, so another user's binding whose name merely ends with ours is not taken, and an IPv6
 * host (in brackets in the URI) is recognised as ours. */
static void granted_from_our_binding(const char *ip)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *srv = sip_udp_start(loop, ip, 0, &srv_ops, NULL);
	struct sip_udp *cli = sip_udp_start(loop, ip, 0, &cli_ops, NULL);
	struct sip_reg_config cfg = { .domain = "test.example", .user = "alice", .password = "s3cret", .expires = 600 };
	struct sip_reg *r;

	memset(&reg_srv, 0, sizeof(reg_srv));
	reg_srv.password = "s3cret";
	reg_srv.grant = 300;
	ck_assert_ptr_nonnull(srv);
	ck_assert_ptr_nonnull(cli);
	sip_addr_from(&cfg.dst, ip, sip_udp_port(srv));
	r = sip_reg_new(sip_udp_tp(cli), &cfg, NULL, NULL);
	ck_assert_int_eq(sip_reg_start(r), 0);
	run_until(loop, r, settled, 5000);
	ck_assert_int_eq(sip_reg_stats(r)->state, SIP_REG_REGISTERED);
	ck_assert_uint_eq(sip_reg_stats(r)->granted_s, 300);
	sip_reg_free(r);
	sip_udp_stop(cli);
	sip_udp_stop(srv);
	cp_loop_free(loop);
}

START_TEST(granted_from_our_binding_ipv4)
{
	granted_from_our_binding("127.0.0.1");
}
END_TEST

START_TEST(granted_from_our_binding_ipv6)
{
	granted_from_our_binding("::1");
}
END_TEST

/* Starts r against the registrar (set to hold the first refresh) and runs the loop until r is registered and its
 * first refresh is held unanswered. */
static const struct sip_reg_stats *register_until_refresh_held(struct cp_loop *loop, struct sip_reg *r)
{
	uint64_t t0;

	ck_assert_int_eq(sip_reg_start(r), 0);
	run_until(loop, r, settled, 5000);
	ck_assert_int_eq(sip_reg_stats(r)->state, SIP_REG_REGISTERED);
	t0 = cm_now_ms();
	while (!reg_srv.held && cm_now_ms() - t0 < 4000)
		cp_loop_run_once(loop, 50);
	ck_assert_ptr_nonnull(reg_srv.held);
	return sip_reg_stats(r);
}

/* A run that ends while a refresh is in flight: the unREGISTER waits for the refresh's final response (RFC 3261
 * §10.2: one REGISTER at a time), and the refresh's 200 is not taken for the unREGISTER's.  With the refresh
 * challenged instead, the unREGISTER goes out with the new credentials. */
static void unregister_waits_for_refresh(unsigned held_status)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *srv = sip_udp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sip_udp *cli = sip_udp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sip_reg_config cfg = { .domain = "test.example", .user = "alice", .password = "s3cret", .expires = 2 };
	struct sip_reg *r;
	const struct sip_reg_stats *st;
	char extra[128];
	uint64_t t0;

	memset(&reg_srv, 0, sizeof(reg_srv));
	reg_srv.password = "s3cret";
	reg_srv.hold_refresh = true;
	sip_addr_from(&cfg.dst, "127.0.0.1", sip_udp_port(srv));
	r = sip_reg_new(sip_udp_tp(cli), &cfg, NULL, NULL);
	st = register_until_refresh_held(loop, r);

	ck_assert_int_eq(sip_reg_stop(r), 0);
	ck_assert_int_eq(st->state, SIP_REG_UNREGISTERING);
	t0 = cm_now_ms();
	while (cm_now_ms() - t0 < 300) /* nothing may go out meanwhile */
		cp_loop_run_once(loop, 50);
	ck_assert_uint_eq(reg_srv.overlapping, 0);
	ck_assert_int_eq(st->state, SIP_REG_UNREGISTERING);

	struct sip_txn *held = reg_srv.held;
	reg_srv.held = NULL;
	if (held_status == 200) {
		snprintf(extra, sizeof(extra), "Contact: <sip:alice@127.0.0.1:%u>;expires=2\r\n", sip_udp_port(cli));
		sip_txn_respond_simple(held, 200, "srv", extra);
	} else {
		challenge(held, true);
	}
	run_until(loop, r, settled, 3000);
	ck_assert_int_eq(st->state, SIP_REG_UNREGISTERED);
	ck_assert_uint_eq(reg_srv.bindings, 0); /* the unREGISTER itself was answered */
	ck_assert_uint_eq(reg_srv.overlapping, 0);
	sip_reg_free(r);
	sip_udp_stop(cli);
	sip_udp_stop(srv);
	cp_loop_free(loop);
}

START_TEST(unregister_waits_for_refresh_200)
{
	unregister_waits_for_refresh(200);
}
END_TEST

START_TEST(unregister_waits_for_refresh_401)
{
	unregister_waits_for_refresh(401);
}
END_TEST

/* The connection a refresh went over dies before the answer (the registrar restarted): the refresh is sent again
 * at once over a new connection (RFC 5626 §4.4.1's "register again over a new flow"), not reported as a lost
 * registration. */
START_TEST(refresh_retried_over_a_new_connection)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *srv = sip_tcp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sip_tcp *cli = sip_tcp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sip_reg_config cfg = { .domain = "test.example", .user = "alice", .password = "s3cret", .expires = 2 };
	struct sip_reg *r;
	const struct sip_reg_stats *st;
	uint16_t port = sip_tcp_port(srv);
	uint64_t t0;

	memset(&reg_srv, 0, sizeof(reg_srv));
	reg_srv.password = "s3cret";
	reg_srv.hold_refresh = true;
	sip_addr_from(&cfg.dst, "127.0.0.1", port);
	r = sip_reg_new(sip_tcp_tp(cli), &cfg, NULL, NULL);
	st = register_until_refresh_held(loop, r);

	unsigned ok = st->ok;
	sip_tcp_stop(srv); /* the registrar goes, with the connection and the unanswered refresh */
	reg_srv.held = NULL;
	srv = sip_tcp_start(loop, "127.0.0.1", port, &srv_ops, NULL);
	ck_assert_ptr_nonnull(srv);
	t0 = cm_now_ms();
	while (st->ok == ok && st->state == SIP_REG_REGISTERED && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(loop, 50);
	ck_assert_msg(st->state == SIP_REG_REGISTERED, "state %s status %u", sip_reg_state_name(st->state),
		      st->last_status);
	ck_assert_uint_eq(st->ok, ok + 1);
	ck_assert_uint_eq(reg_srv.bindings, 1);
	ck_assert_uint_eq(sip_tcp_stats(cli)->closed, 1);
	sip_reg_free(r);
	sip_tcp_stop(cli);
	sip_tcp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

START_TEST(wrong_password_fails_with_401)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *srv = sip_udp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sip_udp *cli = sip_udp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sip_reg_config cfg = { .domain = "test.example", .user = "alice", .password = "wrong", .expires = 60 };
	struct sip_reg *r;

	memset(&reg_srv, 0, sizeof(reg_srv));
	reg_srv.password = "s3cret";
	sip_addr_from(&cfg.dst, "127.0.0.1", sip_udp_port(srv));
	r = sip_reg_new(sip_udp_tp(cli), &cfg, NULL, NULL);
	ck_assert_int_eq(sip_reg_start(r), 0);
	run_until(loop, r, settled, 5000);
	ck_assert_int_eq(sip_reg_stats(r)->state, SIP_REG_FAILED);
	ck_assert_uint_eq(sip_reg_stats(r)->last_status, 401);
	ck_assert_uint_eq(sip_reg_stats(r)->registers_sent, 1 + SIP_REG_MAX_AUTH_TRIES);
	ck_assert_uint_eq(reg_srv.authorized_ok, 0);
	sip_reg_free(r);
	sip_udp_stop(cli);
	sip_udp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

/* ---- against a real registrar (Kamailio), when the integration test provides one -------------------------- */

static const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

static struct sip_reg *real_reg(struct cp_loop *loop, struct sip_udp **cli, const char *password, uint32_t expires)
{
	char host[64];
	unsigned port = 5060;
	struct sip_reg_config cfg = { .domain = env("CALLMETER_SIP_DOMAIN", "callmeter.test"),
				      .user = env("CALLMETER_SIP_USER", "alice"), .password = password,
				      .expires = expires };

	ck_assert_int_eq(sscanf(getenv("CALLMETER_SIP_REGISTRAR"), "%63[^:]:%u", host, &port), 2);
	ck_assert_int_eq(sip_addr_from(&cfg.dst, host, (uint16_t)port), 0);
	*cli = sip_udp_start(loop, env("CALLMETER_SIP_LOCAL_IP", "127.0.0.1"), 0, &cli_ops, NULL);
	ck_assert_ptr_nonnull(*cli);
	return sip_reg_new(sip_udp_tp(*cli), &cfg, NULL, NULL);
}

START_TEST(real_registrar_register_refresh_unregister)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *cli;
	struct sip_reg *r = real_reg(loop, &cli, env("CALLMETER_SIP_PASSWORD", "secret"), 2);
	const struct sip_reg_stats *st = sip_reg_stats(r);

	ck_assert_int_eq(sip_reg_start(r), 0);
	run_until(loop, r, settled, 5000);
	ck_assert_msg(st->state == SIP_REG_REGISTERED, "state %s status %u", sip_reg_state_name(st->state),
		      st->last_status);
	ck_assert_uint_ge(st->challenges, 1);
	ck_assert_uint_eq(st->granted_s, 2);
	printf("real registrar: registered in %lu ms after %u challenge(s)\n", (unsigned long)st->time_to_register_ms,
	       st->challenges);
	run_until(loop, r, refreshed, 4000);
	ck_assert_uint_ge(st->refreshes, 1);
	ck_assert_uint_ge(st->ok, 2);
	ck_assert_int_eq(st->state, SIP_REG_REGISTERED);
	ck_assert_int_eq(sip_reg_stop(r), 0);
	run_until(loop, r, settled, 3000);
	ck_assert_int_eq(st->state, SIP_REG_UNREGISTERED);
	sip_reg_free(r);
	sip_udp_stop(cli);
	cp_loop_free(loop);
}
END_TEST

START_TEST(real_registrar_wrong_password)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *cli;
	struct sip_reg *r = real_reg(loop, &cli, "not-the-password", 60);

	ck_assert_int_eq(sip_reg_start(r), 0);
	run_until(loop, r, settled, 5000);
	ck_assert_int_eq(sip_reg_stats(r)->state, SIP_REG_FAILED);
	ck_assert_uint_eq(sip_reg_stats(r)->last_status, 401);
	sip_reg_free(r);
	sip_udp_stop(cli);
	cp_loop_free(loop);
}
END_TEST

static Suite *reg_suite(void)
{
	Suite *s = suite_create("sip_register");
	TCase *tc = tcase_create("in-process registrar");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, register_challenge_423_refresh_unregister);
	tcase_add_test(tc, wrong_password_fails_with_401);
	tcase_add_test(tc, ha1_follows_the_realm);
	tcase_add_test(tc, granted_from_our_binding_ipv4);
	tcase_add_test(tc, granted_from_our_binding_ipv6);
	tcase_add_test(tc, unregister_waits_for_refresh_200);
	tcase_add_test(tc, unregister_waits_for_refresh_401);
	tcase_add_test(tc, refresh_retried_over_a_new_connection);
	suite_add_tcase(s, tc);
	if (getenv("CALLMETER_SIP_REGISTRAR")) {
		TCase *real = tcase_create("real registrar");
		tcase_set_timeout(real, 30);
		tcase_add_test(real, real_registrar_register_refresh_unregister);
		tcase_add_test(real, real_registrar_wrong_password);
		suite_add_tcase(s, real);
	}
	return s;
}

int main(void)
{
	return run_suite(reg_suite());
}
