/* ITU-T G.107 E-model: test vectors with the arithmetic written out, the R→MOS mapping, BurstR, and input
 * validation.  Tolerances are 0.01 R: every expected value below is computed by hand from the formulas. */
#include <errno.h>
#include <math.h>

#include "codecs/codecs.h"
#include "check_main.h"

#define TOL 0.01

/* Default connection (G.107 Table 1: SLR 8, RLR 2, STMR 15, LSTR 18, Ds = Dr = 3, TELR 65, WEPL 110,
 * T = Tr = Ta = 0, qdu 1, Ie 0, Ppl 0, Nc -70, Nfor -64, Ps = Pr = 35, A 0):
 *   OLR = 10; Nfo = -64 + 2 = -62
 *   Pre = 35 + 10 log10(1 + 10^(-0.8)) = 35.6389; Nor = 2 - 121 + 35.6389 + 0.008 × 0.6389² = -83.3578
 *   Nos = 35 - 8 - 3 - 100 + 0.004 × (35 - 10 - 3 - 14)² = -75.744
 *   No = 10 log10(10^-7 + 10^-7.5744 + 10^-8.3358 + 10^-6.2) = -61.1792
 *   Ro = 15 - 1.5 (8 + No) = 94.7688
 *   Xolr = 10 + 0.2 (64 - 61.1792 - 2) = 10.1642 → Iolr = 20 [(1 + (Xolr/8)^8)^(1/8) - Xolr/8] = 0.4402
 *   STMRo = 15.0000 (T = 0: -10 log10(10^-1.5 + 10^-6.5)) → Ist = -0.0007
 *   Q = 37, G = 1.07 + 0.258 × 37 + 0.0602 × 37² = 92.0498; Y = (Ro - 100)/15 + 46/8.4 - G/9 = -5.0042,
 *   Z = 46/30 - G/40 = -0.7679 → Iq = 15 log10(1 + 10^Y + 10^Z) = 0.9741;  Is = 1.4136
 *   Idte = 0 (factor 1 - e^0); Rle = 10.5 × 117 × 1 = 1228.5 → Idle = (Ro - Rle)/2 + √((Ro - Rle)²/4 + 169) =
 *   0.1490; Idd = 0 (Ta ≤ 100)
 *   R = 94.7688 - 1.4136 - 0.1490 - 0 = 93.2062;  MOS = 1 + 0.035 R + R (R - 60)(100 - R) 7e-6 = 4.4094 */
START_TEST(default_connection)
{
	struct emodel_input in;
	struct emodel_result r;

	emodel_defaults(&in);
	emodel_set_codec(&in, &codec_pcmu, true);
	ck_assert_int_eq(emodel_compute(&in, &r), 0);
	ck_assert_double_eq_tol(r.ro, 94.7688, TOL);
	ck_assert_double_eq_tol(r.is, 1.4136, TOL);
	ck_assert_double_eq_tol(r.idle, 0.1490, TOL);
	ck_assert_double_eq_tol(r.idte, 0.0, TOL);
	ck_assert_double_eq_tol(r.idd, 0.0, TOL);
	ck_assert_double_eq_tol(r.ie_eff, 0.0, TOL);
	ck_assert_double_eq_tol(r.r, 93.2062, TOL);
	ck_assert_double_eq_tol(r.mos, 4.4094, 0.001);
	/* the figure everyone quotes */
	ck_assert_double_eq_tol(round(r.r * 10) / 10, 93.2, 1e-9);
	ck_assert_double_eq_tol(round(r.mos * 100) / 100, 4.41, 1e-9);
}
END_TEST

/* G.711 with PLC (Ie 0, Bpl 25.1, G.113 Appendix I) at 1 % random loss (BurstR 1):
 *   Ie,eff = 0 + 95 × 1 / (1/1 + 25.1) = 95 / 26.1 = 3.6398
 *   R = 93.2062 - 3.6398 = 89.5664;  MOS = 1 + 3.13482 + 89.5664 × 29.5664 × 10.4336 × 7e-6 = 4.3282
 * Without PLC (Bpl 4.3): Ie,eff = 95 / 5.3 = 17.9245, R = 75.2817, MOS = 3.8339.
 * Bursty, 5 % loss with BurstR 2 and PLC: Ie,eff = 95 × 5 / (2.5 + 25.1) = 17.2101, R = 75.9961. */
START_TEST(g711_loss)
{
	struct emodel_input in;
	struct emodel_result r;

	emodel_defaults(&in);
	emodel_set_codec(&in, &codec_pcma, true);
	in.ppl = 1.0;
	ck_assert_int_eq(emodel_compute(&in, &r), 0);
	ck_assert_double_eq_tol(r.ie_eff, 3.6398, TOL);
	ck_assert_double_eq_tol(r.r, 89.5664, TOL);
	ck_assert_double_eq_tol(r.mos, 4.3282, 0.001);

	emodel_set_codec(&in, &codec_pcma, false);
	ck_assert_double_eq_tol(in.bpl, 4.3, 1e-9);
	ck_assert_int_eq(emodel_compute(&in, &r), 0);
	ck_assert_double_eq_tol(r.ie_eff, 17.9245, TOL);
	ck_assert_double_eq_tol(r.r, 75.2817, TOL);
	ck_assert_double_eq_tol(r.mos, 3.8339, 0.001);

	emodel_set_codec(&in, &codec_pcma, true);
	in.ppl = 5.0;
	in.burst_r = 2.0;
	ck_assert_int_eq(emodel_compute(&in, &r), 0);
	ck_assert_double_eq_tol(r.ie_eff, 17.2101, TOL);
	ck_assert_double_eq_tol(r.r, 75.9961, TOL);
}
END_TEST

/* Delay only, one-way 250 ms (T = Ta = 250, Tr = 500), otherwise defaults, no loss:
 *   STMRo = -10 log10(10^-1.5 + e^-62.5 × 10^-6.5) = 15.0000 → Is = 1.4136 (unchanged)
 *   TERV = 65 - 40 log10((1 + 25)/(1 + 1.6667)) + 6 e^(-0.3 × 250²) = 65 - 39.5602 = 25.4398
 *   Re = 80 + 2.5 (25.4398 - 14) = 108.5995; Roe = -1.5 (No - RLR) = 94.7688
 *   Idte = [(Roe - Re)/2 + √((Roe - Re)²/4 + 100) - 1] (1 - e^-250) = [-6.9154 + 12.1583 - 1] = 4.2429
 *   Rle = 10.5 × 117 × 501^(-1/4) = 259.6664 → Idle = (Ro - Rle)/2 + √((Ro - Rle)²/4 + 169) = 1.0186
 *   X = log2(250/100) = 1.3219 → Idd = 25 [(1 + X^6)^(1/6) - 3 (1 + (X/3)^6)^(1/6) + 2] = 8.9167
 *   Id = 14.1782;  R = 94.7688 - 1.4136 - 14.1782 = 79.1771;  MOS = 3.9925
 * At 150 ms: Id = 3.8161 (R 89.5391); at 300 ms: Id = 20.6889 (R 72.6664).  Past 177.3 ms the absolute-delay
 * term takes over: Cole & Rosenbluth's fit of this model, Id ≈ 0.024 d + 0.11 (d - 177.3) H(d - 177.3),
 * gives 14.00 at 250 and 20.70 at 300 (plus the 0.149 of Idle at d = 0), within half an R point. */
START_TEST(delay_above_177ms)
{
	struct emodel_input in;
	struct emodel_result r, r150, r300;
	double slope_low, slope_high;

	emodel_defaults(&in);
	emodel_set_codec(&in, &codec_pcmu, true);
	emodel_set_delay(&in, 250);
	ck_assert_double_eq_tol(in.tr, 500, 1e-9);
	ck_assert_int_eq(emodel_compute(&in, &r), 0);
	ck_assert_double_eq_tol(r.idte, 4.2429, TOL);
	ck_assert_double_eq_tol(r.idle, 1.0186, TOL);
	ck_assert_double_eq_tol(r.idd, 8.9167, TOL);
	ck_assert_double_eq_tol(r.id, 14.1782, TOL);
	ck_assert_double_eq_tol(r.r, 79.1771, TOL);
	ck_assert_double_eq_tol(r.mos, 3.9925, 0.001);

	emodel_set_delay(&in, 150);
	emodel_compute(&in, &r150);
	ck_assert_double_eq_tol(r150.id, 3.8161, TOL);
	emodel_set_delay(&in, 300);
	emodel_compute(&in, &r300);
	ck_assert_double_eq_tol(r300.id, 20.6889, TOL);
	ck_assert_double_eq_tol(r300.r, 72.6664, TOL);
	/* Id grows several times faster above 177.3 ms than below it */
	slope_low = (r150.id - 0.1490) / 150.0;
	slope_high = (r300.id - r.id) / 50.0;
	ck_assert_msg(slope_high > 4 * slope_low, "slopes %.4f / %.4f", slope_low, slope_high);
	for (double d = 0; d <= 400; d += 50) {
		double cr = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0) + 0.1490;

		emodel_set_delay(&in, d);
		emodel_compute(&in, &r);
		ck_assert_msg(fabs(r.id - cr) < (d <= 300 ? 1.1 : 3.5), "d=%g Id %.2f vs %.2f", d, r.id, cr);
	}
	/* the receive-side figure: network 100 + jitter buffer 60 + one 20 ms packet */
	ck_assert_double_eq_tol(emodel_one_way_delay_ms(100, 60, 20), 180, 1e-9);
}
END_TEST

START_TEST(r_to_mos_and_ranges)
{
	struct emodel_input in;
	struct emodel_result r;

	/* G.107 Annex B: 1 below R 0, 4.5 above 100; R 50 → 1 + 1.75 + 50 × -10 × 50 × 7e-6 = 2.575 */
	ck_assert_double_eq_tol(emodel_r_to_mos(-5), 1.0, 1e-12);
	ck_assert_double_eq_tol(emodel_r_to_mos(0), 1.0, 1e-12);
	ck_assert_double_eq_tol(emodel_r_to_mos(50), 2.575, 1e-12);
	ck_assert_double_eq_tol(emodel_r_to_mos(100), 4.5, 1e-12);
	ck_assert_double_eq_tol(emodel_r_to_mos(120), 4.5, 1e-12);
	/* R 80 → 1 + 2.8 + 80 × 20 × 20 × 7e-6 = 4.024 */
	ck_assert_double_eq_tol(emodel_r_to_mos(80), 4.024, 1e-12);
	/* the cubic would dip to 0.9888 near R 3.2; MOS never goes below 1, and rises strictly from R 6.5 on */
	ck_assert_double_eq_tol(emodel_r_to_mos(3.3), 1.0, 1e-12);
	for (double x = 0; x < 100; x += 0.5) {
		ck_assert(emodel_r_to_mos(x + 0.5) >= emodel_r_to_mos(x));
		if (x >= 6.5)
			ck_assert(emodel_r_to_mos(x + 0.5) > emodel_r_to_mos(x));
	}

	emodel_defaults(&in);
	in.ppl = -1;
	ck_assert_int_eq(emodel_compute(&in, &r), -EINVAL);
	emodel_defaults(&in);
	in.ppl = 101;
	ck_assert_int_eq(emodel_compute(&in, &r), -EINVAL);
	emodel_defaults(&in);
	in.t = -10;
	ck_assert_int_eq(emodel_compute(&in, &r), -EINVAL);
	emodel_defaults(&in);
	in.burst_r = 0;
	ck_assert_int_eq(emodel_compute(&in, &r), -EINVAL);
	emodel_defaults(&in);
	in.ta = NAN;
	ck_assert_int_eq(emodel_compute(&in, &r), -EINVAL);
	/* total loss drives R well below zero and MOS to 1 */
	emodel_defaults(&in);
	in.ppl = 100;
	emodel_set_delay(&in, 600);
	ck_assert_int_eq(emodel_compute(&in, &r), 0);
	ck_assert_double_eq_tol(r.mos, 1.0, 1e-12);
}
END_TEST

/* BurstR (G.107 §3.4): for a two-state loss model with p = P(lost | previous received) and
 * q = P(received | previous lost), BurstR = 1/(p + q); random loss has p + q = 1. */
START_TEST(burst_ratio)
{
	struct emodel_loss_stats s;

	ck_assert_double_eq_tol(emodel_burst_r(0.01, 0.99), 1.0, 1e-12);
	ck_assert_double_eq_tol(emodel_burst_r(0.02, 0.48), 2.0, 1e-12);
	ck_assert_double_eq_tol(emodel_burst_r(0, 0), 1.0, 1e-12);

	/* 1000 packets: 10 × (96 received, then 4 lost).  Transitions: each run of 96 has 95 rr inside (950); each
	 * burst of 4 has 3 ll inside (30); 10 received→lost edges; 9 lost→received edges (the stream ends lost).
	 *   p = rl / (rr + rl) = 10 / 960 = 0.010417; q = lr / (lr + ll) = 9 / (9 + 30) = 0.230769
	 *   BurstR = 1 / (p + q) = 4.1461; Ppl = 40 / 1000 = 4 % */
	emodel_loss_init(&s);
	for (int b = 0; b < 10; b++) {
		emodel_loss_add(&s, false, 96);
		emodel_loss_add(&s, true, 4);
	}
	ck_assert_uint_eq(s.rr, 950);
	ck_assert_uint_eq(s.rl, 10);
	ck_assert_uint_eq(s.lr, 9);
	ck_assert_uint_eq(s.ll, 30);
	ck_assert_double_eq_tol(emodel_loss_ppl(&s), 4.0, 1e-9);
	ck_assert_double_eq_tol(emodel_loss_burst_r(&s), 4.1461, 0.001);

	/* isolated single losses every 50 packets: q = 1, p = 1/49 → BurstR = 0.98, close to random */
	emodel_loss_init(&s);
	for (int b = 0; b < 20; b++) {
		emodel_loss_add(&s, false, 49);
		emodel_loss_add(&s, true, 1);
	}
	ck_assert_double_eq_tol(emodel_loss_ppl(&s), 2.0, 1e-9);
	ck_assert_double_eq_tol(emodel_loss_burst_r(&s), 1.0 / (20.0 / 980.0 + 1.0), 0.001);
}
END_TEST

static Suite *emodel_suite(void)
{
	Suite *s = suite_create("emodel");
	TCase *tc = tcase_create("g107");

	tcase_add_test(tc, default_connection);
	tcase_add_test(tc, g711_loss);
	tcase_add_test(tc, delay_above_177ms);
	tcase_add_test(tc, r_to_mos_and_ranges);
	tcase_add_test(tc, burst_ratio);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(emodel_suite());
}
