/* TX benchmark: one dataplane lcore on net_null sending G.711 (160-byte payload, 214-byte frames) for 100,000
 * flows through the timing wheel, frame cache copy, RTP/UDP/IPv4 build and checksums.
 *   1. paced: ptime 20 ms (5 Mpps offered) — achieved rate and pacing error |actual − scheduled| p50/p99/max;
 *   2. saturated: the same flows at ptime 1 ms (100 Mpps offered) — the lcore's capacity;
 * then dpdk-testpmd --forward-mode=txonly with the same frame size on the same vdev and core, in the same run.
 * Both sides are one-second readings given by the same statistic (the best second; the median second too), also
 * per CPU-second of each side's lcore thread (the machine is shared: the raw ratio also measures who got the
 * CPU).  Final line: BENCH dp_tx_mpps <capacity> Mpps ratio=<capacity / testpmd> ref=testpmd-txonly-214B-....
 * For profiling: BENCH_DP_TX_SATURATED=N runs only the saturated phase, for N seconds, one line per second
 * (attach `perf record -t <tid of rte-worker-1>` meanwhile), and no testpmd; BENCH_DP_TX_FLOWS=N (at most
 * 100,000) sends from N flows instead (whether the flow state fits the cache). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include <rte_cycles.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane.h"

#define FLOWS 100000
#define NFRAMES 50
#define MEDIA_IP 0x0a000001u

static uint8_t data[NFRAMES * 160];
static struct codec_frame frames[NFRAMES];
static struct codec_frame_cache cache = {
	.codec_name = "PCMU", .payload_type = 0, .clock_rate = 8000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = frames, .data = data, .data_len = sizeof(data),
};

static void add_flows(uint32_t nflows, uint16_t ptime)
{
	struct dp_flow_params p = { .local_ip = MEDIA_IP, .remote_ip = 0x0a000002u, .dir = DP_FLOW_SEND,
				    .payload_type = -1, .cache = &cache, .ptime_ms = ptime, .dscp = 46,
				    .remote_mac = { 2, 0, 0, 0, 0, 2 } };

	for (uint32_t f = 0; f < nflows; f++) {
		p.local_port = (uint16_t)(1024 + f % 60000);
		p.remote_port = p.local_port;
		p.ssrc = f;
		while (dp_flow_add(f, &p) == -ENOBUFS)
			usleep(100);
	}
	while (!dp_commands_done())
		usleep(1000);
}

/* CPU time (clock ticks) of process pid's DPDK worker lcore thread: how much of a CPU it actually got on a
 * shared machine explains the pacing tail, and puts both sides of the testpmd ratio on the same footing. */
static long lcore_cpu_ticks_of(int pid)
{
	char dir[64];
	DIR *d;
	struct dirent *e;
	long ticks = -1;

	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		char path[300], comm[64] = "", stat[1024];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s/comm", dir, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f) || !strstr(comm, "worker-") /* DPDK 22.11: rte-worker-N */) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
		f = fopen(path, "r");
		if (f && fgets(stat, sizeof(stat), f)) {
			char *p = strrchr(stat, ')');
			long ut = 0, st = 0;
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) == 2)
				ticks = ut + st;
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return ticks;
}

static long lcore_cpu_ticks(void)
{
	return lcore_cpu_ticks_of(getpid());
}

/* How often our lcore thread was preempted (involuntary context switches) and how long it waited to run (ns,
 * /proc schedstat): every such pause delays the packets due meanwhile, and at 100k flows 5 packets fall due per
 * microsecond, so the pacing tail counts the machine's pauses as much as the dataplane's own work. */
static void lcore_sched(long *preempted, unsigned long long *wait_ns)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	*preempted = -1;
	*wait_ns = 0;
	while (d && (e = readdir(d))) {
		char path[300], comm[64] = "", line[256];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f) || !strstr(comm, "worker-")) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "nonvoluntary_ctxt_switches: %ld", preempted) == 1)
				break;
		if (f)
			fclose(f);
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", e->d_name);
		f = fopen(path, "r");
		if (f && fscanf(f, "%*u %llu", wait_ns) != 1)
			*wait_ns = 0;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
}

static double cpu_share;

/* The reference for the pacing figures, measured meanwhile: a perfect pacer on the other CPU (the main lcore's,
 * lcore 0), a bare loop that reads the TSC and "sends" a packet stream at the paced phase's rate, each packet at
 * the first reading at or after its due time, and counts the error in the dataplane's buckets.  It does no work
 * per packet, so its error is the machine's alone: any loop loses the time of a pause (timer ticks, the
 * hypervisor, other processes), and the packets due meanwhile go out late by up to its length.  It also counts
 * the pauses (gaps between two readings of 2 µs and more). */
struct ref_pacer {
	double pps;
	int stop;
	struct dp_pacing err;
	uint64_t pauses[4], paused_us;
};

static void *ref_pacer_run(void *arg)
{
	struct ref_pacer *r = arg;
	uint64_t hz = rte_get_tsc_hz(), prev = rte_rdtsc(), next = prev;
	uint64_t every = r->pps > 0 ? (uint64_t)((double)hz / r->pps) : UINT64_MAX / 2;
	double ns_per_tick = 1e9 / (double)hz;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		uint64_t t = rte_rdtsc(), us = (t - prev) * 1000000 / hz;

		if (us >= 2) {
			r->pauses[us < 10 ? 0 : us < 100 ? 1 : us < 1000 ? 2 : 3]++;
			r->paused_us += us;
		}
		for (; next <= t; next += every)
			dp_pacing_add(&r->err, (uint64_t)((double)(t - next) * ns_per_tick));
		prev = t;
	}
	return NULL;
}

static void ref_pacer_start(struct ref_pacer *r, pthread_t *th, double pps)
{
	memset(r, 0, sizeof(*r));
	r->pps = pps;
	if (pthread_create(th, NULL, ref_pacer_run, r) != 0) {
		fprintf(stderr, "bench_dp_tx: cannot start the reference pacer\n");
		exit(1);
	}
}

static void ref_pacer_stop(struct ref_pacer *r, pthread_t th, double seconds)
{
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	printf("machine: meanwhile a bare TSC loop on the CPU of lcore 0 paused %llu times 2-10 us, %llu times 10-100 "
	       "us, %llu times 0.1-1 ms, %llu times over 1 ms in %.0f s (%.1f ms in all)\n",
	       (unsigned long long)r->pauses[0], (unsigned long long)r->pauses[1], (unsigned long long)r->pauses[2],
	       (unsigned long long)r->pauses[3], seconds, r->paused_us / 1e3);
}

static double tx_rate(double seconds)
{
	uint64_t p0, p1, b, nm, rf, t0, t1;
	long c0 = lcore_cpu_ticks(), c1;

	dp_tx_totals(&p0, &b, &nm, &rf);
	t0 = cm_now_us();
	usleep((useconds_t)(seconds * 1e6));
	dp_tx_totals(&p1, &b, &nm, &rf);
	t1 = cm_now_us();
	c1 = lcore_cpu_ticks();
	cpu_share = c0 >= 0 && c1 >= 0 ? (double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK) / ((t1 - t0) / 1e6) : -1;
	return (double)(p1 - p0) / (double)(t1 - t0);
}

/* One-second readings of a TX rate (Mpps), raw and per CPU-second of the lcore thread (seconds where it had
 * under half a CPU are not counted in the latter), and the statistics both sides of the ratio are given by:
 * the best second and the median second. */
#define READINGS_MAX 16
struct readings {
	double raw[READINGS_MAX], cpu[READINGS_MAX];
	unsigned nraw, ncpu;
};

static void reading_add(struct readings *r, double mpps, double share)
{
	if (r->nraw < READINGS_MAX)
		r->raw[r->nraw++] = mpps;
	if (share >= 0.5 && r->ncpu < READINGS_MAX)
		r->cpu[r->ncpu++] = mpps / (share > 1 ? 1 : share);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* best (pct 100) or median (pct 50) of n values; 0 for none */
static double stat_of(const double *v, unsigned n, int pct)
{
	double s[READINGS_MAX];

	if (!n)
		return 0;
	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return pct == 100 ? s[n - 1] : n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* testpmd's one-second Tx-pps readings over ~9 s into r, in Mpps (its first, partial second left out); false if
 * it could not run. */
static bool testpmd_txonly(struct readings *r)
{
	int fds[2], pid;
	FILE *p;
	char line[512];
	long c_prev = -1;
	uint64_t t_prev = 0;
	unsigned seen = 0;

	memset(r, 0, sizeof(*r));
	if (pipe(fds) != 0)
		return false;
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execlp("timeout", "timeout", "-s", "INT", "10", "dpdk-testpmd", "--no-huge", "--no-shconf", "-m", "1024",
		       "--no-pci", "--vdev=net_null0", "-l", "0,1", "--file-prefix=cm_bench_testpmd", "--",
		       "--forward-mode=txonly", "--txpkts=214", "--stats-period=1", "--nb-cores=1", "--auto-start",
		       "--total-num-mbufs=16384", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	p = fdopen(fds[0], "r");
	while (p && fgets(line, sizeof(line), p)) {
		double pps;

		if (sscanf(line, " Tx-pps: %lf", &pps) != 1)
			continue;
		/* timeout's child is testpmd: its pid is the one whose worker thread we read */
		char path[64];
		FILE *cf;
		int tpid = -1;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
		cf = fopen(path, "r");
		if (cf) {
			if (fscanf(cf, "%d", &tpid) != 1)
				tpid = -1;
			fclose(cf);
		}
		long c = tpid > 0 ? lcore_cpu_ticks_of(tpid) : -1;
		uint64_t t = cm_now_us();

		/* the first reading covers testpmd's start (0, or a part of a second): left out */
		if (seen++ && pps > 0 && c >= 0 && c_prev >= 0 && t > t_prev)
			reading_add(r, pps / 1e6,
				    (double)(c - c_prev) / (double)sysconf(_SC_CLK_TCK) / ((t - t_prev) / 1e6));
		c_prev = c;
		t_prev = t;
	}
	if (p)
		fclose(p);
	waitpid(pid, NULL, 0);
	return r->nraw > 0;
}

int main(void)
{
	char err[DP_ERR_MAX];
	struct dp_config cfg;
	struct dp_port_info info;
	struct dp_pacing a, b;
	double paced, sat, ref;

	for (unsigned i = 0; i < NFRAMES; i++)
		frames[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = 160 };
	memset(data, 0xff, sizeof(data));
	cm_log_setup(CM_LOG_WARN, CM_LOG_PRETTY, stderr);
	if (dp_eal_init("bench_dp_tx", "--no-huge --no-shconf -m 512 --no-pci --vdev=net_null0,no-rx=1 -l 0,1 "
			"--file-prefix=cm_bench_dp_tx --log-level=error", err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	dp_config_default(&cfg);
	cfg.max_flows = FLOWS;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.ring_size = 1 << 17;
	if (dp_configure(&cfg, err, sizeof(err)) < 0 || dp_start("net_null0", &info, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	const char *sat_only = getenv("BENCH_DP_TX_SATURATED");
	if (sat_only) {
		const char *nf = getenv("BENCH_DP_TX_FLOWS");
		add_flows(nf && atoi(nf) > 0 && atoi(nf) < FLOWS ? (uint32_t)atoi(nf) : FLOWS, 1);
		usleep(500000);
		for (int s = atoi(sat_only); s > 0; s--) {
			double r = tx_rate(1.0);
			printf("saturated: %.3f Mpps, %.3f Mpps per CPU-second (%.0f%% of a CPU)\n", r,
			       cpu_share > 0 ? r / cpu_share : 0, cpu_share * 100);
			fflush(stdout);
		}
		dp_stop();
		dp_eal_cleanup();
		return 0;
	}
	/* Pacing where the lcore has headroom (10k flows, 0.5 Mpps), then at 100k flows (5 Mpps). */
	for (uint32_t nflows = 10000; nflows <= FLOWS; nflows *= 10) {
		add_flows(nflows, 20);
		usleep(1000000); /* every flow has had its first packet */
		long pre0, pre1;
		unsigned long long wait0, wait1;
		struct ref_pacer ref_pacer;
		pthread_t ref_th;

		lcore_sched(&pre0, &wait0);
		ref_pacer_start(&ref_pacer, &ref_th, nflows / 20e-3);
		dp_pacing_get(&a);
		paced = tx_rate(3.0);
		dp_pacing_get(&b);
		ref_pacer_stop(&ref_pacer, ref_th, 3.0);
		lcore_sched(&pre1, &wait1);
		for (unsigned i = 0; i < DP_PACING_BUCKETS; i++)
			b.hist[i] -= a.hist[i];
		b.count -= a.count;
		printf("paced: %u flows at 20 ms (%.2f Mpps offered): %.3f Mpps sent; pacing error p50 %.1f us, "
		       "p99 %.1f us, max %.1f us (%llu packets); the lcore thread got %.0f%% of a CPU\n", nflows,
		       nflows / 20e3, paced, dp_pacing_percentile(&b, 50) / 1e3, dp_pacing_percentile(&b, 99) / 1e3,
		       dp_pacing_percentile(&b, 100) / 1e3, (unsigned long long)b.count, cpu_share * 100);
		printf("paced: %u flows: the lcore thread was preempted %ld times in those 3 s and waited %.1f ms to run\n",
		       nflows, pre1 - pre0, (double)(wait1 - wait0) / 1e6);
		double p99 = dp_pacing_percentile(&b, 99) / 1e3, ref99 = dp_pacing_percentile(&ref_pacer.err, 99) / 1e3;

		printf("paced: %u flows: the reference (a perfect pacer at the same rate on the other CPU, meanwhile): "
		       "p50 %.1f us, p99 %.1f us, max %.1f us\n", nflows,
		       dp_pacing_percentile(&ref_pacer.err, 50) / 1e3, ref99,
		       dp_pacing_percentile(&ref_pacer.err, 100) / 1e3);
		printf("BENCH dp_tx_pacing_p99_%uk_flows %.2f us ratio=%.2f ref=perfect-pacer-same-rate-p99-%.2fus\n",
		       nflows / 1000, p99, p99 / ref99, ref99);
		printf("BENCH dp_tx_paced_%uk_flows_mpps %.3f Mpps ratio=%.3f ref=offered-load\n", nflows / 1000, paced,
		       paced / (nflows / 20e3));
		for (uint32_t f = 0; f < nflows; f++)
			while (dp_flow_delete(f) == -ENOBUFS)
				usleep(100);
	}
	/* Saturated: one-second readings, as testpmd's are taken, so that both sides of the ratio are the same
	 * statistic of the same kind of reading (the best second; the median is printed too). */
	struct readings ours = { 0 }, theirs;

	add_flows(FLOWS, 1);
	usleep(500000);
	for (unsigned i = 0; i < 6; i++) {
		double r = tx_rate(1.0);

		reading_add(&ours, r, cpu_share);
	}
	dp_stop();
	dp_eal_cleanup();
	sat = stat_of(ours.raw, ours.nraw, 100);
	printf("saturated: %u flows at 1 ms (%.0f Mpps offered), %u one-second readings: best %.3f Mpps, median %.3f; "
	       "per CPU-second of the lcore thread (%u seconds with half a CPU or more): best %.3f, median %.3f\n",
	       FLOWS, FLOWS / 1e3, ours.nraw, sat, stat_of(ours.raw, ours.nraw, 50), ours.ncpu,
	       stat_of(ours.cpu, ours.ncpu, 100), stat_of(ours.cpu, ours.ncpu, 50));
	printf("memory: %zu B hot state per flow\n", dp_flow_hot_bytes());
	printf("BENCH dp_flow_bytes %zu B\n", dp_flow_hot_bytes());

	testpmd_txonly(&theirs);
	ref = stat_of(theirs.raw, theirs.nraw, 100);
	printf("testpmd txonly, 214-byte frames, net_null, lcore 1, %u one-second readings: best %.3f Mpps, median "
	       "%.3f; per CPU-second of its lcore (%u seconds): best %.3f, median %.3f\n", theirs.nraw, ref,
	       stat_of(theirs.raw, theirs.nraw, 50), theirs.ncpu, stat_of(theirs.cpu, theirs.ncpu, 100),
	       stat_of(theirs.cpu, theirs.ncpu, 50));
	/* Per CPU-second of each side's lcore thread: on a shared machine the raw ratio also measures who got
	 * the CPU (0 when a side never had half a CPU) */
	for (int pct = 50; pct <= 100; pct += 50) {
		double a = stat_of(ours.cpu, ours.ncpu, pct), b = stat_of(theirs.cpu, theirs.ncpu, pct);

		printf("BENCH dp_tx_mpps_per_cpu%s %.3f Mpps ratio=%.3f ref=testpmd-txonly-214B-%s-second-%.2fMpps-per-cpu\n",
		       pct == 50 ? "_median" : "", a, b > 0 ? a / b : 0, pct == 50 ? "median" : "best", b);
	}
	printf("BENCH dp_tx_mpps %.3f Mpps ratio=%.3f ref=testpmd-txonly-214B-best-second-%.2fMpps\n", sat,
	       ref > 0 ? sat / ref : 0, ref);
	return 0;
}
