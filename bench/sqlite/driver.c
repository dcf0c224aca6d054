/*
 * driver.c: SQLite as a real-program workload for bench/run.
 *
 * Linked with SQLite's amalgamation (bench/sqlite/fetch gets it, never the
 * repository) built with -DSQLITE_OS_OTHER=1, so this file also carries the
 * VFS SQLite then needs: deterministic randomness, the current time and
 * sleep. The database lives in memory (and SQLITE_TEMP_STORE=3 keeps temporary
 * tables there too), so the VFS opens no files. The same VFS serves the
 * native and the wasm32-wasi build, which must print the same bytes.
 *
 * The work: three tables filled from a generator of our own in transactions,
 * indexes, joins, GROUP BY, ORDER BY, LIKE, window functions, recursive CTEs,
 * point lookups through a prepared statement, updates, deletes and an
 * integrity check. Each step prints its row count and an FNV-1a hash of every
 * value it returned (as text), then the first row.
 *
 * Usage: driver [SCALE]   (SCALE = 50 by default; the work grows about
 * linearly with it)
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */

#include "sqlite3.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the VFS ---- */

/* SQLite seeds its own generator (random(), randomblob()) from this once: a
 * fixed sequence keeps those functions the same from run to run and engine
 * to engine. */
static uint64_t vfs_seed = 0x5eed5eed5eed5eedull;

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                    int *out_flags) {
  (void)vfs;
  (void)name;
  (void)flags;
  (void)out_flags;
  file->pMethods = NULL;
  return SQLITE_CANTOPEN; /* in-memory databases only */
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  (void)vfs;
  (void)name;
  (void)sync_dir;
  return SQLITE_IOERR_DELETE;
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *result) {
  (void)vfs;
  (void)name;
  (void)flags;
  *result = 0;
  return SQLITE_OK;
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
  (void)vfs;
  sqlite3_snprintf(n, out, "%s", name);
  return SQLITE_OK;
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out) {
  (void)vfs;
  for (int i = 0; i < n; i++) {
    vfs_seed = vfs_seed * 6364136223846793005ull + 1442695040888963407ull;
    out[i] = (char)(vfs_seed >> 56);
  }
  return n;
}

static int vfs_sleep(sqlite3_vfs *vfs, int microseconds) {
  (void)vfs;
  struct timespec ts = {microseconds / 1000000, (long)(microseconds % 1000000) * 1000};
  nanosleep(&ts, NULL);
  return microseconds;
}

/* Milliseconds since noon in Greenwich on November 24, 4714 B.C. */
static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
  (void)vfs;
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
    return SQLITE_ERROR;
  }
  *out = (sqlite3_int64)210866760000000ll + (sqlite3_int64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  return SQLITE_OK;
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out) {
  sqlite3_int64 ms = 0;
  int rc = vfs_current_time_int64(vfs, &ms);
  *out = (double)ms / 86400000.0;
  return rc;
}

static sqlite3_vfs memory_vfs = {
    .iVersion = 2,
    .szOsFile = sizeof(sqlite3_file),
    .mxPathname = 512,
    .zName = "kiln-bench-memory",
    .xOpen = vfs_open,
    .xDelete = vfs_delete,
    .xAccess = vfs_access,
    .xFullPathname = vfs_full_pathname,
    .xRandomness = vfs_randomness,
    .xSleep = vfs_sleep,
    .xCurrentTime = vfs_current_time,
    .xCurrentTimeInt64 = vfs_current_time_int64,
};

/* SQLITE_OS_OTHER leaves these two to the application. */
int sqlite3_os_init(void) {
  return sqlite3_vfs_register(&memory_vfs, 1);
}

int sqlite3_os_end(void) {
  return SQLITE_OK;
}

/* ---- helpers ---- */

static sqlite3 *db;

static void die(const char *what) {
  fprintf(stderr, "driver: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no database");
  exit(1);
}

static void exec(const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "driver: %s: %s\n", sql, err ? err : "error");
    exit(1);
  }
}

static sqlite3_stmt *prepare(const char *sql) {
  sqlite3_stmt *stmt;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
    die(sql);
  }
  return stmt;
}

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h = (h ^ p[i]) * FNV_PRIME;
  }
  return h;
}

/* Folds the current row of STMT into H, each value as text, NULL as "\\N". */
static uint64_t hash_row(uint64_t h, sqlite3_stmt *stmt) {
  int cols = sqlite3_column_count(stmt);
  for (int i = 0; i < cols; i++) {
    const unsigned char *text = sqlite3_column_text(stmt, i);
    if (text) {
      h = fnv(h, text, (size_t)sqlite3_column_bytes(stmt, i));
    } else {
      h = fnv(h, "\\N", 2);
    }
    h = fnv(h, "|", 1);
  }
  return fnv(h, "\n", 1);
}

static uint64_t total_hash = FNV_OFFSET;

/* Prints a step's row count and hash; the checksum at the end folds in every such line. */
static void report(const char *name, long rows, uint64_t h) {
  char line[80];
  int n = snprintf(line, sizeof line, "%-10s rows %7ld  hash %016llx", name, rows,
                   (unsigned long long)h);
  total_hash = fnv(total_hash, line, (size_t)n);
  fputs(line, stdout);
}

/* Runs SQL, prints its row count, hash and first row. */
static void query(const char *name, const char *sql) {
  sqlite3_stmt *stmt = prepare(sql);
  uint64_t h = FNV_OFFSET;
  long rows = 0;
  char first[160] = "";
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    h = hash_row(h, stmt);
    if (rows++ == 0) {
      int cols = sqlite3_column_count(stmt);
      size_t used = 0;
      for (int i = 0; i < cols && used < sizeof first - 1; i++) {
        const unsigned char *text = sqlite3_column_text(stmt, i);
        used += (size_t)snprintf(first + used, sizeof first - used, "%s%s", i ? "|" : "",
                                 text ? (const char *)text : "NULL");
      }
    }
  }
  if (rc != SQLITE_DONE) {
    die(name);
  }
  sqlite3_finalize(stmt);
  report(name, rows, h);
  printf("  first %s\n", first);
}

/* Runs a statement that changes rows; prints how many it changed. */
static void change(const char *name, const char *sql) {
  exec(sql);
  long n = sqlite3_changes(db);
  char text[24];
  report(name, n, fnv(FNV_OFFSET, text, (size_t)snprintf(text, sizeof text, "%ld", n)));
  printf("  changed\n");
}

/* ---- the data ---- */

static uint64_t gen_state = 42;

static uint32_t gen(void) {
  gen_state = gen_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(gen_state >> 33);
}

static uint32_t gen_below(uint32_t n) {
  return gen() % n;
}

static const char *const syllables[] = {"an",  "ber", "cor", "da",  "el", "fin", "gar", "ho",
                                        "is",  "jun", "ka",  "lor", "mi", "nor", "os",  "pel",
                                        "qua", "ri",  "san", "tor", "ul", "ven", "wi",  "zan"};
#define SYLLABLES (sizeof syllables / sizeof syllables[0])

static const char *const cities[] = {"Aberdeen", "Bergen",  "Cork",    "Dijon",  "Essen",
                                     "Faro",     "Graz",    "Haarlem", "Izmir",  "Jena",
                                     "Kaunas",   "Lille",   "Malmo",   "Nantes", "Oulu",
                                     "Porto",    "Quimper", "Riga",    "Split",  "Turku"};
#define CITIES (sizeof cities / sizeof cities[0])

static const char *const categories[] = {"books",  "garden", "kitchen", "music",
                                         "sports", "tools",  "toys",    "travel"};
#define CATEGORIES (sizeof categories / sizeof categories[0])

static void make_name(char *out, size_t size, int parts) {
  size_t used = 0;
  for (int i = 0; i < parts; i++) {
    used += (size_t)snprintf(out + used, size - used, "%s", syllables[gen_below(SYLLABLES)]);
  }
  if (used > 0) {
    out[0] = (char)(out[0] - 'a' + 'A');
  }
}

static void bind_text(sqlite3_stmt *stmt, int i, const char *text) {
  if (sqlite3_bind_text(stmt, i, text, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
    die("bind");
  }
}

static void step_done(sqlite3_stmt *stmt, const char *what) {
  if (sqlite3_step(stmt) != SQLITE_DONE) {
    die(what);
  }
  sqlite3_reset(stmt);
}

#define PRODUCTS 1000
#define BATCH 1000

static void fill(long customers, long orders) {
  exec("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,"
       " referrer INTEGER REFERENCES customers, joined INTEGER NOT NULL);"
       "CREATE TABLE products(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
       " category TEXT NOT NULL, price_cents INTEGER NOT NULL, weight REAL NOT NULL);"
       "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER NOT NULL,"
       " product INTEGER NOT NULL, qty INTEGER NOT NULL, day INTEGER NOT NULL, note TEXT);");

  char name[64];
  sqlite3_stmt *ins = prepare("INSERT INTO products VALUES(?, ?, ?, ?, ?)");
  exec("BEGIN");
  for (long i = 1; i <= PRODUCTS; i++) {
    make_name(name, sizeof name, 2 + (int)gen_below(2));
    sqlite3_bind_int64(ins, 1, i);
    bind_text(ins, 2, name);
    bind_text(ins, 3, categories[gen_below(CATEGORIES)]);
    sqlite3_bind_int64(ins, 4, 99 + gen_below(20000));
    sqlite3_bind_double(ins, 5, (double)(1 + gen_below(5000)) / 64.0);
    step_done(ins, "insert product");
  }
  exec("COMMIT");
  sqlite3_finalize(ins);

  ins = prepare("INSERT INTO customers VALUES(?, ?, ?, ?, ?)");
  for (long i = 1; i <= customers; i++) {
    if (i % BATCH == 1) {
      exec("BEGIN");
    }
    make_name(name, sizeof name, 2 + (int)gen_below(3));
    sqlite3_bind_int64(ins, 1, i);
    bind_text(ins, 2, name);
    bind_text(ins, 3, cities[gen_below(CITIES)]);
    if (i <= 10) {
      sqlite3_bind_null(ins, 4);
    } else {
      sqlite3_bind_int64(ins, 4, 1 + gen_below((uint32_t)(i - 1)));
    }
    sqlite3_bind_int64(ins, 5, gen_below(3650));
    step_done(ins, "insert customer");
    if (i % BATCH == 0 || i == customers) {
      exec("COMMIT");
    }
  }
  sqlite3_finalize(ins);

  /* Every tenth note comes from SQLite's own randomblob(): the VFS's fixed
   * seed makes it the same everywhere. */
  ins = prepare("INSERT INTO orders VALUES(?, ?, ?, ?, ?, ?)");
  sqlite3_stmt *ins_random =
      prepare("INSERT INTO orders VALUES(?, ?, ?, ?, ?, 'r-' || hex(randomblob(3)))");
  static const char *const notes[] = {"gift", "gift wrap", "express", "pickup", "fragile"};
  for (long i = 1; i <= orders; i++) {
    if (i % BATCH == 1) {
      exec("BEGIN");
    }
    sqlite3_stmt *s = i % 10 == 0 ? ins_random : ins;
    sqlite3_bind_int64(s, 1, i);
    /* Some customers buy much more than others. */
    uint32_t c = gen_below((uint32_t)customers);
    if (gen_below(4) == 0) {
      c = c / 16;
    }
    sqlite3_bind_int64(s, 2, 1 + c);
    sqlite3_bind_int64(s, 3, 1 + gen_below(PRODUCTS));
    sqlite3_bind_int64(s, 4, 1 + gen_below(9));
    sqlite3_bind_int64(s, 5, gen_below(365));
    if (s == ins) {
      uint32_t k = gen_below(8);
      if (k < 5) {
        bind_text(s, 6, notes[k]);
      } else {
        sqlite3_bind_null(s, 6);
      }
    }
    step_done(s, "insert order");
    if (i % BATCH == 0 || i == orders) {
      exec("COMMIT");
    }
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(ins_random);
  query("count", "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products),"
                 " (SELECT count(*) FROM orders), (SELECT sum(qty) FROM orders)");
}

/* ---- the queries ---- */

static const char revenue_by_city[] =
    "SELECT c.city, count(*), sum(o.qty * p.price_cents) AS revenue"
    " FROM orders o JOIN customers c ON c.id = o.customer JOIN products p ON p.id = o.product"
    " GROUP BY c.city ORDER BY revenue DESC, c.city";

static void point_lookups(long customers) {
  sqlite3_stmt *stmt = prepare("SELECT count(*), total(qty), max(day) FROM orders"
                               " WHERE customer = ? AND day BETWEEN ? AND ?");
  uint64_t h = FNV_OFFSET;
  long n = 0;
  for (long i = 1; i <= customers; i++) {
    sqlite3_bind_int64(stmt, 1, i);
    sqlite3_bind_int64(stmt, 2, i % 200);
    sqlite3_bind_int64(stmt, 3, i % 200 + 165);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      h = hash_row(h, stmt);
      n++;
    }
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  report("lookups", n, h);
  printf("  by customer\n");
}

int main(int argc, char **argv) {
  long scale = argc > 1 ? strtol(argv[1], NULL, 10) : 50;
  if (scale < 1) {
    fprintf(stderr, "usage: driver [SCALE]   (SCALE >= 1)\n");
    return 2;
  }
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
    die("open");
  }
  printf("sqlite %s, scale %ld\n", sqlite3_libversion(), scale);
  long customers = 400 * scale, orders = 4000 * scale;

  fill(customers, orders);
  query("noindex", "SELECT count(*), sum(qty) FROM orders WHERE customer BETWEEN 100 AND 140");
  exec("CREATE INDEX orders_customer ON orders(customer, day);"
       "CREATE INDEX orders_product ON orders(product, day);"
       "CREATE INDEX customers_city ON customers(city, name);"
       "CREATE INDEX customers_referrer ON customers(referrer);"
       "ANALYZE;");

  query("by-city", revenue_by_city);
  query("top", "SELECT c.id, c.name, count(*) AS n, sum(o.qty * p.price_cents) AS spent"
               " FROM customers c JOIN orders o ON o.customer = c.id"
               " JOIN products p ON p.id = o.product"
               " GROUP BY c.id ORDER BY spent DESC, c.id LIMIT 25");
  query("category", "SELECT p.category, count(*), round(avg(p.weight), 4),"
                    " printf('%.3f', sum(p.weight * o.qty)), min(p.price_cents)"
                    " FROM orders o JOIN products p ON p.id = o.product"
                    " GROUP BY p.category HAVING count(*) > 10 ORDER BY p.category");
  query("like", "SELECT count(*), min(name), max(name), sum(length(name))"
                " FROM customers WHERE name LIKE '%an%' OR name LIKE 'Ko%'");
  query("notes", "SELECT note, count(*), sum(qty) FROM orders"
                 " WHERE note LIKE 'gift%' OR note LIKE 'r-A%' GROUP BY note ORDER BY 2 DESC, 1");
  query("in-city", "SELECT c.city, p.category, count(DISTINCT o.customer)"
                   " FROM customers c JOIN orders o ON o.customer = c.id"
                   " JOIN products p ON p.id = o.product"
                   " WHERE c.city IN ('Bergen', 'Riga', 'Porto') AND p.price_cents > 10000"
                   " GROUP BY 1, 2 ORDER BY 1, 2");
  point_lookups(customers);
  query("range", "SELECT day, count(*), sum(qty) FROM orders"
                 " WHERE product BETWEEN 100 AND 180 AND day BETWEEN 30 AND 300"
                 " GROUP BY day ORDER BY day");
  query("sorted", "SELECT o.id, c.name, o.note FROM orders o JOIN customers c ON c.id = o.customer"
                  " ORDER BY c.name DESC, o.note, o.id LIMIT 200 OFFSET 500");
  query("window", "SELECT customer, day, sum(qty) OVER (PARTITION BY customer ORDER BY day, id"
                  " ROWS BETWEEN 3 PRECEDING AND CURRENT ROW),"
                  " rank() OVER (PARTITION BY customer ORDER BY qty DESC)"
                  " FROM orders WHERE customer % 37 = 0 ORDER BY customer, day, id");
  query("referrals", "WITH RECURSIVE tree(id, depth, path) AS ("
                     " SELECT id, 0, name FROM customers WHERE referrer IS NULL"
                     " UNION ALL SELECT c.id, t.depth + 1, substr(t.path, 1, 40) || '>' || c.name"
                     " FROM customers c JOIN tree t ON c.referrer = t.id)"
                     " SELECT depth, count(*), max(length(path)), min(path) FROM tree"
                     " GROUP BY depth ORDER BY depth");
  char sql[512];
  snprintf(sql, sizeof sql,
           "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %ld),"
           " collatz(start, x, steps) AS (SELECT n, n, 0 FROM seq"
           " UNION ALL SELECT start, CASE WHEN x %% 2 = 0 THEN x / 2 ELSE 3 * x + 1 END, steps + 1"
           " FROM collatz WHERE x > 1)"
           " SELECT max(steps), sum(steps), count(*) FROM collatz WHERE x = 1",
           150 * scale);
  query("collatz", sql);

  change("reprice", "UPDATE products SET price_cents = price_cents * 107 / 100"
                    " WHERE category IN ('tools', 'garden', 'toys')");
  change("bonus", "UPDATE orders SET qty = qty + 1, note = coalesce(note, 'bonus')"
                  " WHERE day % 7 = 0 AND product % 3 = 1");
  change("expire", "DELETE FROM orders WHERE day < 60 AND qty > 6");
  change("unsold", "DELETE FROM products WHERE id NOT IN (SELECT product FROM orders)"
                   " AND id % 2 = 0");
  query("after", revenue_by_city);
  query("distinct",
        "SELECT count(DISTINCT customer), count(DISTINCT product), count(*)"
        " FROM orders WHERE product IN (SELECT id FROM products WHERE category = 'tools')");
  query("random", "WITH RECURSIVE r(i, v) AS (SELECT 1, random()"
                  " UNION ALL SELECT i + 1, random() FROM r WHERE i < 1000)"
                  " SELECT sum(v % 1000), min(v % 97), max(v % 97) FROM r");
  query("integrity", "PRAGMA integrity_check");

  if (sqlite3_close(db) != SQLITE_OK) {
    die("close");
  }
  db = NULL;
  printf("checksum %016llx\n", (unsigned long long)total_hash);
  return 0;
}
