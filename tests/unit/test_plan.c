/* Test plans: every section and key type, defaults, cross-group checks, and each error naming FILE:LINE and key.
 * The shipped examples must all validate. */
#include <ctype.h>
#include <glob.h>
#include <string.h>

#include "config/config.h"
#include "check_main.h"
#include "testutil.h"

static struct cfg_plan plan; /* large: static */

START_TEST(full_plan)
{
	char err[CFG_ERR_MAX], csv[64];
	char text[4096];
	int rc;

	tu_write_temp(csv, sizeof(csv), "username,password\n# comment\nalice,pw1\nbob,pw2,Bob B\n\ncarol,pw3\n");
	snprintf(text, sizeof(text),
		 "[test]\nname = t1\nduration = 2m\ncall_duration = 1.5s\ncps = 12.5\nregister_rate = 40\n"
		 "setup_timeout = 20s\nmos_warning = 3.9\nloss_warning = 2%%\n"
		 "[group b]\nendpoints = 3\nrole = callee\naccounts = %s\nregistrar = pbx.test:5080\n"
		 "transport = TCP\nanswer = 486\nring_time = 250ms\nsrtp = mandatory\nregister_expires = 1h\n"
		 "100rel = required\nearly_media = yes\nkeepalive = 25s\n"
		 "[group a]\nendpoints = 2\ntarget = group:b\nregistrar = pbx.test\nusername = u{n}\npassword = p{n}\n"
		 "first_number = 100\ncodecs = opus, pcma,G722\nptime = 40\nmedia = tone:440\ndtmf = info\n"
		 "dtmf_digits = 12*#\ndscp = 34\nport_per_endpoint = yes\nlocal_port = 5070\n"
		 "[dataplane]\nmedia_ip = 10.0.0.5,10.0.0.6\nrtp_ports = 20001-20100\nvlan = 100\n"
		 "eal_args = --no-huge\n  --vdev=net_null0\n"
		 "[impairment]\nloss = 0.5%%\nburst_p = 1\nburst_r = 25%%\njitter = 15ms\nreorder = 1\nduplicate = 2%%\n"
		 "seed = 7\n",
		 csv);
	rc = cfg_plan_load_string(&plan, "full.ini", text, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_str_eq(plan.test.name, "t1");
	ck_assert_uint_eq(plan.test.duration_ms, 120000);
	ck_assert_uint_eq(plan.test.call_duration_ms, 1500);
	ck_assert_double_eq(plan.test.cps, 12.5);
	ck_assert_uint_eq(plan.test.setup_timeout_ms, 20000);
	ck_assert_double_eq(plan.test.loss_warning_pct, 2);
	ck_assert_uint_eq(plan.ngroups, 2);
	ck_assert_uint_eq(plan.total_endpoints, 5);

	ck_assert_str_eq(plan.groups[0].name, "b");
	ck_assert_int_eq(plan.groups[0].role, CFG_ROLE_CALLEE);
	ck_assert_uint_eq(plan.groups[0].accounts_rows, 3);
	ck_assert_int_eq(plan.groups[0].transport, CFG_TRANSPORT_TCP);
	ck_assert_uint_eq(plan.groups[0].answer_code, 486);
	ck_assert_uint_eq(plan.groups[0].ring_ms, 250);
	ck_assert_int_eq(plan.groups[0].srtp, CFG_SRTP_MANDATORY);
	ck_assert_uint_eq(plan.groups[0].register_expires_s, 3600);
	ck_assert_uint_eq(plan.groups[0].line, 10);

	ck_assert_int_eq(plan.groups[1].role, CFG_ROLE_CALLER); /* implied by a group target */
	ck_assert_int_eq(plan.groups[1].target_kind, CFG_TARGET_GROUP);
	ck_assert_int_eq(plan.groups[1].target_group, 0);
	ck_assert_uint_eq(plan.groups[1].ncodecs, 3);
	ck_assert_str_eq(plan.groups[1].codecs[0], "opus");
	ck_assert_str_eq(plan.groups[1].codecs[1], "PCMA");
	ck_assert_str_eq(plan.groups[1].codecs[2], "G722");
	ck_assert_uint_eq(plan.groups[1].ptime_ms, 40);
	ck_assert_int_eq(plan.groups[1].dtmf, CFG_DTMF_INFO);
	ck_assert_uint_eq(plan.groups[1].dscp, 34);
	ck_assert(plan.groups[1].port_per_endpoint);
	ck_assert_int_eq(plan.groups[0].rel100, CFG_100REL_REQUIRED);
	ck_assert(plan.groups[0].early_media);
	ck_assert_uint_eq(plan.groups[0].keepalive_ms, 25000);
	ck_assert_int_eq(plan.groups[1].rel100, CFG_100REL_OFF);
	ck_assert_uint_eq(plan.groups[1].keepalive_ms, 0);

	ck_assert_uint_eq(plan.dp.nmedia_ips, 2);
	ck_assert_str_eq(plan.dp.media_ips[1], "10.0.0.6");
	ck_assert_uint_eq(plan.dp.rtp_port_min, 20002); /* rounded up to even */
	ck_assert_uint_eq(plan.dp.rtp_port_max, 20100);
	ck_assert_uint_eq(plan.dp.vlan, 100);
	ck_assert_str_eq(plan.dp.eal_args, "--no-huge --vdev=net_null0");
	ck_assert_uint_eq(plan.dp.max_flows, 5);

	ck_assert(plan.imp.any);
	ck_assert_double_eq(plan.imp.loss_pct, 0.5);
	ck_assert_double_eq(plan.imp.burst_r_pct, 25);
	ck_assert_double_eq(plan.imp.burst_loss_pct, 100);
	ck_assert_uint_eq(plan.imp.jitter_ms, 15);
	ck_assert_uint_eq(plan.imp.seed, 7);
	unlink(csv);
}
END_TEST

START_TEST(defaults)
{
	char err[CFG_ERR_MAX];

	ck_assert_int_eq(cfg_plan_load_string(&plan, "/plans/min.ini", "[group g]\nendpoints = 4\n", err, sizeof(err)),
			 0);
	ck_assert_str_eq(plan.test.name, "min.ini");
	ck_assert_uint_eq(plan.test.duration_ms, 60000);
	ck_assert_int_eq(plan.groups[0].role, CFG_ROLE_CALLEE);
	ck_assert_str_eq(plan.groups[0].codecs[0], "PCMU");
	ck_assert_uint_eq(plan.groups[0].ptime_ms, 20);
	ck_assert_str_eq(plan.groups[0].media, "speech");
	ck_assert_uint_eq(plan.groups[0].dscp, 46);
	ck_assert_uint_eq(plan.groups[0].answer_code, 200);
	ck_assert(!plan.imp.any);
}
END_TEST

static const struct {
	const char *text;
	const char *expect; /* after "bad.ini:" */
} bad_plans[] = {
	{ "[test]\nduration = soon\n[group g]\nendpoints=1\n", "2: key 'duration': expected a duration" },
	{ "[test]\nduration = 0.5s\n[group g]\nendpoints=1\n", "2: key 'duration': expected a duration between 1 s" },
	{ "[test]\ncps = -1\n[group g]\nendpoints=1\n", "2: key 'cps': expected a number 0-100000, got '-1'" },
	{ "[test]\nbogus = 1\n", "2: key 'bogus': unknown key in [test]" },
	{ "[tests]\nname = x\n", "2: key 'name': unknown section [tests]" },
	{ "[test]\nname = a\n[test]\nduration = 5s\n", "3: section [test] appears twice (first on line 1)" },
	{ "[group]\nendpoints = 1\n", "1: section [group]: a group needs a name" },
	{ "[group a b]\nendpoints = 1\n", "1: section [group a b]: a group needs a name" },
	{ "[group a]\nendpoints = 1\n[group b]\nendpoints = 1\n\n[group a]\nrole = callee\n",
	  "6: group 'a' is defined twice (first on line 1)" },
	{ "[group a]\nendpoints = 0\n", "2: key 'endpoints': expected a whole number 1-1000000, got '0'" },
	{ "[group a]\nendpoints = 5\nendpoints = 6\n", "3: key 'endpoints': given twice in [group a] (first on line 2)" },
	{ "[group a]\nrole = callee\n", "1: key 'endpoints': [group a]: missing" },
	{ "[group a]\nendpoints = 1\nrole = boss\n", "3: key 'role': expected one of caller, callee, both, got 'boss'" },
	{ "[group a]\nendpoints = 1\ncodecs = PCMU, G729\n", "3: key 'codecs': unknown codec 'G729'" },
	{ "[group a]\nendpoints = 1\ncodecs = PCMU,pcmu\n", "3: key 'codecs': codec 'PCMU' listed twice" },
	{ "[group a]\nendpoints = 1\nptime = 5\n", "3: key 'ptime': expected a whole number 10-120" },
	{ "[group a]\nendpoints = 1\ncodecs = opus\nptime = 30\n", "4: key 'ptime': [group a]: opus does not allow" },
	{ "[group a]\nendpoints = 1\ncodecs = telephone-event\n", "3: key 'codecs': unknown codec 'telephone-event'" },
	{ "[group a]\nendpoints = 1\nrole = caller\n", "1: key 'target': [group a]: a caller group needs a target" },
	{ "[group a]\nendpoints = 1\nrole = both\n", "1: key 'target': [group a]: a both group needs a target" },
	{ "[group a]\nendpoints = 1\n\ntarget = group:nobody\n", "4: key 'target': [group a]: no group named 'nobody'" },
	{ "[group a]\nendpoints = 1\ntarget = group:a\n", "3: key 'target': [group a]: a group cannot call itself" },
	{ "[group a]\nendpoints = 1\ntarget = 12345\n", "3: key 'target': expected group:NAME, a SIP URI" },
	{ "[group a]\nendpoints = 1\nrole = caller\ntarget = external\n", "4: key 'target': [group a]: 'external'" },
	{ "[group a]\nendpoints = 2\nregistrar = pbx\n", "1: key 'username': [group a]: registering endpoints need" },
	{ "[group a]\nendpoints = 2\nusername = fixed\n", "3: key 'username': [group a]: with 2 endpoints the template" },
	{ "[group a]\nendpoints = 1\nregistrar = pbx:99999\nusername = u\n", "3: key 'registrar': [group a]: expected" },
	{ "[group a]\nendpoints = 1\naccounts = /nonexistent.csv\n", "3: key 'accounts': [group a]: cannot open" },
	{ "[group a]\nendpoints = 1\naccounts = /dev/zero\n", "3: key 'accounts': [group a]: accounts file /dev/zero is not" },
	{ "[group a]\nendpoints = 1\naccounts = /tmp\n", "3: key 'accounts': [group a]: accounts file /tmp is not" },
	{ "[group a]\nendpoints = 1\nlocal_ip = localhost\n", "3: key 'local_ip': [group a]: 'localhost' is not" },
	{ "[group a]\nendpoints = 10\nport_per_endpoint = yes\nlocal_port = 65530\n",
	  "4: key 'local_port': [group a]: port_per_endpoint needs" },
	{ "[group a]\nendpoints = 1\nport_per_endpoint = maybe\n", "3: key 'port_per_endpoint': expected yes or no" },
	{ "[group a]\nendpoints = 1\nsession_expires = 60s\n",
	  "3: key 'session_expires': [group a]: session_expires (60 s) is below min_se (90 s;" },
	{ "[group a]\nendpoints = 1\nmin_se = 500ms\n", "3: key 'min_se': " },
	{ "[group a]\nendpoints = 1\nkeepalive = 30s\n", "3: key 'keepalive': [group a]: CRLF keep-alives (RFC 5626) are for" },
	{ "[group a]\nendpoints = 1\ntransport = tls\nkeepalive = 500ms\n", "4: key 'keepalive': [group a]: at least 1s" },
	{ "[group a]\nendpoints = 1\n100rel = sometimes\n", "3: key '100rel': expected" },
	{ "[group a]\nendpoints = 1\ndtmf_digits = 12x\n", "3: key 'dtmf_digits': [group a]: only 0-9" },
	{ "[group a]\nendpoints = 1\nanswer = 250\n", "3: key 'answer': [group a]: 200, or a rejection" },
	{ "[group a]\nendpoints = 1\nmedia = tone:30000\n", "3: key 'media': [group a]: media 'tone:30000': tone:HZ" },
	{ "[group a]\nendpoints = 1\nmedia = dtmf:12x\n", "3: key 'media': [group a]: DTMF: 'x' is not a DTMF digit" },
	{ "[group a]\nendpoints = 1\nmedia = /no/such.wav\n", "3: key 'media': [group a]: /no/such.wav: No such file" },
	{ "[group a]\nendpoints = 1\ntls_verify = ca\n", "1: key 'tls_ca_file': [group a]: tls_verify = ca needs" },
	{ "[group a]\nendpoints = 1\ndscp = 64\n", "3: key 'dscp': expected a whole number 0-63" },
	{ "[group a]\nendpoints = 1\nname = x\n", "3: key 'name': unknown key in [group a]" },
	{ "[group a]\nendpoints = 1\n  2\n", "3: key 'endpoints': this key takes one line" },
	{ "[group a]\nendpoints = 1\n[dataplane]\nmedia_ip = 10.0.0.1, 10.0.0.300\n",
	  "4: key 'media_ip': '10.0.0.300' is not an IPv4 address" },
	{ "[group a]\nendpoints = 1\n[dataplane]\nrtp_ports = 5000\n", "4: key 'rtp_ports': expected LOW-HIGH" },
	{ "[group a]\nendpoints = 1\n[dataplane]\nrtp_ports = 900-2000\n", "4: key 'rtp_ports': expected LOW-HIGH" },
	{ "[group a]\nendpoints = 500\n[dataplane]\nrtp_ports = 20000-20100\n",
	  "4: key 'rtp_ports': 50 RTP ports on 1 media address(es) for 500 call legs" },
	{ "[group a]\nendpoints = 100000\n", "key 'rtp_ports': 25000 RTP ports on 1 media address(es) for 100000" },
	{ "[group a]\nendpoints = 30\nrole = both\ntarget = group:b\n[group b]\nendpoints = 1\n"
	  "[dataplane]\nrtp_ports = 20000-20119\n", "8: key 'rtp_ports': 60 RTP ports on 1 media address(es) for 61" },
	{ "[group a]\nendpoints = 1\n[impairment]\nloss = 101%\n", "4: key 'loss': expected a percentage 0-100" },
	{ "[group a]\nendpoints = 1\n[impairment]\nloss = lots\n", "4: key 'loss': expected a percentage" },
	{ "[group a]\nendpoints = 1\n[impairment]\nburst_p = 2%\n", "4: key 'burst_p': burst loss needs burst_r" },
	{ "[test]\nduration = 10s\nduration = 20s\n[group a]\nendpoints = 1\n",
	  "3: key 'duration': given twice in [test] (first on line 2)" },
	{ "[group a]\nendpoints = 1\n[dataplane]\nvlan = 1\n\nvlan = 2\n", "6: key 'vlan': given twice in [dataplane] (first on line 4)" },
	{ "[group a]\nendpoints = 1\n[dataplane]\neal_args = a\n  b\neal_args = c\n",
	  "6: key 'eal_args': given twice in [dataplane] (first on line 4)" },
	{ "[group a]\nendpoints = 1\n[impairment]\nloss = 1\nloss = 2\n", "5: key 'loss': given twice in [impairment]" },
	{ "[group a]\nendpoints = 1\n[impairment]\njitter = 20 ms\n", "4: key 'jitter': expected a duration" },
	{ "[group b]\nendpoints = 1\n[group a]\nendpoints = 1\ntarget = group:b\nhold_at = 2s\n",
	  "6: key 'hold_at': [group a]: hold_at needs hold_for" },
	{ "[group b]\nendpoints = 1\n[group a]\nendpoints = 1\ntarget = group:b\nhold_for = 2s\n",
	  "6: key 'hold_for': [group a]: hold_for needs hold_at" },
	{ "[group a]\nendpoints = 1\nhold_mode = inactive\n", "3: key 'hold_mode': [group a]: hold_mode needs hold_at" },
	{ "[group a]\nendpoints = 1\nhold_at = 1s\nhold_for = 1s\n", "3: key 'hold_at': [group a]: only groups that place" },
	{ "[group b]\nendpoints = 1\n[group a]\nendpoints = 1\ntarget = group:b\nhold_at = 6s\nhold_for = 4s\n",
	  "7: key 'hold_for': [group a]: the hold (hold_at 6 s + hold_for 4 s) must end before the call does "
	  "(call_duration 10 s)" },
	{ "[group a]\nendpoints = 1\nhold_for = 50ms\n", "3: key 'hold_for': expected a duration between 0.1 s" },
	{ "[group a]\nendpoints = 1\nhold_mode = mute\n", "3: key 'hold_mode': expected one of sendonly, inactive" },
	{ "[test]\nname = x\n", "the plan has no [group NAME] section" },
	{ "[group a]\nendpoints = 600000\n[group b]\nendpoints = 600000\n", "endpoints in all; a plan holds at most 1000000" },
	{ "[group a]\nendpoints 1\n", "2: syntax error" },
};

/* Hold from our side: the three keys, the call duration of the group winning over the plan's. */
START_TEST(hold_keys)
{
	char err[CFG_ERR_MAX];

	ck_assert_msg(cfg_plan_load_string(&plan, "h.ini", "[test]\ncall_duration = 5s\n[group b]\nendpoints = 1\n"
					   "[group a]\nendpoints = 1\ntarget = group:b\ncall_duration = 30s\n"
					   "hold_at = 10s\nhold_for = 15s\nhold_mode = inactive\n", err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(plan.groups[1].hold_at_ms, 10000);
	ck_assert_uint_eq(plan.groups[1].hold_for_ms, 15000);
	ck_assert_int_eq(plan.groups[1].hold_mode, CFG_HOLD_INACTIVE);
	ck_assert_uint_eq(plan.groups[0].hold_for_ms, 0); /* never */
	ck_assert_msg(cfg_plan_load_string(&plan, "h.ini", "[group b]\nendpoints = 1\n[group a]\nendpoints = 1\n"
					   "role = both\ntarget = group:b\nhold_at = 0\nhold_for = 500ms\n", err,
					   sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(plan.groups[1].hold_mode, CFG_HOLD_SENDONLY);
	ck_assert_uint_eq(plan.groups[1].hold_at_ms, 0);
}
END_TEST

START_TEST(bad_plan_names_line_and_key)
{
	char err[CFG_ERR_MAX], want[CFG_ERR_MAX];

	ck_assert_int_lt(cfg_plan_load_string(&plan, "bad.ini", bad_plans[_i].text, err, sizeof(err)), 0);
	if (isdigit((unsigned char)bad_plans[_i].expect[0])) {
		snprintf(want, sizeof(want), "bad.ini:%s", bad_plans[_i].expect);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "case %d: want '%s...', got '%s'", _i, want, err);
	} else {
		ck_assert_msg(strstr(err, bad_plans[_i].expect), "case %d: want '...%s...', got '%s'", _i,
			      bad_plans[_i].expect, err);
	}
	/* nothing half-loaded */
	ck_assert_uint_eq(plan.ngroups, 0);
	ck_assert_uint_eq(plan.total_endpoints, 0);
}
END_TEST

/* Found by fuzz_plan: a header indented with a character libinih counts as white space (\v) was a section to
 * libinih but not to our reader, and the group was indexed before it existed. */
START_TEST(headers_indented_with_any_white_space)
{
	char err[CFG_ERR_MAX];

	ck_assert_msg(cfg_plan_load_string(&plan, "v.ini", "\v[group a]\nendpoints = 2\n[group b]\n\fendpoints = 3\n",
					   err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(plan.ngroups, 2);
	ck_assert_str_eq(plan.groups[1].name, "b");
	ck_assert_uint_eq(plan.total_endpoints, 5);
	/* after a key, an indented line continues it, as libinih reads it, even when it looks like a header */
	ck_assert_int_lt(cfg_plan_load_string(&plan, "v.ini", "[group a]\nendpoints = 2\n\v[group b]\nrole = callee\n",
					      err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "v.ini:3: key 'endpoints': this key takes one line"), "%s", err);
}
END_TEST

START_TEST(bad_accounts_csv_line)
{
	char err[CFG_ERR_MAX], csv[64], text[256];

	tu_write_temp(csv, sizeof(csv), "a,1\nb,2\nnocomma\n");
	snprintf(text, sizeof(text), "[group a]\nendpoints = 2\naccounts = %s\n", csv);
	ck_assert_int_eq(cfg_plan_load_string(&plan, "p.ini", text, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "p.ini:3: key 'accounts': [group a]: ") && strstr(err, ":3: expected 'username,"),
		      "%s", err);
	tu_write_temp(csv, sizeof(csv), "a,1\n");
	snprintf(text, sizeof(text), "[group a]\nendpoints = 2\naccounts = %s\n", csv);
	ck_assert_int_eq(cfg_plan_load_string(&plan, "p.ini", text, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "has 1 accounts for 2 endpoints"), "%s", err);
	unlink(csv);
}
END_TEST

static const struct {
	const char *in;
	int rc;
	uint32_t ms;
} durations[] = {
	{ "20s", 0, 20000 }, { "20", 0, 20000 }, { "1.5s", 0, 1500 }, { "250ms", 0, 250 }, { "2m", 0, 120000 },
	{ "2min", 0, 120000 }, { "1h", 0, 3600000 }, { "0", 0, 0 }, { "", -EINVAL, 0 }, { "s", -EINVAL, 0 },
	{ "-1s", -EINVAL, 0 }, { "5 s", -EINVAL, 0 }, { "3d", -EINVAL, 0 }, { "2000h", -ERANGE, 0 },
};

START_TEST(duration_parsing)
{
	uint32_t ms = 0;
	int rc = cfg_parse_duration_ms(durations[_i].in, &ms);

	ck_assert_msg(rc == durations[_i].rc, "'%s': rc %d", durations[_i].in, rc);
	if (rc == 0)
		ck_assert_uint_eq(ms, durations[_i].ms);
}
END_TEST

START_TEST(templates)
{
	char out[16];

	ck_assert_int_eq(cfg_expand_template("user{n}", 1007, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "user1007");
	ck_assert_int_eq(cfg_expand_template("{n}-{n}", 5, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "5-5");
	ck_assert_int_eq(cfg_expand_template("{x}", 5, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "{x}");
	ck_assert_int_eq(cfg_expand_template("abcdefghijkl{n}", 123456, out, sizeof(out)), -ENAMETOOLONG);
}
END_TEST

/* A gateway part: which endpoints are here, and where the others' SIP sockets are. */
START_TEST(fleet_part_endpoints_and_remote_addresses)
{
	char err[CFG_ERR_MAX];
	const char *ip = NULL;
	uint16_t port = 0;

	ck_assert_msg(cfg_plan_load_string(&plan, "f.ini", "[group a]\nendpoints = 10\nrole = callee\n"
				      "[group b]\nendpoints = 6\nrole = caller\ntarget = group:a\n", err, sizeof(err)) == 0,
		      "%s", err);
	for (uint32_t ep = 0; ep < 16; ep++)
		ck_assert(cfg_plan_ep_here(&plan, ep)); /* no part: the whole plan */
	plan.fleet = (struct cfg_fleet){ .on = true, .group = 1, .first = 2, .count = 3 };
	for (uint32_t ep = 0; ep < 16; ep++)
		ck_assert_msg(cfg_plan_ep_here(&plan, ep) == (ep >= 12 && ep < 15), "endpoint %u", ep);
	plan.fleet.remote[0] = (struct cfg_fleet_remote){ .first = 0, .count = 4, .ip = "10.0.0.1", .port = 5061 };
	plan.fleet.remote[1] = (struct cfg_fleet_remote){ .first = 4, .count = 6, .ip = "10.0.0.2", .port = 5062 };
	plan.fleet.nremote = 2;
	ck_assert_int_eq(cfg_plan_remote_addr(&plan, 3, &ip, &port), 0);
	ck_assert_str_eq(ip, "10.0.0.1");
	ck_assert_uint_eq(port, 5061);
	ck_assert_int_eq(cfg_plan_remote_addr(&plan, 4, &ip, &port), 0);
	ck_assert_str_eq(ip, "10.0.0.2");
	ck_assert_int_eq(cfg_plan_remote_addr(&plan, 9, &ip, &port), 0);
	ck_assert_uint_eq(port, 5062);
	ck_assert_int_eq(cfg_plan_remote_addr(&plan, 10, &ip, &port), -ENOENT); /* group b: nobody reported it */
	ck_assert_int_eq(cfg_plan_remote_addr(&plan, 99, &ip, &port), -ENOENT);
}
END_TEST

START_TEST(shipped_examples_validate)
{
	char pattern[512], err[CFG_ERR_MAX];
	const char *src = getenv("CALLMETER_SRC");
	glob_t g;

	snprintf(pattern, sizeof(pattern), "%s/config/examples/*.ini", src ? src : ".");
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
	ck_assert_uint_ge(g.gl_pathc, 3);
	for (size_t i = 0; i < g.gl_pathc; i++)
		ck_assert_msg(cfg_plan_load(&plan, g.gl_pathv[i], err, sizeof(err)) == 0, "%s", err);
	globfree(&g);
}
END_TEST

static Suite *plan_suite(void)
{
	Suite *s = suite_create("plan");
	TCase *tc = tcase_create("plan");

	tcase_add_test(tc, full_plan);
	tcase_add_test(tc, fleet_part_endpoints_and_remote_addresses);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, hold_keys);
	tcase_add_loop_test(tc, bad_plan_names_line_and_key, 0, (int)CM_ARRAY_SIZE(bad_plans));
	tcase_add_test(tc, bad_accounts_csv_line);
	tcase_add_test(tc, headers_indented_with_any_white_space);
	tcase_add_loop_test(tc, duration_parsing, 0, (int)CM_ARRAY_SIZE(durations));
	tcase_add_test(tc, templates);
	tcase_add_test(tc, shipped_examples_validate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(plan_suite());
}
