/* sip/ internals shared by the user agent core (ua.c: dispatch, the dialog table) and the calls (call.c). */
#ifndef CM_SIP_CALL_INTERNAL_H
#define CM_SIP_CALL_INTERNAL_H

/* The methods our user agent answers, for every Allow header it sends (in and out of dialogs). */
#define SIP_ALLOW "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, PRACK, UPDATE"

#include "sip/sip_internal.h"

/* Calls by Call-ID: chained buckets, doubled when there are more calls than buckets, so a lookup stays O(1)
 * however many dialogs are up. */
struct sip_call_table {
	struct sip_call **b;
	uint32_t mask;    /* buckets - 1 */
	uint32_t n;
};

struct sip_ua {
	struct sip_ua_config cfg;
	char contact_user[64];
	char media_addr[48], crypto_suite[32], crypto_key[64];
	struct sip_tp *tp;
	struct cp_loop *loop;
	struct sip_ua_stats st;
	struct sip_call_table calls;
	uint64_t rng;
	struct sip_call *spare;      /* freed calls kept for the next ones (call.c) */
	unsigned nspare;
};

/* Identifiers only need to be unique, not secret: xorshift64* seeded once from the CSPRNG. */
uint64_t sip_ua_random(struct sip_ua *ua);

void sip_call_table_add(struct sip_call_table *t, struct sip_call *c);
void sip_call_table_del(struct sip_call_table *t, struct sip_call *c);
void sip_call_table_free(struct sip_call_table *t);
/* The call of an in-dialog message: Call-ID and our tag (To of a request we receive, From of a response).
 * Without our tag (CANCEL, a retransmitted INVITE): the received call whose remote tag is `remote_tag`. */
struct sip_call *sip_call_find(struct sip_call_table *t, struct sip_str call_id, struct sip_str local_tag,
			       struct sip_str remote_tag);

/* Entry points of call.c for the UA. */
void sip_call_incoming(struct sip_ua *ua, struct sip_txn *st, const struct sip_msg *req,
		       const struct sockaddr_storage *src, const struct sip_answer *a, const struct sip_call_handler *h,
		       void *arg);
/* A request for an existing call (st NULL for an ACK). */
void sip_call_request(struct sip_call *c, struct sip_txn *st, const struct sip_msg *req);
/* A 2xx to our INVITE after its transaction ended: ACK again (§13.2.2.4). */
void sip_call_stray_2xx(struct sip_call *c, const struct sip_msg *resp);
/* The server INVITE transaction the call holds has ended. */
void sip_call_txn_gone(struct sip_call *c, struct sip_txn *t);
/* Frees a call whatever its state (the UA at its end). */
void sip_call_destroy(struct sip_call *c);
/* Frees the calls the UA keeps for reuse (sip_ua_free). */
void sip_call_spares_free(struct sip_ua *ua);

/* Copies the strings of an sdp_local into the owner's buffers (addr, suite, key); dst then points there. */
void sip_sdp_local_copy(struct sdp_local *dst, const struct sdp_local *src, char *addr, size_t addr_len,
			char *suite, size_t suite_len, char *key, size_t key_len);

#endif
