/*
 * util.h - the one public header of Notarium's util library: errors, memory,
 * byte buffers (hex, base64), files, logging, the clock, JSON text and PEM
 * certificates.  util links libc, libcrypto and jansson only; every other
 * component builds on it.
 *
 * Conventions used throughout the project and documented here once:
 *  - a fallible function returns int: 0 on success or a negative NT_E* code;
 *    the detail is in a thread-local message (nt_error_last);
 *  - output parameters come first; objects returned through **out belong to
 *    the caller and are released with the matching _free / _dispose;
 *  - every _free / _dispose accepts NULL.
 */
#ifndef NT_UTIL_H
#define NT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __GNUC__
#define NT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define NT_UNUSED       __attribute__((unused))
#else
#define NT_PRINTF(f, a)
#define NT_UNUSED
#endif

/* ------------------------------------------------------------------ errors */

enum {
    NT_OK = 0,
    NT_ERROR = -1,         /* generic failure */
    NT_ENOMEM = -2,        /* allocation failed */
    NT_EINVAL = -3,        /* malformed or out-of-range input */
    NT_ENOTFOUND = -4,     /* no such object */
    NT_EIO = -5,           /* operating-system I/O failure */
    NT_ECRYPTO = -6,       /* an OpenSSL call failed */
    NT_EFULL = -7,         /* storage full (e.g. LMDB map full) */
    NT_ECORRUPT = -8,      /* a broken invariant in stored data */
    NT_EEXISTS = -9,       /* object already exists */
    NT_EBUSY = -10,        /* overloaded: try again later */
    NT_ERANGE = -11,       /* size or count outside the supported range */
    NT_EUNSUPPORTED = -12, /* valid but not supported */
    NT_EVERIFY = -13,      /* a signature, proof or hash did not verify */
    NT_ESTATE = -14,       /* called in the wrong state (e.g. stopped) */
};

/*
 * Set the thread-local error message and return `code` (so it can be used as
 * `return nt_error_set(NT_EINVAL, "...")`).  The message replaces any earlier
 * one; callers that only propagate a code do not call it, so the lowest-level
 * message survives.
 */
int nt_error_set(int code, const char *fmt, ...) NT_PRINTF(2, 3);

/*
 * Like nt_error_set with NT_ECRYPTO, appending the first OpenSSL error of the
 * thread's queue; the queue is always drained, so it cannot leak into the
 * next request.  Returns NT_ECRYPTO.
 */
int nt_error_ossl(const char *fmt, ...) NT_PRINTF(1, 2);

/* The last message set on this thread ("" when none).  Borrowed. */
const char *nt_error_last(void);

/* The last code set on this thread (0 when none). */
int nt_error_code(void);

void nt_error_clear(void);

/* A short stable name for a code ("NT_EINVAL").  Static storage. */
const char *nt_error_name(int code);

/*
 * An error carried whole from one thread to another (libgit2's
 * git_error_state_capture / _restore): a worker captures the code and its
 * thread's message where the work failed, the thread that reports restores
 * them, so out of memory stays NT_ENOMEM and never becomes "the check failed".
 * Plain data: copy it, keep it in a job slot, no dispose needed.
 */
typedef struct nt_error_state {
    int code;      /* the NT_E* code, 0 when nothing failed */
    char msg[512]; /* this thread's nt_error_last() when captured */
} nt_error_state;

/* Save `code` and this thread's message into *st (code 0 clears it); returns `code`. */
int nt_error_state_capture(nt_error_state *st, int code);

/* Make *st this thread's error (code and message); returns st->code. */
int nt_error_state_restore(const nt_error_state *st);

/* One-exit helpers: the enclosing function declares `int error = 0;` and a `done:` label. */
#define NT_TRY(expr)                                                                               \
    do {                                                                                           \
        if ((error = (expr)) < 0) {                                                                \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

#define NT_ENSURE(cond, code, ...)                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            error = nt_error_set((code), __VA_ARGS__);                                             \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* For OpenSSL calls whose success is 1 (or a positive value). */
#define NT_OSSL(expr, ...)                                                                         \
    do {                                                                                           \
        if ((expr) <= 0) {                                                                         \
            error = nt_error_ossl(__VA_ARGS__);                                                    \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* For OpenSSL calls that return a pointer, NULL on failure. */
#define NT_OSSL_PTR(expr, ...)                                                                     \
    do {                                                                                           \
        if ((expr) == NULL) {                                                                      \
            error = nt_error_ossl(__VA_ARGS__);                                                    \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

#define NT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ memory */

/*
 * Allocation goes through these so tests can inject failures.  They return
 * NULL on failure (and on overflow for the n*size forms) after setting
 * NT_ENOMEM as the thread's error.  nt_free accepts NULL.
 */
void *nt_malloc(size_t size);
void *nt_calloc(size_t n, size_t size);
void *nt_realloc(void *ptr, size_t size);
void *nt_reallocarray(void *ptr, size_t n, size_t size);
char *nt_strdup(const char *s);
char *nt_strndup(const char *s, size_t n);
void nt_free(void *ptr);

/*
 * Failure injection for tests: the `n`-th allocation from now (1-based) and
 * every one after it fails, process-wide; 0 disables.  Returns how many
 * allocations were attempted since the last call.
 */
unsigned long nt_mem_fail_after(unsigned long n);

/* Overflow-checked size arithmetic: return 0 and set *out, or NT_ERANGE. */
int nt_size_add(size_t *out, size_t a, size_t b);
int nt_size_mul(size_t *out, size_t a, size_t b);

/* Constant-time equality (1 when equal).  Use for secrets and MACs. */
int nt_memeq_ct(const void *a, const void *b, size_t len);

/* Wipe memory that held a secret; the compiler may not drop it. */
void nt_wipe(void *ptr, size_t len);

/* ------------------------------------------------------------------ bytes */

/* A borrowed, read-only view of bytes. */
typedef struct nt_bytes {
    const uint8_t *ptr;
    size_t len;
} nt_bytes;

#define NT_BYTES(p, l) ((nt_bytes){(const uint8_t *)(p), (l)})

/*
 * An owned, growable byte buffer.  `ptr` is NULL while empty and unallocated;
 * after any successful put it is NUL-terminated past `len` (not counted), so
 * text built in it can be used as a C string.  Release with nt_buf_dispose.
 */
typedef struct nt_buf {
    uint8_t *ptr;
    size_t len;
    size_t cap;
} nt_buf;

#define NT_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

int nt_buf_grow(nt_buf *buf, size_t extra);
int nt_buf_put(nt_buf *buf, const void *data, size_t len);
int nt_buf_putc(nt_buf *buf, uint8_t c);
int nt_buf_puts(nt_buf *buf, const char *s);
int nt_buf_printf(nt_buf *buf, const char *fmt, ...) NT_PRINTF(2, 3);
int nt_buf_vprintf(nt_buf *buf, const char *fmt, va_list ap) NT_PRINTF(2, 0);
int nt_buf_put_u16be(nt_buf *buf, uint16_t v);
int nt_buf_put_u32be(nt_buf *buf, uint32_t v);
int nt_buf_put_u64be(nt_buf *buf, uint64_t v);
/* Replace the contents with a copy of data. */
int nt_buf_set(nt_buf *buf, const void *data, size_t len);
/* Keep the allocation, drop the contents. */
void nt_buf_clear(nt_buf *buf);
/* Free the allocation and reset to NT_BUF_INIT. */
void nt_buf_dispose(nt_buf *buf);
/* Wipe (the whole capacity) then dispose: for buffers that held secrets. */
void nt_buf_dispose_secret(nt_buf *buf);
/* Hand the allocation to the caller (NUL-terminated; free with nt_free); buf becomes empty. */
char *nt_buf_detach(nt_buf *buf);
/* A view of the contents. */
nt_bytes nt_buf_bytes(const nt_buf *buf);
/* The contents as a C string ("" when empty).  Borrowed. */
const char *nt_buf_cstr(const nt_buf *buf);

/* Strict UTF-8 (RFC 3629: shortest form, no surrogates, at most U+10FFFF), utf8.c.
 * nt_utf8_next decodes the one sequence at s[0..len) into *cp and returns its
 * length, 0 when it is invalid, truncated or len is 0. */
size_t nt_utf8_next(uint32_t *cp, const uint8_t *s, size_t len);
/* 1 if s[0..len) is strict UTF-8 throughout, 0 if not. */
int nt_utf8_valid(const uint8_t *s, size_t len);

/* Lowercase hex, appended to out. */
int nt_hex_encode(nt_buf *out, const uint8_t *data, size_t len);
/* Lowercase hex of len bytes into out[2 * len + 1], NUL-terminated: for fixed-size
 * buffers, where an nt_buf would be overhead. */
void nt_hex_fill(char *out, const uint8_t *data, size_t len);
/* Strict hex (either case, even length), appended to out; NT_EINVAL otherwise. */
int nt_hex_decode(nt_buf *out, const char *hex, size_t len);
/* Standard base64 with padding, no line breaks, appended to out. */
int nt_base64_encode(nt_buf *out, const uint8_t *data, size_t len);
/* Strict standard base64 with padding and no whitespace; NT_EINVAL otherwise. */
int nt_base64_decode(nt_buf *out, const char *b64, size_t len);

/* Big-endian loads/stores. */
static inline uint16_t nt_load_u16be(const uint8_t *p)
{
    return (uint16_t)((uint16_t)(p[0] << 8) | p[1]);
}
static inline uint32_t nt_load_u32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t nt_load_u64be(const uint8_t *p)
{
    return ((uint64_t)nt_load_u32be(p) << 32) | nt_load_u32be(p + 4);
}
static inline void nt_store_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

/* Parse a decimal uint64 that is the whole string (no sign, no spaces, no leading zeros but "0").
 */
int nt_parse_u64(uint64_t *out, const char *s, size_t len);

/*
 * A seeded 64-bit hash of data for in-memory tables keyed by what clients choose
 * (addresses, key ids): multiply-rotate rounds and murmur's finaliser.  With a seed
 * random per process (RAND_bytes) nobody can aim keys at one slot.  tweak separates
 * key spaces sharing a table.  Not a cryptographic hash.
 */
uint64_t nt_hash64(const uint64_t seed[2], uint64_t tweak, const void *data, size_t len);

/* ------------------------------------------------------------------ files */

/* Read a whole file into out (replacing its contents); NT_ERANGE if larger than max. */
int nt_file_read(nt_buf *out, const char *path, size_t max);
/*
 * nt_file_read for a secret (private key, passphrase, PIN): NT_EINVAL, naming
 * the file and its mode, when group or others have any access to it (checked
 * on the opened file, so a swap between check and read is caught).  The caller
 * wipes out (nt_buf_dispose_secret).
 */
int nt_file_read_private(nt_buf *out, const char *path, size_t max);
/* Write data to path atomically: temp file in the same directory, fsync, rename, fsync dir. */
int nt_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* nt_file_write_atomic's flags: NT_FILE_NOSYNC, no fsync of the file nor of its directory
 * (for what a crash may lose and the caller rebuilds: the git mirror's objects). */
#define NT_FILE_NOSYNC 1u
int nt_file_write_atomic_flags(const char *path, const void *data, size_t len, unsigned mode,
                               unsigned flags);
/* mkdir -p with the given mode for created directories. */
int nt_mkdir_p(const char *path, unsigned mode);
/* 1 if path exists (any type), 0 otherwise. */
int nt_path_exists(const char *path);
/* Join a directory and a name into out (replacing its contents). */
int nt_path_join(nt_buf *out, const char *dir, const char *name);

/* ------------------------------------------------------------------ URLs */

/*
 * A remote URL as logs, /metrics and /healthz show it: the password of its
 * userinfo ("https://user:secret@host/..." -> "https://user:***@host/...")
 * replaced by "***"; any other URL unchanged.  Cut to fit `size`; the
 * password is never copied.
 */
void nt_url_redact(char *out, size_t size, const char *url);

/* The longest redacted URL nt_url_redact_in substitutes whole (longer ones are cut). */
#define NT_URL_SHOWN_MAX 1024

/* `msg` with every occurrence of `url` written as nt_url_redact writes it; cut to fit `size`. */
void nt_url_redact_in(char *out, size_t size, const char *msg, const char *url);

/* ------------------------------------------------------------------ JSON text, PEM certificates */

struct json_t;        /* jansson's json_t */
struct stack_st_X509; /* OpenSSL's STACK_OF(X509) */

/*
 * Append the JSON text of `v` to `out`, with jansson's dump `flags` (JSON_COMPACT,
 * JSON_INDENT(n), JSON_SORT_KEYS, ...; no trailing newline), json.c.  NT_ENOMEM
 * when memory runs out (out keeps what it had), NT_EINVAL for a NULL `v` or a
 * scalar without JSON_ENCODE_ANY.
 */
int nt_json_dump(nt_buf *out, const struct json_t *v, size_t flags);

/*
 * Append s[0..len) as a JSON string, quoted and escaped byte for byte as jansson's
 * dump writes it (", \ and the control characters escaped; \b \f \n \r \t by
 * name, the rest as \u00XX; UTF-8 above U+007F as is), json.c.  NT_EINVAL when s
 * is not strict UTF-8 (nothing appended), NT_ENOMEM.
 */
int nt_json_put_string(nt_buf *out, const uint8_t *s, size_t len);

/*
 * Every PEM certificate of `pem`, in order, as a new stack (free with
 * sk_X509_pop_free(*out, X509_free)), x509.c.  Text outside PEM blocks and
 * blocks of other types are skipped, as openssl does.  NT_EINVAL, with `name`
 * (a path or an option) in the message, when a certificate block is malformed
 * or there is none; NT_ENOMEM; *out is NULL on failure.
 */
int nt_x509_pem_certs(struct stack_st_X509 **out, nt_bytes pem, const char *name);

/* ------------------------------------------------------------------ logging */

typedef enum nt_log_level {
    NT_LOG_DEBUG = 0,
    NT_LOG_INFO = 1,
    NT_LOG_WARN = 2,
    NT_LOG_ERROR = 3,
    NT_LOG_NONE = 4,
} nt_log_level;

/*
 * Structured logs: one JSON object per line on stderr (or the file set with
 * nt_log_set_fd): {"ts":"...","level":"info","msg":"...", ...fields}.
 * `fields` is either NULL or a pre-rendered JSON fragment without braces
 * (e.g. "\"status\":200,\"alg\":\"sha256\"").  Thread-safe.
 */
void nt_log(nt_log_level level, const char *fields, const char *fmt, ...) NT_PRINTF(3, 4);
void nt_log_set_level(nt_log_level level);
nt_log_level nt_log_get_level(void);
void nt_log_set_fd(int fd);
/* Parse "debug|info|warn|error|none"; NT_EINVAL otherwise. */
int nt_log_level_parse(nt_log_level *out, const char *name);

#define nt_log_debug(...) nt_log(NT_LOG_DEBUG, NULL, __VA_ARGS__)
#define nt_log_info(...)  nt_log(NT_LOG_INFO, NULL, __VA_ARGS__)
#define nt_log_warn(...)  nt_log(NT_LOG_WARN, NULL, __VA_ARGS__)
#define nt_log_error(...) nt_log(NT_LOG_ERROR, NULL, __VA_ARGS__)

/* ------------------------------------------------------------------ clock */

/*
 * The wall clock used for every time stamp.  Tests (and only tests) replace
 * its source; the default is clock_gettime(CLOCK_REALTIME).
 */
typedef int (*nt_clock_source_fn)(struct timespec *out, void *ctx);
void nt_clock_set_source(nt_clock_source_fn fn, void *ctx);
int nt_clock_now(struct timespec *out);

typedef enum nt_clock_sync {
    NT_CLOCK_SYNCED = 0,   /* kernel reports the clock synchronised (ntp_adjtime) */
    NT_CLOCK_UNSYNCED = 1, /* kernel reports TIME_ERROR / STA_UNSYNC */
    NT_CLOCK_UNKNOWN = 2,  /* the kernel could not be asked */
} nt_clock_sync;

typedef struct nt_clock_status {
    nt_clock_sync sync;
    long max_error_us; /* kernel's maximum error estimate, -1 if unknown */
    long est_error_us; /* kernel's estimated error, -1 if unknown */
} nt_clock_status;

typedef int (*nt_clock_sync_fn)(nt_clock_status *out, void *ctx);
/* Replace the synchronisation probe (tests); NULL restores ntp_adjtime. */
void nt_clock_set_sync_source(nt_clock_sync_fn fn, void *ctx);
int nt_clock_sync_status(nt_clock_status *out);
const char *nt_clock_sync_name(nt_clock_sync s);

/* Monotonic nanoseconds (CLOCK_MONOTONIC) for latencies and timeouts. */
uint64_t nt_mono_ns(void);

/* Format a UTC time as RFC 3339 with `digits` fractional digits (0..9) into out (appended). */
int nt_time_rfc3339(nt_buf *out, const struct timespec *ts, int digits);

/* ------------------------------------------------------------------ threads */

/* Name the calling thread ("nt-sequencer"; at most 15 bytes are kept). */
void nt_thread_name(const char *name);

/* Set the calling thread's nice value (Linux: per thread; its later threads inherit it). */
int nt_thread_nice(int nice);

#endif
