/* The gateway's store: one SQLite file (WAL mode, so `callmeter-gateway worker ...` commands and the running
 * `serve` share it; busy_timeout rides over short write locks).  Tokens are never stored: only their SHA-256,
 * looked up by hash and then compared with CRYPTO_memcmp.  The file and its -wal/-shm companions (SQLite gives
 * them the database's mode) are 0600. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "config/config.h"
#include "gateway/gateway.h"

struct gw_store {
	sqlite3 *db;
	sqlite3_stmt *st_status;
	sqlite3_stmt *st_metrics;
	sqlite3_stmt *st_dataplane;
	sqlite3_stmt *st_auth;
	sqlite3_stmt *st_version;
	int64_t data_version;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS workers("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" token_hash BLOB NOT NULL UNIQUE,"
	" token_gen INTEGER NOT NULL DEFAULT 1,"
	" capacity INTEGER NOT NULL,"
	" license TEXT NOT NULL,"
	" status TEXT NOT NULL DEFAULT 'OFFLINE',"
	" last_heartbeat INTEGER NOT NULL DEFAULT 0,"
	" active_endpoints INTEGER NOT NULL DEFAULT 0,"
	" drain_requested INTEGER NOT NULL DEFAULT 0,"
	" error TEXT NOT NULL DEFAULT '',"
	" created INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS revoked_tokens("
	" token_hash BLOB PRIMARY KEY,"
	" worker_name TEXT NOT NULL,"
	" revoked_at INTEGER NOT NULL,"
	" reason TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS metrics("
	" run_id TEXT NOT NULL,"
	" worker_id INTEGER NOT NULL,"
	" seq INTEGER NOT NULL,"
	" t INTEGER NOT NULL,"
	" nsamples INTEGER NOT NULL,"
	" samples BLOB NOT NULL,"
	" received INTEGER NOT NULL,"
	" PRIMARY KEY(run_id, worker_id, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS runs("
	" id TEXT PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" plan TEXT NOT NULL,"
	" endpoints INTEGER NOT NULL,"
	" workers TEXT NOT NULL DEFAULT '',"
	" status TEXT NOT NULL,"
	" reason TEXT NOT NULL DEFAULT '',"
	" cancel_requested INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL,"
	" started INTEGER NOT NULL DEFAULT 0,"
	" ended INTEGER NOT NULL DEFAULT 0,"
	" released INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS run_parts("
	" run_id TEXT NOT NULL,"
	" part INTEGER NOT NULL,"
	" worker_id INTEGER NOT NULL,"
	" worker_name TEXT NOT NULL,"
	" grp TEXT NOT NULL,"
	" role TEXT NOT NULL,"
	" phase INTEGER NOT NULL,"
	" first INTEGER NOT NULL,"
	" count INTEGER NOT NULL,"
	" status TEXT NOT NULL,"
	" reason TEXT NOT NULL DEFAULT '',"
	" sip TEXT NOT NULL DEFAULT '',"           /* the part's SIP address, from its accept */
	" calls_done INTEGER NOT NULL DEFAULT 0,"  /* its callers are through */
	" PRIMARY KEY(run_id, part));"
	/* a worker's dataplane samples: the figures of each second (GW_DP_COLUMNS) and the whole sample */
	"CREATE TABLE IF NOT EXISTS dataplane("
	" run_id TEXT NOT NULL,"
	" worker_id INTEGER NOT NULL,"
	" part INTEGER NOT NULL,"
	" t INTEGER NOT NULL,"
	" seq INTEGER NOT NULL,"
#define GW_DP_SCHEMA(n) " " #n " INTEGER,"
	GW_DP_COLUMNS(GW_DP_SCHEMA)
#undef GW_DP_SCHEMA
	" sample BLOB NOT NULL,"
	" PRIMARY KEY(run_id, worker_id, part, t)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS part_results("
	" run_id TEXT NOT NULL,"
	" part INTEGER NOT NULL,"
	" kind TEXT NOT NULL," /* 'outcome' (endpoint outcome counts) or 'summary' (counters) */
	" key TEXT NOT NULL,"
	" value REAL NOT NULL,"
	" PRIMARY KEY(run_id, part, kind, key));";

/* Columns added after the first release of the schema: added to older stores, "duplicate column" ignored. */
static const char *const migrations[] = {
	"ALTER TABLE run_parts ADD COLUMN sip TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE run_parts ADD COLUMN calls_done INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE runs ADD COLUMN released INTEGER NOT NULL DEFAULT 0",
	/* wall clock ms the worker went OFFLINE (0: online, or offline since before this column) */
	"ALTER TABLE workers ADD COLUMN offline_since INTEGER NOT NULL DEFAULT 0",
};

static const char *const license_names[] = {
	[GW_LICENSE_STANDARD] = "standard",
	[GW_LICENSE_PROFESSIONAL] = "professional",
	[GW_LICENSE_ENTERPRISE] = "enterprise",
};

const char *gw_license_name(enum gw_license l)
{
	return (unsigned)l < CM_ARRAY_SIZE(license_names) ? license_names[l] : "standard";
}

int gw_license_parse(const char *s, enum gw_license *out)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(license_names); i++) {
		if (strcmp(s, license_names[i]) == 0) {
			*out = (enum gw_license)i;
			return 0;
		}
	}
	return -EINVAL;
}

uint32_t gw_effective_capacity(uint32_t configured, enum gw_license l)
{
	uint32_t licensed = l == GW_LICENSE_STANDARD ? 50 : l == GW_LICENSE_PROFESSIONAL ? 200 : UINT32_MAX;

	return configured < licensed ? configured : licensed;
}

static int sql_err(struct gw_store *s, const char *what)
{
	cm_log(CM_LOG_ERROR, "store", "%s: %s", what, sqlite3_errmsg(s->db));
	return -EIO;
}

static int exec(struct gw_store *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		cm_log(CM_LOG_ERROR, "store", "%s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

struct gw_store *gw_store_open(const char *path, char *err, size_t errlen)
{
	struct gw_store *s = calloc(1, sizeof(*s));
	mode_t old;
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* New files (database, -wal, -shm, journals) are created readable by this user only. */
	old = umask(077);
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL);
	umask(old);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open store '%s': %s", path, s->db ? sqlite3_errmsg(s->db) : "no memory");
		goto close_db;
	}
	if (chmod(path, 0600) < 0) {
		snprintf(err, errlen, "cannot make store '%s' private (chmod 0600): %s", path, strerror(errno));
		goto close_db;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;") < 0 || exec(s, schema) < 0) {
		snprintf(err, errlen, "cannot set up store '%s': %s", path, sqlite3_errmsg(s->db));
		goto close_db;
	}
	for (size_t i = 0; i < CM_ARRAY_SIZE(migrations); i++) {
		if (sqlite3_exec(s->db, migrations[i], NULL, NULL, NULL) != SQLITE_OK &&
		    !strstr(sqlite3_errmsg(s->db), "duplicate column")) {
			snprintf(err, errlen, "cannot update store '%s': %s", path, sqlite3_errmsg(s->db));
			goto close_db;
		}
	}
	if (sqlite3_prepare_v2(s->db,
			       "UPDATE workers SET status=?2, last_heartbeat=?3, active_endpoints=?4, error=?5, "
			       "offline_since=CASE WHEN ?2<>'OFFLINE' THEN 0 WHEN status<>'OFFLINE' THEN ?6 "
			       "ELSE offline_since END WHERE id=?1", -1, &s->st_status, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "INSERT OR IGNORE INTO metrics(run_id, worker_id, seq, t, nsamples, samples, received) "
			       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &s->st_metrics, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "INSERT OR IGNORE INTO dataplane(run_id, worker_id, part, t, seq, "
#define GW_DP_INSERT(n) #n ", "
			       GW_DP_COLUMNS(GW_DP_INSERT)
#undef GW_DP_INSERT
			       "sample) VALUES(?1, ?2, ?3, ?4, ?5, "
			       "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)", -1,
			       &s->st_dataplane, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "SELECT id, name, capacity, license, status, last_heartbeat, active_endpoints, token_gen,"
			       " drain_requested, error, token_hash FROM workers WHERE token_hash=?1", -1, &s->st_auth,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &s->st_version, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot prepare store statements: %s", sqlite3_errmsg(s->db));
		goto close_db;
	}
	gw_store_changed(s);
	return s;

close_db:
	gw_store_close(s);
	return NULL;
}

void gw_store_close(struct gw_store *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->st_status);
	sqlite3_finalize(s->st_metrics);
	sqlite3_finalize(s->st_dataplane);
	sqlite3_finalize(s->st_auth);
	sqlite3_finalize(s->st_version);
	sqlite3_close(s->db);
	free(s);
}

/* ---- tokens ----------------------------------------------------------------------------------------------- */

static void token_hash(const char *token, uint8_t out[32])
{
	unsigned int n = 32;

	EVP_Digest(token, strlen(token), out, &n, EVP_sha256(), NULL);
}

static int new_token(char *out, uint8_t hash[32])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[32];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	memcpy(out, GW_TOKEN_PREFIX, 4);
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[4 + 2 * i] = hex[raw[i] >> 4];
		out[5 + 2 * i] = hex[raw[i] & 15];
	}
	out[GW_TOKEN_LEN] = '\0';
	token_hash(out, hash);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int gw_store_worker_create(struct gw_store *s, const char *name, uint32_t capacity, enum gw_license lic,
			   char *token_out)
{
	sqlite3_stmt *st = NULL;
	uint8_t hash[32];
	int rc;

	if (new_token(token_out, hash) < 0)
		return -EIO;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO workers(name, token_hash, capacity, license, created) VALUES(?1,?2,?3,?4,?5)",
			       -1, &st, NULL) != SQLITE_OK)
		return sql_err(s, "create worker");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, hash, sizeof(hash), SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, capacity);
	sqlite3_bind_text(st, 4, gw_license_name(lic), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)cm_wallclock_ms());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST;
	return rc == SQLITE_DONE ? 0 : sql_err(s, "create worker");
}

/* Moves the worker's current hash to revoked_tokens (so a later hello with it is told "revoked", not
 * "unknown"); inside the caller's transaction. */
static int revoke_current(struct gw_store *s, const char *name, const char *reason)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db,
			       "INSERT OR REPLACE INTO revoked_tokens(token_hash, worker_name, revoked_at, reason) "
			       "SELECT token_hash, name, ?2, ?3 FROM workers WHERE name=?1", -1, &st, NULL) != SQLITE_OK)
		return sql_err(s, "revoke token");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (int64_t)cm_wallclock_ms());
	sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_err(s, "revoke token");
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

int gw_store_worker_regenerate(struct gw_store *s, const char *name, char *token_out)
{
	sqlite3_stmt *st = NULL;
	uint8_t hash[32];
	int rc;

	if (new_token(token_out, hash) < 0)
		return -EIO;
	if (gw_store_begin(s) < 0)
		return -EIO;
	rc = revoke_current(s, name, "regenerated");
	if (rc < 0)
		goto rollback;
	if (sqlite3_prepare_v2(s->db, "UPDATE workers SET token_hash=?2, token_gen=token_gen+1 WHERE name=?1", -1,
			       &st, NULL) != SQLITE_OK) {
		rc = sql_err(s, "regenerate");
		goto rollback;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, hash, sizeof(hash), SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_err(s, "regenerate");
	sqlite3_finalize(st);
	if (rc < 0)
		goto rollback;
	return gw_store_commit(s);
rollback:
	exec(s, "ROLLBACK");
	OPENSSL_cleanse(token_out, GW_TOKEN_LEN);
	token_out[0] = '\0';
	return rc;
}

static int by_name(struct gw_store *s, const char *sql, const char *name, int64_t arg)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_err(s, "update worker");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, arg);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_err(s, "update worker");
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

int gw_store_worker_delete(struct gw_store *s, const char *name)
{
	int rc;

	if (gw_store_begin(s) < 0)
		return -EIO;
	rc = revoke_current(s, name, "deleted");
	if (rc == 0)
		rc = by_name(s, "DELETE FROM workers WHERE name=?1 AND ?2=?2", name, 0);
	if (rc < 0) {
		exec(s, "ROLLBACK");
		return rc;
	}
	return gw_store_commit(s);
}

int gw_store_worker_drain(struct gw_store *s, const char *name, bool drain)
{
	return by_name(s, "UPDATE workers SET drain_requested=?2 WHERE name=?1", name, drain);
}

static void row_to_worker(sqlite3_stmt *st, struct gw_worker *w)
{
	const char *lic = (const char *)sqlite3_column_text(st, 3);

	memset(w, 0, sizeof(*w));
	w->id = sqlite3_column_int64(st, 0);
	cm_strlcpy(w->name, (const char *)sqlite3_column_text(st, 1), sizeof(w->name));
	w->capacity = (uint32_t)sqlite3_column_int64(st, 2);
	if (!lic || gw_license_parse(lic, &w->license) < 0)
		w->license = GW_LICENSE_STANDARD;
	cm_strlcpy(w->status, (const char *)sqlite3_column_text(st, 4), sizeof(w->status));
	w->last_heartbeat = (uint64_t)sqlite3_column_int64(st, 5);
	w->active_endpoints = (uint32_t)sqlite3_column_int64(st, 6);
	w->token_gen = sqlite3_column_int64(st, 7);
	w->drain_requested = sqlite3_column_int64(st, 8) != 0;
	cm_strlcpy(w->error, (const char *)sqlite3_column_text(st, 9), sizeof(w->error));
}

#define WORKER_COLS "id, name, capacity, license, status, last_heartbeat, active_endpoints, token_gen, " \
		    "drain_requested, error"

static int get_one(struct gw_store *s, const char *where, const char *name, int64_t id, struct gw_worker *w)
{
	char sql[256];
	sqlite3_stmt *st = NULL;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT " WORKER_COLS " FROM workers WHERE %s", where);
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_err(s, "read worker");
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_to_worker(st, w);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sql_err(s, "read worker");
}

int gw_store_worker_get(struct gw_store *s, const char *name, struct gw_worker *w)
{
	return get_one(s, "name=?1", name, 0, w);
}

int gw_store_worker_get_id(struct gw_store *s, int64_t id, struct gw_worker *w)
{
	return get_one(s, "id=?1", NULL, id, w);
}

int gw_store_worker_list(struct gw_store *s, void (*cb)(void *arg, const struct gw_worker *w), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct gw_worker w;
	int rc, n = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT " WORKER_COLS " FROM workers ORDER BY name", -1, &st, NULL) !=
	    SQLITE_OK)
		return sql_err(s, "list workers");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_to_worker(st, &w);
		cb(arg, &w);
		n++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : sql_err(s, "list workers");
}

enum gw_auth gw_store_auth(struct gw_store *s, const char *token, struct gw_worker *w)
{
	char err[CFG_ERR_MAX];
	uint8_t hash[32];
	sqlite3_stmt *st = s->st_auth, *rv = NULL;
	enum gw_auth res = GW_AUTH_UNKNOWN;
	int rc;

	if (cfg_token_check(token, "token", err, sizeof(err)) < 0)
		return GW_AUTH_BAD_FORMAT;
	token_hash(token, hash);
	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *stored = sqlite3_column_blob(st, 10);
		/* the index found the row by hash; the final say is a constant-time comparison */
		if (stored && sqlite3_column_bytes(st, 10) == 32 && CRYPTO_memcmp(stored, hash, 32) == 0) {
			row_to_worker(st, w);
			res = GW_AUTH_OK;
		}
	}
	sqlite3_reset(st);
	if (res == GW_AUTH_OK)
		return res;
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM revoked_tokens WHERE token_hash=?1", -1, &rv, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_blob(rv, 1, hash, sizeof(hash), SQLITE_TRANSIENT);
		if (sqlite3_step(rv) == SQLITE_ROW)
			res = GW_AUTH_REVOKED;
		sqlite3_finalize(rv);
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	return res;
}

/* ---- session state ------------------------------------------------------------------------------------ */

int gw_store_begin(struct gw_store *s)
{
	return exec(s, "BEGIN IMMEDIATE");
}

int gw_store_commit(struct gw_store *s)
{
	return exec(s, "COMMIT");
}

int gw_store_set_status(struct gw_store *s, int64_t id, const char *status, uint64_t last_hb, uint32_t active,
			const char *error)
{
	sqlite3_stmt *st = s->st_status;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (int64_t)last_hb);
	sqlite3_bind_int64(st, 4, active);
	sqlite3_bind_text(st, 5, error ? error : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, (int64_t)cm_wallclock_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sql_err(s, "update status");
}

int gw_store_all_offline(struct gw_store *s)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "UPDATE workers SET status='OFFLINE', offline_since=%llu WHERE status<>'OFFLINE'",
		 (unsigned long long)cm_wallclock_ms());
	return exec(s, sql);
}

bool gw_store_changed(struct gw_store *s)
{
	int64_t v = -1;

	sqlite3_reset(s->st_version);
	if (sqlite3_step(s->st_version) == SQLITE_ROW)
		v = sqlite3_column_int64(s->st_version, 0);
	sqlite3_reset(s->st_version);
	if (v == s->data_version)
		return false;
	s->data_version = v;
	return true;
}

int gw_store_metrics_put(struct gw_store *s, const char *run_id, int64_t worker_id, uint64_t seq, uint64_t t,
			 uint32_t nsamples, const void *blob, size_t bloblen)
{
	sqlite3_stmt *st = s->st_metrics;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, worker_id);
	sqlite3_bind_int64(st, 3, (int64_t)seq);
	sqlite3_bind_int64(st, 4, (int64_t)t);
	sqlite3_bind_int64(st, 5, nsamples);
	sqlite3_bind_blob(st, 6, blob, (int)bloblen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (int64_t)cm_wallclock_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sql_err(s, "store metrics");
	return sqlite3_changes(s->db) ? 1 : 0;
}

int gw_store_dataplane_put(struct gw_store *s, const char *run_id, int64_t worker_id, int64_t part, uint64_t seq,
			   const struct gw_dp_sample *d, const void *blob, size_t bloblen)
{
	sqlite3_stmt *st = s->st_dataplane;
	int rc;

	_Static_assert(GW_DP_NCOLS == 13, "the INSERT has 13 column parameters");
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, worker_id);
	sqlite3_bind_int64(st, 3, part);
	sqlite3_bind_int64(st, 4, (int64_t)d->t);
	sqlite3_bind_int64(st, 5, (int64_t)seq);
	for (int i = 0; i < GW_DP_NCOLS; i++) {
		if (d->has[i])
			sqlite3_bind_int64(st, 6 + i, d->col[i]);
		else
			sqlite3_bind_null(st, 6 + i);
	}
	sqlite3_bind_blob(st, 6 + GW_DP_NCOLS, blob, (int)bloblen, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sql_err(s, "store dataplane sample");
	return sqlite3_changes(s->db) ? 1 : 0;
}

int gw_store_metrics_stat(struct gw_store *s, const char *run_id, uint64_t *frames, uint64_t *min_seq,
			  uint64_t *max_seq, uint64_t *samples)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db,
			       "SELECT count(*), ifnull(min(seq),0), ifnull(max(seq),0), ifnull(sum(nsamples),0) "
			       "FROM metrics WHERE run_id=?1", -1, &st, NULL) != SQLITE_OK)
		return sql_err(s, "read metrics");
	sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*frames = (uint64_t)sqlite3_column_int64(st, 0);
		*min_seq = (uint64_t)sqlite3_column_int64(st, 1);
		*max_seq = (uint64_t)sqlite3_column_int64(st, 2);
		*samples = (uint64_t)sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : sql_err(s, "read metrics");
}

/* ---- runs --------------------------------------------------------------------------------------------- */

/* fmt: one letter per parameter, 's' text or 'i' int64_t. */
static void bind_args(sqlite3_stmt *st, const char *fmt, va_list ap)
{
	int i = 1;

	for (const char *f = fmt; f && *f; f++, i++) {
		if (*f == 's')
			sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
	}
}

int gw_store_exec(struct gw_store *s, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_err(s, sql);
	va_start(ap, fmt);
	bind_args(st, fmt, ap);
	va_end(ap);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sql_err(s, sql);
	return sqlite3_changes(s->db);
}

int gw_store_query(struct gw_store *s, const char *sql, const char *fmt, gw_row_cb cb, void *arg, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int rc, n = 0;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_err(s, sql);
	va_start(ap, arg);
	bind_args(st, fmt, ap);
	va_end(ap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *cols[16];
		int nc = sqlite3_column_count(st);

		if (nc > 16)
			nc = 16;
		for (int c = 0; c < nc; c++) {
			cols[c] = (const char *)sqlite3_column_text(st, c);
			if (!cols[c])
				cols[c] = "";
		}
		n++;
		if (cb && cb(arg, nc, cols) != 0)
			break;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sql_err(s, sql);
	return n;
}

int gw_store_run_new_id(char out[GW_RUN_ID_MAX])
{
	uint8_t raw[6];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	snprintf(out, GW_RUN_ID_MAX, "run-%02x%02x%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3], raw[4], raw[5]);
	return 0;
}
