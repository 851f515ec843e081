/* The media adapter on the real dataplane (net_ring: TX loops back to RX): call legs of a plan become flows on
 * their planned addresses, each side receives the other's stream, and the end-of-call figures carry loss,
 * jitter and an E-model MOS — clean G.711 near 4.4, and lower with the plan's impairment.  EAL can be
 * initialised once per process, so everything runs in one test case. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "controlplane/controlplane.h"
#include "dataplane/dataplane.h"
#include "check_main.h"

static const char plan_text[] =
	"[group b]\nendpoints = 4\ncodecs = PCMU\n"
	"[group a]\nendpoints = 4\ntarget = group:b\ncodecs = PCMU\n"
	"[dataplane]\nmedia_ip = 10.9.0.1, 10.9.0.2\nrtp_ports = 30000-30099\n"
	"[impairment]\nloss = 5%\nseed = 3\n";

static struct cfg_plan plan;

static void wait_commands(void)
{
	for (int i = 0; i < 2000 && !dp_commands_done(); i++)
		usleep(1000);
	ck_assert(dp_commands_done());
}

/* Starts the call between caller endpoint a (outgoing leg) and callee endpoint b (incoming leg). */
static void connect_legs(struct cp_media *m, uint32_t a, uint32_t b)
{
	struct cp_call_media to_b = { .codec = "PCMU", .payload_type = 0, .ptime_ms = 20 };
	struct cp_call_media to_a = to_b;

	ck_assert_int_eq(cp_media_local(m, CP_LEG(b, true), to_b.remote_ip, sizeof(to_b.remote_ip), &to_b.remote_port), 0);
	ck_assert_int_eq(cp_media_local(m, CP_LEG(a, false), to_a.remote_ip, sizeof(to_a.remote_ip), &to_a.remote_port), 0);
	ck_assert_int_eq(cp_media_start(m, CP_LEG(a, false), &to_b), 0);
	ck_assert_int_eq(cp_media_start(m, CP_LEG(b, true), &to_a), 0);
}

/* Until both legs of calls first..last (caller 4 + i, callee i) have accounted for at least n packets of the
 * other side (received or lost), at most 30 s: the checks need that many, however slowly a loaded machine runs
 * the lcore. */
static void wait_accounted(struct cp_media *m, uint32_t first, uint32_t last, uint64_t n)
{
	for (int t = 0; t < 300; t++) {
		bool all = true;

		for (uint32_t i = first; i <= last; i++)
			for (int side = 0; side < 2; side++) {
				struct cp_sample s = { 0 };

				cp_media_sample(m, side ? CP_LEG(i, true) : CP_LEG(4 + i, false), &s);
				all = all && s.packets_received + (uint64_t)s.packets_lost >= n;
			}
		if (all)
			return;
		usleep(100000);
	}
}

START_TEST(legs_become_flows_with_quality)
{
	char err[256], ip[16];
	struct cp_media *m;
	struct dp_config cfg;
	struct cp_flow_report f;
	struct cp_sample s;
	uint8_t mac[6];
	uint16_t port;

	ck_assert_msg(cfg_plan_load_string(&plan, "media.ini", plan_text, err, sizeof(err)) == 0, "%s", err);
	m = cp_media_new(&plan, err, sizeof(err));
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_uint_eq(cp_media_flows(m), 8); /* callees: incoming legs only; callers: outgoing only */
	/* slots alternate media IPs; ports step by two */
	ck_assert_int_eq(cp_media_local(m, CP_LEG(0, true), ip, sizeof(ip), &port), 0);
	ck_assert_str_eq(ip, "10.9.0.1");
	ck_assert_uint_eq(port, 30000);
	ck_assert_int_eq(cp_media_local(m, CP_LEG(1, true), ip, sizeof(ip), &port), 0);
	ck_assert_str_eq(ip, "10.9.0.2");
	ck_assert_uint_eq(port, 30000);
	ck_assert_int_eq(cp_media_local(m, CP_LEG(4, false), ip, sizeof(ip), &port), 0);
	ck_assert_uint_eq(port, 30004);
	ck_assert_int_eq(cp_media_local(m, CP_LEG(0, false), ip, sizeof(ip), &port), -EINVAL);

	ck_assert_msg(dp_eal_init("test_media", "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 -l 0,1 "
				  "--log-level=error", err, sizeof(err)) == 0, "%s", err);
	cp_media_dp_config(m, &cfg);
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_ring0", &(struct dp_port_info){ 0 }, err, sizeof(err)) == 0, "%s", err);
	dp_port_mac(mac);
	cp_media_set_mac(m, mac);

	/* clean calls: caller i (endpoints 4..7) with callee i (0..3) */
	for (uint32_t i = 0; i < 2; i++)
		connect_legs(m, 4 + i, i);
	wait_commands();
	wait_accounted(m, 0, 1, 75); /* 1.5 s of 50 packets/s */
	memset(&s, 0, sizeof(s));
	cp_media_sample(m, CP_LEG(4, false), &s);
	ck_assert(s.has_media);
	ck_assert_uint_ge(s.packets_received, 60); /* 50 packets/s for 1.5 s */
	ck_assert_uint_ge(s.packets_sent, 60);
	for (uint32_t i = 0; i < 2; i++) {
		cp_media_stop(m, CP_LEG(4 + i, false), &f);
		ck_assert_uint_ge(f.packets_received, 60);
		ck_assert_uint_eq(f.packets_lost, 0);
		ck_assert_str_eq(f.codec, "PCMU");
		/* G.711 with no loss: R 93.2 / MOS 4.41 at zero delay (G.107 defaults); the ~40 ms the receiver adds
		 * (20 ms jitter buffer + one 20 ms frame) costs about 1.2 through talker echo (Idte, TELR 65 dB) */
		ck_assert_msg(f.mos > 4.35 && f.mos < 4.45, "MOS %.3f", f.mos);
		ck_assert_msg(f.r_factor > 91.5 && f.r_factor < 93.3, "R %.2f", f.r_factor);
		cp_media_stop(m, CP_LEG(i, true), &f);
		ck_assert_uint_eq(f.packets_lost, 0);
	}
	/* a stopped leg has nothing more to report */
	memset(&f, 0, sizeof(f));
	cp_media_stop(m, CP_LEG(4, false), &f);
	ck_assert_uint_eq(f.packets_received, 0);

	/* the plan's 5 % loss: measured loss near it, MOS clearly lower */
	ck_assert_int_eq(cp_media_apply_impairment(m), 0);
	for (uint32_t i = 2; i < 4; i++)
		connect_legs(m, 4 + i, i);
	wait_commands();
	wait_accounted(m, 2, 3, 125); /* 2.5 s */
	for (uint32_t i = 2; i < 4; i++) {
		double loss;

		cp_media_stop(m, CP_LEG(4 + i, false), &f);
		loss = 100.0 * (double)f.packets_lost / (double)(f.packets_received + f.packets_lost);
		ck_assert_msg(loss > 1.5 && loss < 10, "loss %.2f %%", loss);
		ck_assert_msg(f.mos < 4.2 && f.mos > 2.5, "MOS %.3f at %.1f %% loss", f.mos, loss);
		ck_assert_msg(f.burst_r > 0.7 && f.burst_r < 1.6, "random loss, BurstR %.2f", f.burst_r);
		cp_media_stop(m, CP_LEG(i, true), &f);
	}

	/* Gilbert–Elliott loss (bad state entered with 2 %, left with 20 % per packet, everything lost in it: runs
	 * of 5 on average, BurstR = 1 / (p + q) = 4.5): the legs' BurstR comes out well above 1, and the MOS below
	 * what the same loss rate gives when random (BurstR 1) */
	ck_assert_int_eq(dp_impair_set(0, &(struct dp_impair){ .ge_p_ppm = 20000, .ge_r_ppm = 200000,
							       .ge_loss_bad_ppm = 1000000, .seed = 5 }), 0);
	for (uint32_t i = 0; i < 4; i++)
		connect_legs(m, 4 + i, i);
	wait_commands();
	wait_accounted(m, 0, 3, 250); /* 5 s */
	{
		double br = 0, mos = 0, lost = 0, expected = 0, mos_random;
		struct emodel_input in;
		struct emodel_result out;
		unsigned n = 0;

		for (uint32_t i = 0; i < 8; i++) {
			cp_media_stop(m, i < 4 ? CP_LEG(4 + i, false) : CP_LEG(i - 4, true), &f);
			ck_assert_uint_ge(f.packets_received, 200);
			br += f.burst_r;
			mos += f.mos;
			lost += (double)f.packets_lost;
			expected += (double)(f.packets_received + f.packets_lost);
			n++;
		}
		br /= n;
		mos /= n;
		/* the same receiver, codec and loss rate with random loss */
		emodel_defaults(&in);
		emodel_set_codec(&in, codec_by_name("PCMU"), codec_by_name("PCMU")->has_plc);
		emodel_set_delay(&in, emodel_one_way_delay_ms(0, 20, 20));
		in.ppl = 100.0 * lost / expected;
		in.burst_r = 1;
		ck_assert_int_eq(emodel_compute(&in, &out), 0);
		mos_random = out.mos;
		ck_assert_msg(in.ppl > 3 && in.ppl < 20, "GE loss %.2f %%", in.ppl);
		ck_assert_msg(br > 2.0, "GE loss: mean BurstR %.2f", br);
		ck_assert_msg(mos < mos_random - 0.1, "GE MOS %.3f, random at the same %.2f %% loss %.3f", mos, in.ppl,
			      mos_random);
		printf("Gilbert-Elliott: loss %.2f %%, mean BurstR %.2f, MOS %.2f (random loss at that rate: %.2f)\n",
		       in.ppl, br, mos, mos_random);
	}
	/* hold and resume (a re-INVITE's new direction): the held leg stops sending, its peer stops receiving */
	ck_assert_int_eq(dp_impair_set(0, &(struct dp_impair){ 0 }), 0);
	connect_legs(m, 4, 0);
	wait_commands();
	usleep(600000);
	{
		struct cp_call_media to_b = { .codec = "PCMU", .payload_type = 0, .ptime_ms = 20 };
		struct cp_sample a0, a1, a2, b1, b2;

		ck_assert_int_eq(cp_media_local(m, CP_LEG(0, true), to_b.remote_ip, sizeof(to_b.remote_ip),
						&to_b.remote_port), 0);
		ck_assert_int_eq(cp_media_modify(m, CP_LEG(4, false), &to_b, false, true), 0); /* on hold */
		wait_commands();
		usleep(100000); /* what was in flight arrives */
		memset(&a0, 0, sizeof(a0));
		cp_media_sample(m, CP_LEG(4, false), &a0);
		/* a second's worth (50 packets) still arrives, however long a loaded machine takes to deliver it */
		for (int t = 0; t < 100; t++) {
			memset(&a1, 0, sizeof(a1));
			cp_media_sample(m, CP_LEG(4, false), &a1);
			if (a1.packets_received >= a0.packets_received + 50)
				break;
			usleep(100000);
		}
		memset(&b1, 0, sizeof(b1));
		cp_media_sample(m, CP_LEG(0, true), &b1);
		ck_assert_uint_eq(a1.packets_sent, a0.packets_sent);       /* held: nothing sent */
		ck_assert_uint_ge(a1.packets_received, a0.packets_received + 40); /* still receiving */
		ck_assert_int_eq(cp_media_modify(m, CP_LEG(4, false), &to_b, true, true), 0); /* resumed */
		wait_commands();
		for (int t = 0; t < 100; t++) {
			memset(&a2, 0, sizeof(a2));
			memset(&b2, 0, sizeof(b2));
			cp_media_sample(m, CP_LEG(4, false), &a2);
			cp_media_sample(m, CP_LEG(0, true), &b2);
			if (a2.packets_sent >= a1.packets_sent + 50 && b2.packets_received >= b1.packets_received + 50)
				break;
			usleep(100000);
		}
		ck_assert_uint_ge(a2.packets_sent, a1.packets_sent + 40);
		ck_assert_uint_ge(b2.packets_received, b1.packets_received + 40);
		cp_media_stop(m, CP_LEG(4, false), &f);
		cp_media_stop(m, CP_LEG(0, true), &f);
	}
	/* modifying a leg that is not up */
	ck_assert_int_eq(cp_media_modify(m, CP_LEG(4, false), &(struct cp_call_media){ .codec = "PCMU",
									     .remote_ip = "10.9.0.1" },
					 true, true), -EINVAL);
	dp_stop();
	dp_eal_cleanup();
	cp_media_free(m);
}
END_TEST

static Suite *media_suite(void)
{
	Suite *s = suite_create("media");
	TCase *tc = tcase_create("media");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, legs_become_flows_with_quality);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	cm_log_setup(CM_LOG_WARN, CM_LOG_PRETTY, stderr);
	return run_suite(media_suite());
}
