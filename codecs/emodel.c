/* ITU-T G.107 (06/2015) E-model: R = Ro − Is − Id − Ie,eff + A (§3), and R → MOS (Annex B).  Every term is
 * computed from the Table 1 parameters rather than a pre-folded constant, so changing a default (a noisier
 * room, a louder echo) changes R the way G.107 says it should. */
#include <errno.h>
#include <math.h>

#include "codecs/codecs.h"

void emodel_defaults(struct emodel_input *in)
{
	/* G.107 Table 1 default values */
	*in = (struct emodel_input){
		.slr = 8, .rlr = 2, .stmr = 15, .lstr = 18, .ds = 3, .dr = 3, .telr = 65, .wepl = 110,
		.qdu = 1, .nc = -70, .nfor = -64, .ps = 35, .pr = 35, .a = 0,
		.t = 0, .tr = 0, .ta = 0,
		.ie = 0, .bpl = 4.3, .ppl = 0, .burst_r = 1,
	};
}

void emodel_set_delay(struct emodel_input *in, double one_way_ms)
{
	in->t = one_way_ms;
	in->ta = one_way_ms;
	in->tr = 2 * one_way_ms;
}

void emodel_set_codec(struct emodel_input *in, const struct codec_ops *ops, bool plc)
{
	in->ie = ops->ie;
	in->bpl = plc && ops->has_plc ? ops->bpl : ops->bpl_no_plc;
}

double emodel_one_way_delay_ms(double network_ms, double jitter_buffer_ms, double ptime_ms)
{
	return network_ms + jitter_buffer_ms + ptime_ms;
}

double emodel_r_to_mos(double r)
{
	if (r < 0)
		return 1.0;
	if (r > 100)
		return 4.5;
	/* The cubic dips just below 1 for 0 < R < 6.5 (its minimum is 0.9888 at R ≈ 3.2); MOS has no values
	 * below 1, so those are reported as 1. */
	return fmax(1.0, 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6);
}

static double p10(double x)
{
	return pow(10.0, x);
}

/* §3.3 Idd: delay impairment from the absolute delay Ta, zero up to mT = 100 ms (sT = 1). */
static double idd(double ta)
{
	double x;

	if (ta <= 100.0)
		return 0.0;
	x = log10(ta / 100.0) / log10(2.0);
	return 25.0 * (pow(1.0 + pow(x, 6), 1.0 / 6) - 3.0 * pow(1.0 + pow(x / 3.0, 6), 1.0 / 6) + 2.0);
}

int emodel_compute(const struct emodel_input *in, struct emodel_result *out)
{
	double olr, nfo, pre, nor, nos, no, ro, xolr, iolr, stmro, ist, q, g, y, z, iq, is, roe, terv, re, idte, rle,
		idle, d_dd, ie_eff;

	if (in->t < 0 || in->tr < 0 || in->ta < 0 || in->t > 1e5 || in->tr > 1e5 || in->ta > 1e5 ||
	    in->ppl < 0 || in->ppl > 100 || in->bpl <= 0 || in->burst_r <= 0 || in->qdu < 1 || in->ie < 0 ||
	    in->ie > 95 || isnan(in->t + in->tr + in->ta + in->ppl + in->bpl + in->burst_r + in->ie))
		return -EINVAL;

	/* §3.1 basic signal-to-noise ratio Ro */
	olr = in->slr + in->rlr;
	nfo = in->nfor + in->rlr;
	pre = in->pr + 10.0 * log10(1.0 + p10((10.0 - in->lstr) / 10.0));
	nor = in->rlr - 121.0 + pre + 0.008 * (pre - 35.0) * (pre - 35.0);
	nos = in->ps - in->slr - in->ds - 100.0 + 0.004 * pow(in->ps - olr - in->ds - 14.0, 2);
	no = 10.0 * log10(p10(in->nc / 10.0) + p10(nos / 10.0) + p10(nor / 10.0) + p10(nfo / 10.0));
	ro = 15.0 - 1.5 * (in->slr + no);

	/* §3.2 simultaneous impairment Is = Iolr + Ist + Iq */
	xolr = olr + 0.2 * (64.0 + no - in->rlr);
	iolr = 20.0 * (pow(1.0 + pow(xolr / 8.0, 8), 1.0 / 8) - xolr / 8.0);
	stmro = -10.0 * log10(p10(-in->stmr / 10.0) + exp(-in->t / 4.0) * p10(-in->telr / 10.0));
	ist = 12.0 * pow(1.0 + pow((stmro - 13.0) / 6.0, 8), 1.0 / 8) -
	      28.0 * pow(1.0 + pow((stmro + 1.0) / 19.4, 35), 1.0 / 35) -
	      13.0 * pow(1.0 + pow((stmro - 3.0) / 33.0, 13), 1.0 / 13) + 29.0;
	q = 37.0 - 15.0 * log10(in->qdu);
	g = 1.07 + 0.258 * q + 0.0602 * q * q;
	y = (ro - 100.0) / 15.0 + 46.0 / 8.4 - g / 9.0;
	z = 46.0 / 30.0 - g / 40.0;
	iq = 15.0 * log10(1.0 + p10(y) + p10(z));
	is = iolr + ist + iq;

	/* §3.3 delay impairment Id = Idte (talker echo) + Idle (listener echo) + Idd (absolute delay) */
	roe = -1.5 * (no - in->rlr);
	terv = in->telr - 40.0 * log10((1.0 + in->t / 10.0) / (1.0 + in->t / 150.0)) + 6.0 * exp(-0.3 * in->t * in->t);
	if (in->stmr < 9.0)
		terv += ist / 2.0; /* TERVs: side-tone masks echo */
	re = 80.0 + 2.5 * (terv - 14.0);
	idte = ((roe - re) / 2.0 + sqrt((roe - re) * (roe - re) / 4.0 + 100.0) - 1.0) * (1.0 - exp(-in->t));
	rle = 10.5 * (in->wepl + 7.0) * pow(in->tr + 1.0, -0.25);
	idle = (ro - rle) / 2.0 + sqrt((ro - rle) * (ro - rle) / 4.0 + 169.0);
	d_dd = idd(in->ta);

	/* §3.4 effective equipment impairment with random (BurstR = 1) or bursty loss */
	ie_eff = in->ie + (95.0 - in->ie) * in->ppl / (in->ppl / in->burst_r + in->bpl);

	*out = (struct emodel_result){
		.ro = ro, .is = is, .idte = idte, .idle = idle, .idd = d_dd, .id = idte + idle + d_dd,
		.ie_eff = ie_eff,
	};
	out->r = ro - is - out->id - ie_eff + in->a;
	out->mos = emodel_r_to_mos(out->r);
	return 0;
}

double emodel_burst_r(double p, double q)
{
	if (p <= 0 || p + q <= 0)
		return 1.0;
	return 1.0 / (p + q);
}

void emodel_loss_init(struct emodel_loss_stats *s)
{
	*s = (struct emodel_loss_stats){ .last = -1 };
}

void emodel_loss_add(struct emodel_loss_stats *s, bool lost, uint64_t count)
{
	if (count == 0)
		return;
	if (s->last >= 0) {
		if (s->last)
			*(lost ? &s->ll : &s->lr) += 1;
		else
			*(lost ? &s->rl : &s->rr) += 1;
	}
	*(lost ? &s->ll : &s->rr) += count - 1;
	s->last = lost;
	s->total += count;
	if (lost)
		s->lost += count;
}

double emodel_loss_ppl(const struct emodel_loss_stats *s)
{
	return s->total ? 100.0 * (double)s->lost / (double)s->total : 0.0;
}

double emodel_loss_burst_r(const struct emodel_loss_stats *s)
{
	double p = s->rr + s->rl ? (double)s->rl / (double)(s->rr + s->rl) : 0.0;
	double q = s->lr + s->ll ? (double)s->lr / (double)(s->lr + s->ll) : 1.0;

	return emodel_burst_r(p, q);
}
