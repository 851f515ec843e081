/* Gateway framing and message decoding: round trips, a reader fed one byte at a time, and a table of hostile
 * frames (oversized, empty, truncated, wrong types, garbage msgpack, lying container counts) that must each be
 * refused with a reason and never crash or allocate wildly. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "gateway/gateway.h"
#include "check_main.h"

static struct gw_enc make_hello(void)
{
	struct gw_enc e;

	ck_assert_int_eq(gw_enc_start(&e, GW_MSG_HELLO, 3), 0);
	gw_enc_str(&e, "name", "rack-1");
	gw_enc_u64(&e, "version", GW_PROTO_VERSION);
	gw_enc_u64(&e, "capacity", 1234567890123ull);
	ck_assert_int_eq(gw_enc_finish(&e), 0);
	return e;
}

START_TEST(round_trip)
{
	struct gw_enc e = make_hello();
	struct gw_msg m;
	char err[128], name[32];
	uint64_t v;
	uint32_t n;

	memcpy(&n, e.sb.data, 4);
	ck_assert_uint_eq(ntohl(n), e.sb.size - 4);
	ck_assert_int_eq(gw_msg_decode(&m, (uint8_t *)e.sb.data + 4, e.sb.size - 4, err, sizeof(err)), 0);
	ck_assert_int_eq(m.type, GW_MSG_HELLO);
	ck_assert_str_eq(m.t, "hello");
	ck_assert_int_eq(gw_msg_str(&m, "name", name, sizeof(name)), 0);
	ck_assert_str_eq(name, "rack-1");
	ck_assert_int_eq(gw_msg_u64(&m, "capacity", &v), 0);
	ck_assert_uint_eq(v, 1234567890123ull);
	/* wrong types and absent keys are told apart */
	ck_assert_int_eq(gw_msg_u64(&m, "name", &v), -EPROTO);
	ck_assert_int_eq(gw_msg_str(&m, "version", name, sizeof(name)), -EPROTO);
	ck_assert_int_eq(gw_msg_str(&m, "nope", name, sizeof(name)), -ENOENT);
	ck_assert_int_eq(gw_msg_str(&m, "name", name, 4), -ENAMETOOLONG);
	gw_msg_free(&m);
	gw_enc_free(&e);
}
END_TEST

/* Three frames back to back, fed in every chunk size from 1 byte up: each comes out whole, in order. */
START_TEST(reader_resumes_across_any_split)
{
	struct gw_enc e = make_hello();
	uint8_t stream[3 * 256];
	size_t flen = e.sb.size;

	ck_assert(3 * flen <= sizeof(stream));
	for (int i = 0; i < 3; i++)
		memcpy(stream + i * flen, e.sb.data, flen);
	for (size_t chunk = 1; chunk <= 3 * flen; chunk++) {
		struct gw_proto_reader r;
		size_t pos = 0;
		int frames = 0;

		gw_proto_reader_init(&r);
		while (pos < 3 * flen) {
			size_t end = pos + chunk > 3 * flen ? 3 * flen : pos + chunk;
			while (pos < end) {
				size_t used = 0;
				int rc = gw_proto_reader_feed(&r, stream + pos, end - pos, &used);
				ck_assert_int_ge(rc, 0);
				pos += used;
				if (rc == GW_PROTO_FRAME) {
					ck_assert_uint_eq(r.need, flen - 4);
					ck_assert_int_eq(memcmp(r.buf, e.sb.data + 4, flen - 4), 0);
					frames++;
				}
			}
		}
		ck_assert_int_eq(frames, 3);
		gw_proto_reader_free(&r);
	}
	gw_enc_free(&e);
}
END_TEST

START_TEST(reader_refuses_oversized_and_empty)
{
	struct gw_proto_reader r;
	uint8_t big[4] = { 0x00, 0x10, 0x00, 0x01 }; /* 1 MiB + 1 */
	uint8_t max[4] = { 0x00, 0x10, 0x00, 0x00 }; /* exactly 1 MiB: allowed */
	uint8_t huge[4] = { 0xff, 0xff, 0xff, 0xff };
	uint8_t zero[4] = { 0, 0, 0, 0 };
	size_t used;

	gw_proto_reader_init(&r);
	ck_assert_int_eq(gw_proto_reader_feed(&r, big, 4, &used), -EMSGSIZE);
	gw_proto_reader_free(&r);
	gw_proto_reader_init(&r);
	ck_assert_int_eq(gw_proto_reader_feed(&r, huge, 4, &used), -EMSGSIZE);
	gw_proto_reader_free(&r);
	gw_proto_reader_init(&r);
	ck_assert_int_eq(gw_proto_reader_feed(&r, zero, 4, &used), -EBADMSG);
	gw_proto_reader_free(&r);
	gw_proto_reader_init(&r);
	ck_assert_int_eq(gw_proto_reader_feed(&r, max, 4, &used), GW_PROTO_AGAIN);
	ck_assert_uint_eq(r.need, GW_PROTO_MAX_FRAME);
	gw_proto_reader_free(&r);
	/* a lower limit (before authentication) */
	gw_proto_reader_init(&r);
	r.limit = GW_PROTO_MAX_HELLO;
	ck_assert_int_eq(gw_proto_reader_feed(&r, max, 4, &used), -EMSGSIZE);
	gw_proto_reader_free(&r);
}
END_TEST

static const struct {
	const char *name;
	const char *bytes;
	size_t len;
	const char *why;
} hostile[] = {
#define B(s) s, sizeof(s) - 1
	{ "not a map (array)", B("\x91\xa1t"), "not a msgpack map" },
	{ "not a map (string)", B("\xa5hello"), "not a msgpack map" },
	{ "not a map (nil)", B("\xc0"), "not a msgpack map" },
	{ "garbage", B("\xc1\xc1\xc1\xc1"), "not a msgpack map" },
	{ "map without t", B("\x81\xa1x\x01"), "without a string \"t\"" },
	{ "t is an integer", B("\x81\xa1t\x05"), "without a string \"t\"" },
	{ "t is empty", B("\x81\xa1t\xa0"), "without a string \"t\"" },
	{ "t not printable", B("\x81\xa1t\xa2\x01\x02"), "not printable" },
	{ "truncated key", B("\x81\xa5t"), "truncated" },
	{ "truncated value", B("\x82\xa1t\xa1h\xa1x"), "truncated" },
	{ "map claims 15 pairs", B("\x8f\xa1t\xa1h"), "longer than the frame" },
	{ "map32 claims 4G pairs", B("\xdf\xff\xff\xff\xff\xa1t\xa1h"), "longer than the frame" },
	{ "array32 claims 4G items", B("\x82\xa1t\xa1h\xa1x\xdd\xff\xff\xff\xff\x01"), "longer than the frame" },
	{ "str32 claims 4 GB", B("\x81\xa1t\xdb\xff\xff\xff\xff"), "truncated" },
	{ "bin32 claims 4 GB", B("\x81\xa1t\xc6\x7f\xff\xff\xff\x00"), "truncated" },
	{ "ext32 claims 4 GB", B("\x81\xa1t\xc9\xff\xff\xff\xff\x01"), "truncated" },
	{ "reserved byte inside", B("\x82\xa1t\xa1h\xa1x\xc1"), "invalid msgpack type byte" },
	{ "trailing bytes", B("\x81\xa1t\xa5hello\x00"), "bytes after the message map" },
	{ "two maps", B("\x81\xa1t\xa1h\x81\xa1t\xa1h"), "bytes after the message map" },
	{ "deep nesting",
	  B("\x82\xa1t\xa1h\xa1x\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x01"),
	  "nested too deeply" },
	{ "float truncated", B("\x82\xa1t\xa1h\xa1x\xcb\x00\x00"), "truncated" },
#undef B
};

START_TEST(hostile_payloads_are_refused)
{
	struct gw_msg m;
	char err[128] = "";
	int rc = gw_msg_decode(&m, (const uint8_t *)hostile[_i].bytes, hostile[_i].len, err, sizeof(err));

	ck_assert_msg(rc == -EBADMSG, "case '%s' accepted", hostile[_i].name);
	ck_assert_msg(strstr(err, hostile[_i].why), "case '%s': reason '%s', want '%s'", hostile[_i].name, err,
		      hostile[_i].why);
}
END_TEST

START_TEST(unknown_type_decodes_as_unknown)
{
	const char b[] = "\x81\xa1t\xa6" "future";
	struct gw_msg m;
	char err[64];

	ck_assert_int_eq(gw_msg_decode(&m, (const uint8_t *)b, sizeof(b) - 1, err, sizeof(err)), 0);
	ck_assert_int_eq(m.type, GW_MSG_UNKNOWN);
	ck_assert_str_eq(m.t, "future");
	gw_msg_free(&m);
}
END_TEST

/* A frame at the size limit with the largest nesting allowed still decodes. */
START_TEST(big_valid_frame)
{
	struct gw_enc e;
	struct gw_msg m;
	char err[64];
	size_t n = 60000;

	ck_assert_int_eq(gw_enc_start(&e, GW_MSG_METRICS, 1), 0);
	gw_enc_key(&e, "samples");
	msgpack_pack_array(&e.pk, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_map(&e.pk, 1);
		msgpack_pack_str_with_body(&e.pk, "mos", 3);
		msgpack_pack_double(&e.pk, 4.2);
	}
	ck_assert_int_eq(gw_enc_finish(&e), 0);
	ck_assert_int_eq(gw_msg_decode(&m, (uint8_t *)e.sb.data + 4, e.sb.size - 4, err, sizeof(err)), 0);
	ck_assert_uint_eq(gw_obj_get(m.map, "samples")->via.array.size, n);
	gw_msg_free(&m);
	gw_enc_free(&e);

	/* and one over the limit is refused by the encoder */
	ck_assert_int_eq(gw_enc_start(&e, GW_MSG_METRICS, 1), 0);
	gw_enc_key(&e, "blob");
	{
		static char blob[GW_PROTO_MAX_FRAME];
		msgpack_pack_bin_with_body(&e.pk, blob, sizeof(blob));
	}
	ck_assert_int_eq(gw_enc_finish(&e), -EMSGSIZE);
	gw_enc_free(&e);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("gw-proto");
	TCase *tc = tcase_create("frames");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, reader_resumes_across_any_split);
	tcase_add_test(tc, reader_refuses_oversized_and_empty);
	tcase_add_loop_test(tc, hostile_payloads_are_refused, 0, (int)(sizeof(hostile) / sizeof(hostile[0])));
	tcase_add_test(tc, unknown_type_decodes_as_unknown);
	tcase_add_test(tc, big_valid_frame);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(proto_suite());
}
