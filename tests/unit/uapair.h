/* Two SIP user agents on one loop, each on its own UDP port of 127.0.0.1 (or uas_ip): a callee configured by the
 * test and a plain caller.  Shared by the dialog tests (test_sip_uas, test_sip_prack, test_sip_hold). */
#ifndef CM_TEST_UAPAIR_H
#define CM_TEST_UAPAIR_H

#include <check.h>

#include "controlplane/controlplane.h"
#include "sip/sip.h"

/* ua listening on ip (an ephemeral port). */
static inline struct sip_udp *ua_listen(struct cp_loop *loop, struct sip_ua *ua, const char *ip)
{
	struct sip_udp *u = sip_udp_start(loop, ip, 0, &sip_ua_txn_ops, ua);

	ck_assert_ptr_nonnull(u);
	sip_ua_attach(ua, sip_udp_tp(u));
	return u;
}

struct ua_pair {
	struct cp_loop *loop;
	struct sip_ua *uas, *uac;
	struct sip_udp *uas_u, *uac_u;
};

static inline void ua_pair_start(struct ua_pair *b, const struct sip_ua_config *uas_cfg, const char *uas_ip)
{
	b->loop = cp_loop_new();
	b->uas = sip_ua_new(uas_cfg);
	b->uas_u = ua_listen(b->loop, b->uas, uas_ip);
	b->uac = sip_ua_new(&(struct sip_ua_config){ 0 });
	b->uac_u = ua_listen(b->loop, b->uac, "127.0.0.1");
}

static inline void ua_pair_stop(struct ua_pair *b)
{
	sip_ua_free(b->uac);
	sip_ua_free(b->uas);
	sip_udp_stop(b->uac_u);
	sip_udp_stop(b->uas_u);
	cp_loop_free(b->loop);
}

#endif
