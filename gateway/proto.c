/* Worker ↔ gateway framing: a 4-byte big-endian payload length, then one msgpack map whose "t" names the
 * message (docs/gateway-protocol.md).  The reader is resumable so that a non-blocking socket can hand it
 * whatever arrived; the decoder walks the msgpack bytes once before msgpack-c unpacks them, because msgpack-c
 * allocates a container's elements from its declared count: five hostile bytes could ask for gigabytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"

static const char *const type_names[GW_MSG__COUNT] = {
	[GW_MSG_UNKNOWN] = "unknown",
	[GW_MSG_HELLO] = "hello",
	[GW_MSG_WELCOME] = "welcome",
	[GW_MSG_REJECT] = "reject",
	[GW_MSG_HEARTBEAT] = "heartbeat",
	[GW_MSG_DRAIN] = "drain",
	[GW_MSG_ASSIGN] = "assign",
	[GW_MSG_ACCEPT] = "accept",
	[GW_MSG_REFUSE] = "refuse",
	[GW_MSG_METRICS] = "metrics",
	[GW_MSG_ACK] = "ack",
	[GW_MSG_DONE] = "done",
	[GW_MSG_CANCEL] = "cancel",
	[GW_MSG_START] = "start",
	[GW_MSG_CALLS_DONE] = "calls_done",
	[GW_MSG_RELEASE] = "release",
};

const char *gw_msg_type_name(enum gw_msg_type t)
{
	return (unsigned)t < GW_MSG__COUNT ? type_names[t] : "unknown";
}

enum gw_msg_type gw_msg_type_parse(const char *s, size_t len)
{
	for (int i = 1; i < GW_MSG__COUNT; i++)
		if (strlen(type_names[i]) == len && memcmp(type_names[i], s, len) == 0)
			return (enum gw_msg_type)i;
	return GW_MSG_UNKNOWN;
}

/* ---- reader ----------------------------------------------------------------------------------------------- */

#define READER_KEEP_CAP (64u * 1024u) /* buffers above this are freed after their frame: sessions stay small */

void gw_proto_reader_init(struct gw_proto_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void gw_proto_reader_free(struct gw_proto_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

int gw_proto_reader_feed(struct gw_proto_reader *r, const uint8_t *data, size_t len, size_t *used)
{
	size_t off = 0;

	if (r->ready) {
		r->ready = false;
		r->hdr_have = 0;
		r->have = 0;
		r->need = 0;
		if (r->cap > READER_KEEP_CAP) {
			free(r->buf);
			r->buf = NULL;
			r->cap = 0;
		}
	}
	while (r->hdr_have < GW_PROTO_HDR && off < len)
		r->hdr[r->hdr_have++] = data[off++];
	if (r->hdr_have < GW_PROTO_HDR) {
		*used = off;
		return GW_PROTO_AGAIN;
	}
	if (r->need == 0) {
		uint32_t n;

		memcpy(&n, r->hdr, 4);
		n = ntohl(n);
		*used = off;
		if (n == 0)
			return -EBADMSG;
		if (n > (r->limit && r->limit < GW_PROTO_MAX_FRAME ? r->limit : GW_PROTO_MAX_FRAME))
			return -EMSGSIZE;
		if (n > r->cap) {
			uint8_t *b = realloc(r->buf, n);
			if (!b)
				return -ENOMEM;
			r->buf = b;
			r->cap = n;
		}
		r->need = n;
	}
	if (off < len) {
		size_t take = len - off;
		if (take > r->need - r->have)
			take = r->need - r->have;
		memcpy(r->buf + r->have, data + off, take);
		r->have += (uint32_t)take;
		off += take;
	}
	*used = off;
	if (r->have < r->need)
		return GW_PROTO_AGAIN;
	r->ready = true;
	return GW_PROTO_FRAME;
}

/* ---- structural check before unpacking ------------------------------------------------------------------- */

static int be_len(const uint8_t *p, size_t pos, size_t len, unsigned width, uint64_t *out)
{
	uint64_t v = 0;

	if (len - pos < width)
		return -1;
	for (unsigned i = 0; i < width; i++)
		v = (v << 8) | p[pos + i];
	*out = v;
	return 0;
}

/* Walks one msgpack object tree.  Every container's element count must fit in the bytes left (an element takes
 * at least one byte) and nesting stays under GW_PROTO_MAX_DEPTH; so msgpack-c never allocates more than a
 * small multiple of the payload. */
static int msgpack_check(const uint8_t *p, size_t len, const char **why)
{
	uint64_t left[GW_PROTO_MAX_DEPTH + 1];
	int depth = 0;
	size_t pos = 0;

	left[0] = 1;
	while (depth >= 0) {
		uint8_t b;
		uint64_t n = 0, skip = 0, elems = 0;

		if (left[depth] == 0) {
			depth--;
			continue;
		}
		left[depth]--;
		if (pos >= len) {
			*why = "truncated msgpack";
			return -1;
		}
		b = p[pos++];
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if ((b & 0xf0) == 0x80) {
			elems = 2u * (b & 0x0f);
		} else if ((b & 0xf0) == 0x90) {
			elems = b & 0x0f;
		} else if ((b & 0xe0) == 0xa0) {
			skip = b & 0x1f;
		} else {
			switch (b) {
			case 0xc4: case 0xd9: if (be_len(p, pos, len, 1, &skip)) goto trunc; pos += 1; break;
			case 0xc5: case 0xda: if (be_len(p, pos, len, 2, &skip)) goto trunc; pos += 2; break;
			case 0xc6: case 0xdb: if (be_len(p, pos, len, 4, &skip)) goto trunc; pos += 4; break;
			case 0xc7: if (be_len(p, pos, len, 1, &skip)) goto trunc; pos += 1; skip += 1; break;
			case 0xc8: if (be_len(p, pos, len, 2, &skip)) goto trunc; pos += 2; skip += 1; break;
			case 0xc9: if (be_len(p, pos, len, 4, &skip)) goto trunc; pos += 4; skip += 1; break;
			case 0xca: skip = 4; break;
			case 0xcb: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break;
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xdc: if (be_len(p, pos, len, 2, &n)) goto trunc; pos += 2; elems = n; break;
			case 0xdd: if (be_len(p, pos, len, 4, &n)) goto trunc; pos += 4; elems = n; break;
			case 0xde: if (be_len(p, pos, len, 2, &n)) goto trunc; pos += 2; elems = 2 * n; break;
			case 0xdf: if (be_len(p, pos, len, 4, &n)) goto trunc; pos += 4; elems = 2 * n; break;
			default:
				*why = "invalid msgpack type byte";
				return -1;
			}
		}
		if (skip > len - pos)
			goto trunc;
		pos += skip;
		if (elems) {
			if (elems > len - pos) {
				*why = "msgpack container longer than the frame";
				return -1;
			}
			if (depth + 1 > GW_PROTO_MAX_DEPTH) {
				*why = "msgpack nested too deeply";
				return -1;
			}
			left[++depth] = elems;
		}
	}
	if (pos != len) {
		*why = "bytes after the message map";
		return -1;
	}
	return 0;
trunc:
	*why = "truncated msgpack";
	return -1;
}

/* ---- decoding --------------------------------------------------------------------------------------------- */

int gw_msg_decode(struct gw_msg *m, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	const char *why = NULL;
	const msgpack_object *t;
	size_t off = 0;

	memset(m, 0, sizeof(*m));
	if (len == 0 || len > GW_PROTO_MAX_FRAME) {
		snprintf(err, errlen, "frame length %zu out of range", len);
		return -EBADMSG;
	}
	if ((buf[0] & 0xf0) != 0x80 && buf[0] != 0xde && buf[0] != 0xdf) {
		snprintf(err, errlen, "message is not a msgpack map");
		return -EBADMSG;
	}
	if (msgpack_check(buf, len, &why) < 0) {
		snprintf(err, errlen, "%s", why);
		return -EBADMSG;
	}
	msgpack_unpacked_init(&m->up);
	if (msgpack_unpack_next(&m->up, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) {
		snprintf(err, errlen, "msgpack does not unpack");
		goto fail;
	}
	m->map = &m->up.data;
	t = gw_obj_get(m->map, "t");
	if (!t || t->type != MSGPACK_OBJECT_STR || t->via.str.size == 0 || t->via.str.size > GW_PROTO_TYPE_MAX) {
		snprintf(err, errlen, "message without a string \"t\"");
		goto fail;
	}
	memcpy(m->t, t->via.str.ptr, t->via.str.size);
	m->t[t->via.str.size] = '\0';
	for (size_t i = 0; i < t->via.str.size; i++) {
		if (m->t[i] < 0x21 || m->t[i] > 0x7e) {
			snprintf(err, errlen, "message type is not printable");
			goto fail;
		}
	}
	m->type = gw_msg_type_parse(t->via.str.ptr, t->via.str.size);
	return 0;
fail:
	msgpack_unpacked_destroy(&m->up);
	memset(m, 0, sizeof(*m));
	return -EBADMSG;
}

void gw_msg_free(struct gw_msg *m)
{
	if (m->map)
		msgpack_unpacked_destroy(&m->up);
	m->map = NULL;
}

const msgpack_object *gw_obj_get(const msgpack_object *map, const char *key)
{
	size_t kl = strlen(key);

	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl && memcmp(k->via.str.ptr, key, kl) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

int gw_obj_str(const msgpack_object *map, const char *key, char *out, size_t outlen)
{
	const msgpack_object *o = gw_obj_get(map, key);

	if (!o)
		return -ENOENT;
	if (o->type != MSGPACK_OBJECT_STR)
		return -EPROTO;
	if (o->via.str.size >= outlen)
		return -ENAMETOOLONG;
	if (memchr(o->via.str.ptr, '\0', o->via.str.size))
		return -EPROTO;
	memcpy(out, o->via.str.ptr, o->via.str.size);
	out[o->via.str.size] = '\0';
	return 0;
}

bool gw_key_name(const msgpack_object *k, const char *punct, size_t max, char *out)
{
	if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0 || k->via.str.size > max)
		return false;
	for (uint32_t i = 0; i < k->via.str.size; i++) {
		char c = k->via.str.ptr[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c && strchr(punct, c))))
			return false;
	}
	if (out) {
		memcpy(out, k->via.str.ptr, k->via.str.size);
		out[k->via.str.size] = '\0';
	}
	return true;
}

int gw_obj_u64(const msgpack_object *map, const char *key, uint64_t *out)
{
	const msgpack_object *o = gw_obj_get(map, key);

	if (!o)
		return -ENOENT;
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -EPROTO;
	*out = o->via.u64;
	return 0;
}

int gw_obj_f64(const msgpack_object *map, const char *key, double *out)
{
	const msgpack_object *o = gw_obj_get(map, key);

	if (!o)
		return -ENOENT;
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 0;
	default: return -EPROTO;
	}
}

/* ---- encoding --------------------------------------------------------------------------------------------- */

int gw_enc_start(struct gw_enc *e, enum gw_msg_type t, uint32_t nfields)
{
	static const uint8_t zero[GW_PROTO_HDR];

	msgpack_sbuffer_init(&e->sb);
	msgpack_packer_init(&e->pk, &e->sb, msgpack_sbuffer_write);
	if (msgpack_sbuffer_write(&e->sb, (const char *)zero, sizeof(zero)) < 0)
		return -ENOMEM;
	msgpack_pack_map(&e->pk, nfields + 1);
	gw_enc_str(e, "t", gw_msg_type_name(t));
	return 0;
}

void gw_enc_key(struct gw_enc *e, const char *key)
{
	msgpack_pack_str_with_body(&e->pk, key, strlen(key));
}

void gw_enc_str(struct gw_enc *e, const char *key, const char *val)
{
	gw_enc_key(e, key);
	msgpack_pack_str_with_body(&e->pk, val, strlen(val));
}

void gw_enc_u64(struct gw_enc *e, const char *key, uint64_t val)
{
	gw_enc_key(e, key);
	msgpack_pack_uint64(&e->pk, val);
}

int gw_enc_finish(struct gw_enc *e)
{
	uint32_t n;

	if (!e->sb.data || e->sb.size < GW_PROTO_HDR)
		return -ENOMEM;
	if (e->sb.size - GW_PROTO_HDR > GW_PROTO_MAX_FRAME)
		return -EMSGSIZE;
	n = htonl((uint32_t)(e->sb.size - GW_PROTO_HDR));
	memcpy(e->sb.data, &n, 4);
	return 0;
}

void gw_enc_free(struct gw_enc *e)
{
	msgpack_sbuffer_destroy(&e->sb);
	memset(e, 0, sizeof(*e));
}
