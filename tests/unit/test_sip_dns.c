/* Locating SIP servers through c-ares on the event loop, against a dnsmasq this test starts on 127.0.0.1 (its
 * own port, no system configuration read or touched): SRV records ordered by priority and drawn by weight, SRV
 * per transport (_sip._udp, _sip._tcp, _sips._tcp), A records for an explicit port and when there is no SRV
 * (default port 5060 / 5061), an unknown name failing with a reason, numeric hosts answered at once; and a
 * registration over TCP failing over from the first SRV target (nothing listening) to the second. */
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

static struct tu_proc dns;
static unsigned dns_port, live_port, dead_port;
static char servers[32];

static const char *find_dnsmasq(void)
{
	static const char *const paths[] = { "/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq" };

	for (unsigned i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* dnsmasq with the records the tests ask for; the registrar's and the dead port are fixed before it starts. */
static void start_dns(void)
{
	const char *bin = find_dnsmasq();
	char port[32], srv_a[128], srv_b[128], tls1[128], udp1[128], w0[128], w100[128];
	char *env[] = { NULL };

	if (!bin)
		return;
	dns_port = tu_free_port();
	live_port = tu_free_port();
	dead_port = tu_free_port();
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", dns_port);
	snprintf(port, sizeof(port), "--port=%u", dns_port);
	/* _sip._tcp.reg.test: priority 10 -> a port nobody listens on, priority 20 -> the live registrar */
	snprintf(srv_a, sizeof(srv_a), "--srv-host=_sip._tcp.reg.test,dead.reg.test,%u,10,0", dead_port);
	snprintf(srv_b, sizeof(srv_b), "--srv-host=_sip._tcp.reg.test,live.reg.test,%u,20,0", live_port);
	snprintf(tls1, sizeof(tls1), "--srv-host=_sips._tcp.reg.test,tls.reg.test,5071,10,0");
	snprintf(udp1, sizeof(udp1), "--srv-host=_sip._udp.reg.test,udp.reg.test,5072,10,0");
	snprintf(w0, sizeof(w0), "--srv-host=_sip._udp.weights.test,light.reg.test,6000,5,0");
	snprintf(w100, sizeof(w100), "--srv-host=_sip._udp.weights.test,heavy.reg.test,6001,5,100");
	char *argv[] = { (char *)bin, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
			 "--listen-address=127.0.0.1", "--bind-interfaces", port, "--user=root", srv_a, srv_b, tls1,
			 udp1, w0, w100,
			 "--host-record=dead.reg.test,127.0.0.1", "--host-record=live.reg.test,127.0.0.1",
			 "--host-record=tls.reg.test,127.0.0.2", "--host-record=udp.reg.test,127.0.0.3",
			 "--host-record=light.reg.test,127.0.0.4", "--host-record=heavy.reg.test,127.0.0.5",
			 "--host-record=plain.test,127.0.0.6", "--host-record=reg.test,127.0.0.7", NULL };
	tu_spawn(&dns, argv, env);
	usleep(300000);
}

static void stop_dns(void)
{
	if (dns.pid > 0) {
		kill(dns.pid, SIGTERM);
		tu_wait(&dns, 2000);
		unlink(dns.out);
	}
}

static struct sip_dns_result got;
static bool done;

static void on_result(void *arg, const struct sip_dns_result *r)
{
	(void)arg;
	got = *r;
	done = true;
}

static void resolve(struct cp_loop *loop, struct sip_dns *d, const char *host, uint16_t port, enum sip_tp_kind kind)
{
	uint64_t t0 = cm_now_ms();

	done = false;
	memset(&got, 0, sizeof(got));
	ck_assert_int_eq(sip_dns_resolve(d, host, port, kind, AF_INET, on_result, NULL), 0);
	while (!done && cm_now_ms() - t0 < 5000)
		cp_loop_run_once(loop, 20);
	ck_assert_msg(done, "%s: no answer", host);
}

static void expect(unsigned i, const char *ip, unsigned port)
{
	struct sockaddr_storage want;

	sip_addr_from(&want, ip, (uint16_t)port);
	ck_assert_uint_gt(got.n, i);
	ck_assert_msg(memcmp(&got.t[i].addr, &want, sizeof(struct sockaddr_in)) == 0, "target %u is not %s:%u", i,
		      ip, port);
}

#define NEED_DNS()                                                                      \
	do {                                                                            \
		if (!dns.pid) {                                                         \
			fprintf(stderr, "SKIP: dnsmasq not installed (dnsmasq-base)\n"); \
			return;                                                         \
		}                                                                       \
	} while (0)

START_TEST(srv_and_address_records)
{
	NEED_DNS();
	struct cp_loop *loop = cp_loop_new();
	struct sip_dns *d = sip_dns_new(loop, servers);

	ck_assert_ptr_nonnull(d);
	/* SRV per transport, in priority order */
	resolve(loop, d, "reg.test", 0, SIP_TP_TCP);
	ck_assert_int_eq(got.status, 0);
	ck_assert_uint_eq(got.n, 2);
	expect(0, "127.0.0.1", dead_port);
	expect(1, "127.0.0.1", live_port);
	ck_assert_uint_eq(got.t[0].priority, 10);
	ck_assert_str_eq(got.t[1].target, "live.reg.test");
	resolve(loop, d, "reg.test", 0, SIP_TP_TLS);
	ck_assert_uint_eq(got.n, 1);
	expect(0, "127.0.0.2", 5071);
	resolve(loop, d, "reg.test", 0, SIP_TP_UDP);
	expect(0, "127.0.0.3", 5072);
	/* an explicit port: no SRV, the name's own address */
	resolve(loop, d, "reg.test", 5090, SIP_TP_TCP);
	ck_assert_uint_eq(got.n, 1);
	expect(0, "127.0.0.7", 5090);
	/* no SRV records: the address on the transport's default port */
	resolve(loop, d, "plain.test", 0, SIP_TP_UDP);
	expect(0, "127.0.0.6", 5060);
	resolve(loop, d, "plain.test", 0, SIP_TP_TLS);
	expect(0, "127.0.0.6", 5061);
	/* nothing at all */
	resolve(loop, d, "nowhere.test", 0, SIP_TP_UDP);
	ck_assert_int_eq(got.status, -EHOSTUNREACH);
	ck_assert_uint_eq(got.n, 0);
	ck_assert_ptr_nonnull(got.error);
	/* numeric: at once, no query */
	done = false;
	ck_assert_int_eq(sip_dns_resolve(d, "192.0.2.9", 0, SIP_TP_TLS, AF_INET, on_result, NULL), 0);
	ck_assert(done);
	expect(0, "192.0.2.9", 5061);
	ck_assert_uint_ge(sip_dns_stats(d)->srv_answers, 3);
	ck_assert_uint_ge(sip_dns_stats(d)->failed, 1);
	sip_dns_free(d);
	cp_loop_free(loop);
}
END_TEST

/* Two records of one priority, weights 0 and 100: RFC 2782 puts the heavy one first about 100 times in 101. */
START_TEST(srv_weights)
{
	NEED_DNS();
	struct cp_loop *loop = cp_loop_new();
	struct sip_dns *d = sip_dns_new(loop, servers);
	unsigned heavy_first = 0;

	for (unsigned i = 0; i < 100; i++) {
		resolve(loop, d, "weights.test", 0, SIP_TP_UDP);
		ck_assert_uint_eq(got.n, 2);
		heavy_first += strcmp(got.t[0].target, "heavy.reg.test") == 0;
	}
	ck_assert_uint_ge(heavy_first, 90);
	ck_assert_uint_lt(heavy_first, 100 + 1);
	sip_dns_free(d);
	cp_loop_free(loop);
}
END_TEST

static void registrar(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	const struct sip_hdr *ch = sip_msg_hdr(req, SIP_HDR_CONTACT);
	char extra[512];

	(void)arg;
	(void)src;
	if (!st || !ch)
		return;
	snprintf(extra, sizeof(extra), "Contact: %.*s;expires=60\r\n", (int)ch->value.len, ch->value.p);
	sip_txn_respond_simple(st, 200, "dns1", extra);
}

static const struct sip_txn_user_ops srv_ops = { .on_request = registrar };
static const struct sip_txn_user_ops cli_ops = { .on_response = sip_client_on_response,
						 .on_timeout = sip_client_on_timeout,
						 .on_terminated = sip_client_on_terminated };

/* RFC 3263 §4.3: the first SRV target refuses the connection, the registration moves on to the second. */
START_TEST(registration_fails_over)
{
	NEED_DNS();
	struct cp_loop *loop = cp_loop_new();
	struct sip_dns *d = sip_dns_new(loop, servers);
	struct sip_tp *srv = sip_tp_start(loop, SIP_TP_TCP, "127.0.0.1", (uint16_t)live_port, NULL, &srv_ops, NULL);
	struct sip_tp *cli = sip_tp_start(loop, SIP_TP_TCP, "127.0.0.1", 0, NULL, &cli_ops, NULL);
	struct sip_reg_config cfg = { .domain = "reg.test", .user = "hank", .expires = 60 };
	struct sockaddr_storage rest[SIP_DNS_MAX_TARGETS];
	struct sip_reg *r;
	uint64_t t0;

	ck_assert_ptr_nonnull(srv);
	resolve(loop, d, "reg.test", 0, SIP_TP_TCP);
	ck_assert_uint_eq(got.n, 2);
	cfg.dst = got.t[0].addr;
	for (unsigned i = 1; i < got.n; i++)
		rest[i - 1] = got.t[i].addr;
	cfg.fallback = rest;
	cfg.nfallback = got.n - 1;
	r = sip_reg_new(cli, &cfg, NULL, NULL);
	ck_assert_int_eq(sip_reg_start(r), 0);
	t0 = cm_now_ms();
	while (sip_reg_stats(r)->state == SIP_REG_REGISTERING && cm_now_ms() - t0 < 5000)
		cp_loop_run_once(loop, 20);
	ck_assert_str_eq(sip_reg_state_name(sip_reg_stats(r)->state), "registered");
	ck_assert_uint_eq(sip_reg_stats(r)->failovers, 1);
	ck_assert_uint_eq(sip_reg_stats(r)->registers_sent, 2);
	ck_assert_uint_lt(cm_now_ms() - t0, 3000);
	sip_reg_free(r);
	sip_tp_stop(cli);
	sip_tp_stop(srv);
	sip_dns_free(d);
	cp_loop_free(loop);
}
END_TEST

static Suite *dns_suite(void)
{
	Suite *s = suite_create("sip_dns");
	TCase *tc = tcase_create("dns");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, start_dns, stop_dns);
	tcase_add_test(tc, srv_and_address_records);
	tcase_add_test(tc, srv_weights);
	tcase_add_test(tc, registration_fails_over);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return run_suite(dns_suite());
}
