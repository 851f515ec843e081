/* Locating SIP servers (RFC 3263 §4) with c-ares on the control-plane loop, never blocking: a numeric host is
 * used as it is; a name with a port is looked up as A (or AAAA); a name without one is first asked for SRV
 * records (_sip._udp, _sip._tcp or _sips._tcp by transport), ordered by priority and, within a priority, by a
 * weighted random draw (RFC 2782), each target then looked up by address; without SRV records the name's own
 * addresses on the transport's default port.  The result is the ordered list of destinations to try: the
 * caller fails over to the next one when a request gets no answer (RFC 3263 §4.3).
 *
 * c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB); they go on the cp_loop, and one loop
 * timer follows ares_timeout for retries. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <netdb.h>
#include <sys/epoll.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip_internal.h"

#define DNS_MAX_SOCKS 16

struct dns_srv {
	char target[SIP_DNS_NAME_MAX];
	uint16_t port, priority, weight;
	struct sockaddr_storage addr[SIP_DNS_MAX_TARGETS];
	unsigned naddr;
};

struct dns_query {
	struct sip_dns *d;
	sip_dns_cb cb;
	void *arg;
	char host[SIP_DNS_NAME_MAX];
	enum sip_tp_kind kind;
	int family;
	unsigned pending;           /* address lookups outstanding */
	unsigned nsrv;
	struct dns_srv srv[SIP_DNS_MAX_TARGETS];
	const char *error;
};

struct sip_dns {
	struct cp_loop *loop;
	ares_channel ch;
	struct cp_timer timer;
	int socks[DNS_MAX_SOCKS];
	unsigned nsocks;
	bool destroying;
	struct sip_dns_stats st;
};

static bool lib_ready;

static void arm(struct sip_dns *d)
{
	struct timeval tv, *t = ares_timeout(d->ch, NULL, &tv);

	if (!t) {
		cp_timer_stop(d->loop, &d->timer);
		return;
	}
	cp_timer_start(d->loop, &d->timer, (uint64_t)t->tv_sec * 1000 + (uint64_t)(t->tv_usec + 999) / 1000);
}

static void on_timer(struct cp_loop *loop, void *arg)
{
	struct sip_dns *d = arg;

	(void)loop;
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm(d);
}

static void on_fd(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sip_dns *d = arg;

	(void)loop;
	ares_process_fd(d->ch, events & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
			events & EPOLLOUT ? fd : ARES_SOCKET_BAD);
	arm(d);
}

/* c-ares opens, watches and closes its sockets through this. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct sip_dns *d = data;
	unsigned i;

	for (i = 0; i < d->nsocks && d->socks[i] != fd; i++)
		;
	if (!readable && !writable) {
		if (i < d->nsocks) {
			cp_loop_del_fd(d->loop, fd);
			d->socks[i] = d->socks[--d->nsocks];
		}
		return;
	}
	uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	if (i < d->nsocks) {
		cp_loop_mod_fd(d->loop, fd, ev);
	} else if (d->nsocks < DNS_MAX_SOCKS && cp_loop_add_fd(d->loop, fd, ev, on_fd, d) == 0) {
		d->socks[d->nsocks++] = fd;
	}
}

struct sip_dns *sip_dns_new(struct cp_loop *loop, const char *servers)
{
	struct sip_dns *d;
	struct ares_options o = { 0 };
	int rc;

	if (!lib_ready) {
		if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
			return NULL;
		lib_ready = true;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->loop = loop;
	cp_timer_init(&d->timer, on_timer, d);
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = d;
	o.timeout = 1000; /* ms per try (ARES_OPT_TIMEOUTMS), 2 tries per server */
	o.tries = 2;
	rc = ares_init_options(&d->ch, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		cm_log(CM_LOG_ERROR, "sip", "DNS resolver: %s", ares_strerror(rc));
		free(d);
		return NULL;
	}
	if (servers && servers[0] && (rc = ares_set_servers_ports_csv(d->ch, servers)) != ARES_SUCCESS) {
		cm_log(CM_LOG_ERROR, "sip", "DNS servers '%s': %s", servers, ares_strerror(rc));
		ares_destroy(d->ch);
		free(d);
		return NULL;
	}
	return d;
}

void sip_dns_free(struct sip_dns *d)
{
	if (!d)
		return;
	d->destroying = true; /* pending queries end with ARES_EDESTRUCTION: nobody is told */
	ares_destroy(d->ch);
	cp_timer_stop(d->loop, &d->timer);
	while (d->nsocks)
		cp_loop_del_fd(d->loop, d->socks[--d->nsocks]);
	free(d);
}

const struct sip_dns_stats *sip_dns_stats(const struct sip_dns *d)
{
	return &d->st;
}

static uint16_t default_port(enum sip_tp_kind kind)
{
	return kind == SIP_TP_TLS ? 5061 : 5060;
}

/* RFC 2782: lowest priority first; within one priority, draw with probability proportional to weight (a zero
 * weight keeps a small chance), without replacement. */
static void srv_order(struct dns_srv *s, unsigned n)
{
	for (unsigned i = 0; i < n;) {
		unsigned lo = i, hi = i, j;
		uint16_t best = 0xffff;

		for (j = i; j < n; j++)
			if (s[j].priority < best)
				best = s[j].priority;
		/* move this priority's records to [i, hi) */
		for (j = i; j < n; j++)
			if (s[j].priority == best) {
				struct dns_srv t = s[hi];
				s[hi] = s[j];
				s[j] = t;
				hi++;
			}
		for (lo = i; lo < hi; lo++) {
			uint32_t sum = 0, r, run = 0;
			for (j = lo; j < hi; j++)
				sum += s[j].weight + 1u;
			r = (uint32_t)random() % sum;
			for (j = lo; j < hi; j++) {
				run += s[j].weight + 1u;
				if (run > r)
					break;
			}
			if (j != lo) {
				struct dns_srv t = s[lo];
				s[lo] = s[j];
				s[j] = t;
			}
		}
		i = hi;
	}
}

static void finish(struct dns_query *q)
{
	struct sip_dns_result r = { .n = 0 };

	for (unsigned i = 0; i < q->nsrv; i++)
		for (unsigned k = 0; k < q->srv[i].naddr && r.n < SIP_DNS_MAX_TARGETS; k++) {
			r.t[r.n].addr = q->srv[i].addr[k];
			r.t[r.n].priority = q->srv[i].priority;
			r.t[r.n].weight = q->srv[i].weight;
			cm_strlcpy(r.t[r.n].target, q->srv[i].target, sizeof(r.t[r.n].target));
			r.n++;
		}
	r.status = r.n ? 0 : -EHOSTUNREACH;
	r.error = r.n ? NULL : q->error ? q->error : "no address";
	if (r.n)
		q->d->st.resolved++;
	else
		q->d->st.failed++;
	q->cb(q->arg, &r);
	free(q);
}

struct addr_ctx {
	struct dns_query *q;
	unsigned idx;
};

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct addr_ctx *c = arg;
	struct dns_query *q = c->q;
	struct dns_srv *s = &q->srv[c->idx];

	(void)timeouts;
	free(c);
	if (status == ARES_EDESTRUCTION || q->d->destroying) {
		ares_freeaddrinfo(res);
		if (--q->pending == 0)
			free(q);
		return;
	}
	if (status == ARES_SUCCESS && res) {
		for (struct ares_addrinfo_node *n = res->nodes; n && s->naddr < SIP_DNS_MAX_TARGETS; n = n->ai_next) {
			if (n->ai_family != q->family || n->ai_addrlen > sizeof(struct sockaddr_storage))
				continue;
			memset(&s->addr[s->naddr], 0, sizeof(s->addr[0]));
			memcpy(&s->addr[s->naddr], n->ai_addr, n->ai_addrlen);
			if (n->ai_family == AF_INET)
				((struct sockaddr_in *)&s->addr[s->naddr])->sin_port = htons(s->port);
			else
				((struct sockaddr_in6 *)&s->addr[s->naddr])->sin6_port = htons(s->port);
			s->naddr++;
		}
	} else {
		q->error = ares_strerror(status);
	}
	ares_freeaddrinfo(res);
	if (--q->pending == 0)
		finish(q);
}

/* Looks up the address of every target; the query finishes when the last answer is in.  The query holds one
 * reference of its own while starting them, since c-ares may answer at once (e.g. from /etc/hosts). */
static void lookup_addrs(struct dns_query *q)
{
	struct ares_addrinfo_hints h = { .ai_family = q->family, .ai_socktype = SOCK_STREAM };

	q->pending = 1;
	for (unsigned i = 0; i < q->nsrv; i++) {
		struct addr_ctx *c = malloc(sizeof(*c));
		if (!c) {
			q->error = "out of memory";
			break;
		}
		c->q = q;
		c->idx = i;
		q->pending++;
		ares_getaddrinfo(q->d->ch, q->srv[i].target, NULL, &h, on_addrinfo, c);
	}
	if (--q->pending == 0)
		finish(q);
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct ares_srv_reply *srv = NULL;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION || q->d->destroying) {
		free(q);
		return;
	}
	if (status == ARES_SUCCESS && ares_parse_srv_reply(abuf, alen, &srv) == ARES_SUCCESS) {
		for (struct ares_srv_reply *r = srv; r && q->nsrv < SIP_DNS_MAX_TARGETS; r = r->next) {
			struct dns_srv *s = &q->srv[q->nsrv];
			if (cm_strlcpy(s->target, r->host, sizeof(s->target)) < 0 || strcmp(r->host, ".") == 0)
				continue; /* "." says: no service here (RFC 2782) */
			s->port = r->port;
			s->priority = r->priority;
			s->weight = r->weight;
			q->nsrv++;
		}
		ares_free_data(srv);
		q->d->st.srv_answers++;
	}
	if (q->nsrv) {
		srv_order(q->srv, q->nsrv);
	} else {
		/* §4.2: no SRV records: the name's own addresses on the transport's default port */
		cm_strlcpy(q->srv[0].target, q->host, sizeof(q->srv[0].target));
		q->srv[0].port = default_port(q->kind);
		q->nsrv = 1;
	}
	lookup_addrs(q);
}

int sip_dns_resolve(struct sip_dns *d, const char *host, uint16_t port, enum sip_tp_kind kind, int family,
		    sip_dns_cb cb, void *arg)
{
	static const char *const prefix[] = { [SIP_TP_UDP] = "_sip._udp.", [SIP_TP_TCP] = "_sip._tcp.",
					      [SIP_TP_TLS] = "_sips._tcp." };
	struct sockaddr_storage a;
	struct dns_query *q;
	char name[SIP_DNS_NAME_MAX + 16];

	if (sip_addr_from(&a, host, port ? port : default_port(kind)) == 0) {
		struct sip_dns_result r = { .status = 0, .n = 1 };
		r.t[0].addr = a;
		cm_strlcpy(r.t[0].target, host, sizeof(r.t[0].target));
		if (d) {
			d->st.queries++;
			d->st.resolved++;
		}
		cb(arg, &r);
		return 0;
	}
	if (!d)
		return -ENOSYS;
	d->st.queries++;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	if (cm_strlcpy(q->host, host, sizeof(q->host)) < 0 || !host[0]) {
		free(q);
		return -EINVAL;
	}
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	q->kind = kind;
	q->family = family == AF_INET6 ? AF_INET6 : AF_INET;
	if (port) {
		/* §4.2: an explicit port means no SRV lookup */
		cm_strlcpy(q->srv[0].target, host, sizeof(q->srv[0].target));
		q->srv[0].port = port;
		q->nsrv = 1;
		lookup_addrs(q);
	} else {
		snprintf(name, sizeof(name), "%s%s", prefix[kind], host);
		ares_query(d->ch, name, ns_c_in, ns_t_srv, on_srv, q);
	}
	arm(d);
	return 0;
}
