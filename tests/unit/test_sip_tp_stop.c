/* A transport (or one endpoint's handle of it) stopped from inside a callback the transport itself runs: the
 * transaction-failure callback of a refused TCP connection, a response read from a TCP connection or a UDP
 * socket, the failure of a connection closed by sip_tcp_disconnect.  The transport's code after the callback
 * must not touch what the stop freed (ASan in the SAN build), the stop must happen (the ports close), and no
 * further callback may reach the user for a transport it has stopped. */
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

/* What the client's callbacks do: stop this handle (or transport) once the first callback runs. */
static struct {
	struct sip_tp *stop_tp;      /* sip_tp_stop */
	struct sip_tcp *stop_tcp;    /* sip_tcp_stop */
	struct sip_udp *stop_udp;    /* sip_udp_stop */
	struct sip_tcp *disconnect;  /* sip_tcp_disconnect(.., NULL) from the first response */
	unsigned timeouts, responses, after_stop;
	bool stopped;
} act;

static void stop_now(void)
{
	if (act.stopped)
		return;
	act.stopped = true;
	if (act.stop_tp)
		sip_tp_stop(act.stop_tp);
	if (act.stop_tcp)
		sip_tcp_stop(act.stop_tcp);
	if (act.stop_udp)
		sip_udp_stop(act.stop_udp);
}

static void on_timeout(struct sip_client_handler *h, struct sip_txn *t)
{
	(void)h;
	(void)t;
	if (act.stopped)
		act.after_stop++;
	act.timeouts++;
	stop_now();
}

static void on_response(struct sip_client_handler *h, struct sip_txn *t, const struct sip_msg *m)
{
	(void)h;
	(void)t;
	(void)m;
	if (act.stopped)
		act.after_stop++;
	act.responses++;
	if (act.disconnect) {
		struct sip_tcp *d = act.disconnect;

		act.disconnect = NULL;
		sip_tcp_disconnect(d, NULL); /* the connection this response is being read from */
		return;
	}
	stop_now();
}

static const struct sip_txn_user_ops cli_ops = { .on_response = sip_client_on_response,
						 .on_timeout = sip_client_on_timeout,
						 .on_terminated = sip_client_on_terminated };

/* The server answers every request twice over: a 100 and a 200 in one write, so that the second is still in
 * the client's buffer when the first one's callback stops the transport. */
static void srv_request(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	(void)arg;
	(void)src;
	(void)req;
	if (!st)
		return;
	sip_txn_respond_simple(st, 180, "s1", NULL);
	sip_txn_respond_simple(st, 200, "s1", NULL);
}

static const struct sip_txn_user_ops srv_ops = { .on_request = srv_request };

static int request(char *buf, size_t cap, const char *via, const char *branch, unsigned port)
{
	return snprintf(buf, cap,
			"INVITE sip:srv@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1;branch=%s\r\n"
			"Max-Forwards: 70\r\nFrom: <sip:c@127.0.0.1>;tag=c1\r\nTo: <sip:srv@127.0.0.1>\r\n"
			"Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:c@127.0.0.1>\r\nContent-Length: 0\r\n\r\n",
			port, via, branch, branch);
}

/* A port that listens on the given kind of socket, or refuses (0: nothing bound there). */
static bool port_bound(int type, uint16_t port)
{
	struct sockaddr_storage a;
	int fd = socket(AF_INET, type, 0), rc;

	sip_addr_from(&a, "127.0.0.1", port);
	rc = bind(fd, (struct sockaddr *)&a, sizeof(struct sockaddr_in));
	close(fd);
	return rc < 0;
}

static void run_until(struct cp_loop *loop, bool (*done)(void), int ms)
{
	uint64_t t0 = cm_now_ms();

	while (!done() && cm_now_ms() - t0 < (uint64_t)ms)
		cp_loop_run_once(loop, 20);
	for (int i = 0; i < 5; i++) /* anything the stop left behind gets its chance to fire */
		cp_loop_run_once(loop, 10);
}

static bool stopped(void)
{
	return act.stopped;
}

static void reset(void)
{
	memset(&act, 0, sizeof(act));
}

/* A request from one endpoint's handle to a port nobody listens on: the connection is refused and the
 * transaction fails at once (503); its callback closes the handle that the failing connection belongs to. */
START_TEST(handle_stopped_from_connect_failure)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *cli = sip_tcp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sip_tp *h = sip_tcp_open_port(cli, 0);
	struct sip_client_handler ch = { .on_response = on_response, .on_timeout = on_timeout };
	struct sockaddr_storage dst;
	uint16_t hport = sip_tp_port(h), refused = (uint16_t)tu_free_port();
	char req[1024];
	int n = request(req, sizeof(req), "TCP", "z9hG4bKstop1", refused), err;

	reset();
	act.stop_tp = h;
	sip_addr_from(&dst, "127.0.0.1", refused);
	ck_assert_ptr_nonnull(sip_tp_request(h, req, (size_t)n, &dst, &ch, &err));
	run_until(loop, stopped, 3000);
	ck_assert(act.stopped);
	ck_assert_uint_eq(act.timeouts, 1);
	ck_assert_uint_eq(act.after_stop, 0);
	ck_assert(!port_bound(SOCK_STREAM, hport)); /* the handle's listener is closed */
	ck_assert_uint_eq(sip_tcp_stats(cli)->connect_failures, 1);
	ck_assert_uint_eq(sip_tcp_stats(cli)->closed, 1);
	/* the transport itself goes on: a second refused request fails the same way */
	reset();
	n = request(req, sizeof(req), "TCP", "z9hG4bKstop2", refused);
	ck_assert_ptr_nonnull(sip_tp_request(sip_tcp_tp(cli), req, (size_t)n, &dst, &ch, &err));
	run_until(loop, stopped, 3000);
	ck_assert_uint_eq(act.timeouts, 1);
	sip_tcp_stop(cli);
	cp_loop_free(loop);
}
END_TEST

/* The same failure callback stops the whole transport (a run ending because its last endpoint failed); two
 * requests wait on the refused peer, and the second must not reach the user after the stop. */
START_TEST(transport_stopped_from_connect_failure)
{
	static const bool tls[] = { false, true };

	for (unsigned k = 0; k < CM_ARRAY_SIZE(tls); k++) {
		struct cp_loop *loop = cp_loop_new();
		struct sip_tls_config tc = { .verify = SIP_TLS_VERIFY_NONE };
		struct sip_tcp *cli = tls[k] ? sip_tls_start(loop, "127.0.0.1", 0, &tc, &cli_ops, NULL)
					     : sip_tcp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
		struct sip_tp *h = sip_tcp_open_port(cli, 0);
		struct sip_client_handler ch = { .on_response = on_response, .on_timeout = on_timeout };
		struct sockaddr_storage dst;
		uint16_t port = sip_tcp_port(cli), hport = sip_tp_port(h), refused = (uint16_t)tu_free_port();
		char req[1024];
		int n, err;

		ck_assert_ptr_nonnull(cli);
		reset();
		act.stop_tcp = cli;
		sip_addr_from(&dst, "127.0.0.1", refused);
		n = request(req, sizeof(req), tls[k] ? "TLS" : "TCP", "z9hG4bKstop3", refused);
		ck_assert_ptr_nonnull(sip_tp_request(h, req, (size_t)n, &dst, &ch, &err));
		n = request(req, sizeof(req), tls[k] ? "TLS" : "TCP", "z9hG4bKstop4", refused);
		ck_assert_ptr_nonnull(sip_tp_request(h, req, (size_t)n, &dst, &ch, &err));
		run_until(loop, stopped, 3000);
		ck_assert(act.stopped);
		ck_assert_uint_eq(act.after_stop, 0);
		ck_assert(!port_bound(SOCK_STREAM, port));
		ck_assert(!port_bound(SOCK_STREAM, hport));
		cp_loop_free(loop);
	}
}
END_TEST

/* A response read from a TCP connection stops the transport from its callback: the 200 packed behind the 180
 * in the same read is never delivered, and nothing is read from freed buffers. */
START_TEST(transport_stopped_from_response)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *srv = sip_tcp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sip_tcp *cli = sip_tcp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sip_tp *h = sip_tcp_open_port(cli, 0);
	struct sip_client_handler ch = { .on_response = on_response, .on_timeout = on_timeout };
	struct sockaddr_storage dst;
	char req[1024];
	int n = request(req, sizeof(req), "TCP", "z9hG4bKstop5", sip_tcp_port(srv)), err;

	/* first the handle alone */
	reset();
	act.stop_tp = h;
	sip_addr_from(&dst, "127.0.0.1", sip_tcp_port(srv));
	ck_assert_ptr_nonnull(sip_tp_request(h, req, (size_t)n, &dst, &ch, &err));
	run_until(loop, stopped, 3000);
	ck_assert(act.stopped);
	ck_assert_uint_eq(act.responses, 1);
	ck_assert_uint_eq(act.after_stop, 0);
	/* then the transport, from its own connection */
	reset();
	act.stop_tcp = cli;
	n = request(req, sizeof(req), "TCP", "z9hG4bKstop6", sip_tcp_port(srv));
	ck_assert_ptr_nonnull(sip_tp_request(sip_tcp_tp(cli), req, (size_t)n, &dst, &ch, &err));
	run_until(loop, stopped, 3000);
	ck_assert(act.stopped);
	ck_assert_uint_eq(act.responses, 1);
	ck_assert_uint_eq(act.after_stop, 0);
	sip_tcp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

/* sip_tcp_disconnect from the callback of a response read on the very connection it closes: the request fails
 * no more (it was answered), the 200 behind is not read from a closed connection, the transport lives on. */
START_TEST(disconnect_from_response)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_tcp *srv = sip_tcp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sip_tcp *cli = sip_tcp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sip_client_handler ch = { .on_response = on_response, .on_timeout = on_timeout };
	struct sockaddr_storage dst;
	char req[1024];
	int n = request(req, sizeof(req), "TCP", "z9hG4bKstop7", sip_tcp_port(srv)), err;
	uint64_t t0 = cm_now_ms();

	reset();
	act.disconnect = cli;
	sip_addr_from(&dst, "127.0.0.1", sip_tcp_port(srv));
	ck_assert_ptr_nonnull(sip_tp_request(sip_tcp_tp(cli), req, (size_t)n, &dst, &ch, &err));
	while (act.responses + act.timeouts < 2 && cm_now_ms() - t0 < 1000)
		cp_loop_run_once(loop, 20);
	/* the 180's callback closed the connection: the INVITE, still waiting, fails with it (503) */
	ck_assert_uint_eq(act.responses, 1);
	ck_assert_uint_eq(act.timeouts, 1);
	ck_assert_uint_eq(sip_tcp_stats(cli)->closed, 1);
	sip_tcp_stop(cli);
	sip_tcp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

/* UDP: a response drained in a batch stops the transport (and, before, one endpoint's port). */
START_TEST(udp_stopped_from_response)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *srv = sip_udp_start(loop, "127.0.0.1", 0, &srv_ops, NULL);
	struct sip_udp *cli = sip_udp_start(loop, "127.0.0.1", 0, &cli_ops, NULL);
	struct sip_tp *p = sip_udp_open_port(cli, 0);
	struct sip_client_handler ch = { .on_response = on_response, .on_timeout = on_timeout };
	struct sockaddr_storage dst;
	uint16_t port = sip_udp_port(cli), pport = sip_tp_port(p);
	char req[1024];
	int n = request(req, sizeof(req), "UDP", "z9hG4bKstop8", sip_udp_port(srv)), err;

	reset();
	act.stop_tp = p;
	sip_addr_from(&dst, "127.0.0.1", sip_udp_port(srv));
	ck_assert_ptr_nonnull(sip_tp_request(p, req, (size_t)n, &dst, &ch, &err));
	run_until(loop, stopped, 3000);
	ck_assert(act.stopped);
	ck_assert_uint_eq(act.after_stop, 0);
	ck_assert(!port_bound(SOCK_DGRAM, pport));
	reset();
	act.stop_udp = cli;
	n = request(req, sizeof(req), "UDP", "z9hG4bKstop9", sip_udp_port(srv));
	ck_assert_ptr_nonnull(sip_tp_request(sip_udp_tp(cli), req, (size_t)n, &dst, &ch, &err));
	run_until(loop, stopped, 3000);
	ck_assert(act.stopped);
	ck_assert_uint_eq(act.after_stop, 0);
	ck_assert(!port_bound(SOCK_DGRAM, port));
	sip_udp_stop(srv);
	cp_loop_free(loop);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sip_tp_stop");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, handle_stopped_from_connect_failure);
	tcase_add_test(tc, transport_stopped_from_connect_failure);
	tcase_add_test(tc, transport_stopped_from_response);
	tcase_add_test(tc, disconnect_from_response);
	tcase_add_test(tc, udp_stopped_from_response);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
