/*
 * load_main.c - notarium-load, the load generator and end-to-end checker of the
 * `tools/` directory.  It drives a running Notarium server on the loopback
 * interface only (127.0.0.0/8 or "localhost"; anything else is refused) with
 * keep-alive HTTP/1.1 over plain sockets: N connections spread over T threads,
 * each thread an epoll loop, every request a fresh random RFC 3161
 * TimeStampReq (or a fresh evidence JSON), for a fixed duration and under a
 * hard request cap.  Every reply is checked (HTTP status, PKIStatus, nonce and
 * imprint echo) and the run ends with counts, tokens/s and latency
 * percentiles.  Two check modes reuse the same HTTP client for the crash and
 * map-full e2e tests: --check-records (every token a client received has a
 * receipt holding the same token, proven against a signed checkpoint) and
 * --check-consistency (a later checkpoint is signed and consistent with an
 * earlier one).  Links util, nt_merkle (receipts, notes, proofs) and OpenSSL.
 * This file parses the options and dispatches; the other load_*.c files are
 * listed in load_int.h.
 */
#include "tools/load_int.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: notarium-load --url http://127.0.0.1:PORT/tsa [--connections N] [--threads T]\n"
            "                     [--duration S] [--max-requests N] [--alg sha256]\n"
            "                     [--evidence --api-key KEY] [--url-path /v1/evidence]\n"
            "                     [--case-events N --api-key KEY] (events of N cases)\n"
            "                     [--record FILE] [--stop-on-reject] [--no-keepalive]\n"
            "                     [--hold S (with --max-requests N = --connections N)] [--rate R]\n"
            "                     [--stall-ms MS]\n"
            "       notarium-load --url http://127.0.0.1:PORT --check-records FILE [--vkey FILE]\n"
            "       notarium-load --url http://127.0.0.1:PORT --check-consistency OLD_CHECKPOINT\n"
            "                     --vkey FILE [--save-checkpoint FILE]\n"
            "Targets must be on the loopback interface (127.0.0.0/8 or localhost).\n"
            "--record writes one line per token received: <alg>:<hex digest> <base64 token>.\n"
            "--no-keepalive sends Connection: close: a new TCP connection per request.\n"
            "--hold S keeps the connections open and idle S seconds after the run\n"
            "(prints HOLD open=N when they are), to measure what idle connections cost.\n"
            "--rate R paces the run at R requests/s in all (each connection R/N), for a polite\n"
            "client beside a greedy one; --api-key on /tsa sends that key (per-key limits).\n"
            "429 (a rate limit) and 503 count as rejected, not as errors.\n"
            "Requests still unanswered when the run ends are reported (the latency figures\n"
            "cannot hold them); --stall-ms MS makes one unanswered for MS or longer an error.\n"
            "Exit status: 0 done (load run) or all checks passed, 1 a check failed or the\n"
            "run saw errors, 2 usage.\n");
}

/*
 * Only loopback targets: a load generator pointed at somebody else's server is
 * an attack tool, so the host must be "localhost" or a literal 127.x.y.z.
 */
static int url_parse(load_opts *o, const char *url)
{
    static const char scheme[] = "http://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        return nt_error_set(NT_EINVAL, "only http:// URLs are supported: %s", url);
    }
    const char *h = url + sizeof(scheme) - 1;
    size_t hlen = strcspn(h, ":/");
    if (hlen == 0 || hlen >= 64) {
        return nt_error_set(NT_EINVAL, "bad host in URL: %s", url);
    }
    char host[64];
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    const char *p = h + hlen;
    uint64_t port = 80;
    if (*p == ':') {
        p++;
        size_t plen = strcspn(p, "/");
        if (nt_parse_u64(&port, p, plen) < 0 || port == 0 || port > 65535) {
            return nt_error_set(NT_EINVAL, "bad port in URL: %s", url);
        }
        p += plen;
    }
    if (*p == '\0') {
        p = "/";
    }
    if (strlen(p) >= sizeof(o->path) || strpbrk(p, " \r\n") != NULL) {
        return nt_error_set(NT_EINVAL, "bad path in URL: %s", url);
    }
    memset(&o->addr, 0, sizeof(o->addr));
    o->addr.sin_family = AF_INET;
    o->addr.sin_port = htons((uint16_t)port);
    if (strcasecmp(host, "localhost") == 0) {
        o->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &o->addr.sin_addr) != 1) {
        return nt_error_set(NT_EINVAL, "refusing target %s: not a literal 127.x.y.z or localhost",
                            host);
    }
    if ((ntohl(o->addr.sin_addr.s_addr) >> 24) != 127) {
        return nt_error_set(NT_EINVAL,
                            "refusing target %s: not on the loopback network 127.0.0.0/8", host);
    }
    snprintf(o->host, sizeof(o->host), "%s:%u", host, (unsigned)port);
    snprintf(o->path, sizeof(o->path), "%s", p);
    return 0;
}

static int parse_uint(uint64_t *out, const char *s, uint64_t min, uint64_t max, const char *what)
{
    if (nt_parse_u64(out, s, strlen(s)) < 0 || *out < min || *out > max) {
        return nt_error_set(NT_EINVAL, "%s must be an integer in %llu..%llu", what,
                            (unsigned long long)min, (unsigned long long)max);
    }
    return 0;
}

/* ------------------------------------------------------------------ main */

static int opts_parse(load_opts *o, int argc, char **argv)
{
    int error = 0;
    const char *url = NULL, *url_path = NULL, *alg = "sha256";
    int threads_set = 0;
    uint64_t v = 0;

    memset(o, 0, sizeof(*o));
    o->connections = 4;
    o->duration_s = 10.0;
    o->max_requests = LOAD_DEFAULT_MAX_REQUESTS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--evidence") == 0) {
            o->evidence = 1;
            takes = 0;
        } else if (strcmp(a, "--no-keepalive") == 0) {
            o->no_keepalive = 1;
            takes = 0;
        } else if (strcmp(a, "--stop-on-reject") == 0) {
            o->stop_on_reject = 1;
            takes = 0;
        } else if (next == NULL) {
            NT_ENSURE(0, NT_EINVAL, "unknown option or missing value: %s", a);
        } else if (strcmp(a, "--url") == 0) {
            url = next;
        } else if (strcmp(a, "--url-path") == 0) {
            url_path = next;
        } else if (strcmp(a, "--case-events") == 0) {
            NT_TRY(parse_uint(&v, next, 1, 100000, "--case-events"));
            o->cases = (unsigned)v;
            o->evidence = 1;
        } else if (strcmp(a, "--connections") == 0) {
            NT_TRY(parse_uint(&v, next, 1, LOAD_MAX_CONNECTIONS, "--connections"));
            o->connections = (unsigned)v;
        } else if (strcmp(a, "--threads") == 0) {
            NT_TRY(parse_uint(&v, next, 1, LOAD_MAX_THREADS, "--threads"));
            o->threads = (unsigned)v;
            threads_set = 1;
        } else if (strcmp(a, "--duration") == 0) {
            char *end = NULL;
            o->duration_s = strtod(next, &end);
            NT_ENSURE(end != next && *end == '\0' && o->duration_s > 0 &&
                          o->duration_s <= LOAD_MAX_DURATION_S,
                      NT_EINVAL, "--duration must be seconds in (0, %.0f]", LOAD_MAX_DURATION_S);
        } else if (strcmp(a, "--hold") == 0) {
            char *end = NULL;
            o->hold_s = strtod(next, &end);
            NT_ENSURE(end != next && *end == '\0' && o->hold_s > 0 &&
                          o->hold_s <= LOAD_MAX_DURATION_S,
                      NT_EINVAL, "--hold must be seconds in (0, %.0f]", LOAD_MAX_DURATION_S);
        } else if (strcmp(a, "--stall-ms") == 0) {
            NT_TRY(parse_uint(&o->stall_ms, next, 1, 3600000u, "--stall-ms"));
        } else if (strcmp(a, "--max-requests") == 0) {
            NT_TRY(parse_uint(&o->max_requests, next, 1, LOAD_HARD_MAX_REQUESTS, "--max-requests"));
        } else if (strcmp(a, "--alg") == 0) {
            alg = next;
        } else if (strcmp(a, "--rate") == 0) {
            char *end = NULL;
            o->rate = strtod(next, &end);
            NT_ENSURE(end != next && *end == '\0' && o->rate > 0 && o->rate <= 1e6, NT_EINVAL,
                      "--rate must be requests per second in (0, 1000000]");
        } else if (strcmp(a, "--api-key") == 0) {
            o->api_key = next;
        } else if (strcmp(a, "--record") == 0) {
            o->record_path = next;
        } else if (strcmp(a, "--check-records") == 0) {
            o->check_records = next;
        } else if (strcmp(a, "--check-consistency") == 0) {
            o->check_consistency = next;
        } else if (strcmp(a, "--vkey") == 0) {
            o->vkey_path = next;
        } else if (strcmp(a, "--save-checkpoint") == 0) {
            o->save_checkpoint = next;
        } else {
            NT_ENSURE(0, NT_EINVAL, "unknown option: %s", a);
        }
        i += takes;
    }
    NT_ENSURE(url != NULL, NT_EINVAL, "--url is required");
    NT_TRY(url_parse(o, url));
    if (url_path != NULL) {
        NT_ENSURE(url_path[0] == '/' && strlen(url_path) < sizeof(o->path) &&
                      strpbrk(url_path, " \r\n") == NULL,
                  NT_EINVAL, "bad --url-path");
        snprintf(o->path, sizeof(o->path), "%s", url_path);
    }
    NT_TRY(record_alg_from_name(&o->alg, alg));
    o->md = EVP_get_digestbynid(record_alg_nid(o->alg));
    NT_ENSURE(o->md != NULL, NT_EINVAL, "digest %s not available", alg);
    NT_ENSURE(o->api_key == NULL || (o->api_key[0] != '\0' && strpbrk(o->api_key, "\r\n") == NULL),
              NT_EINVAL, "bad --api-key");
    if (o->evidence) {
        NT_ENSURE(o->api_key != NULL && o->api_key[0] != '\0' &&
                      strpbrk(o->api_key, "\r\n") == NULL,
                  NT_EINVAL, "--evidence needs --api-key KEY");
        snprintf(o->case_prefix, sizeof(o->case_prefix), "load-%ld-%llu", (long)getpid(),
                 (unsigned long long)(nt_mono_ns() / 1000u));
        if (url_path == NULL && (strcmp(o->path, "/") == 0 || strcmp(o->path, "/tsa") == 0)) {
            snprintf(o->path, sizeof(o->path), "/v1/evidence");
        }
    }
    if (!threads_set) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads =
            cpus > 0 && (unsigned long)cpus < o->connections ? (unsigned)cpus : o->connections;
    }
    if (o->threads > o->connections) {
        o->threads = o->connections;
    }
    NT_ENSURE(o->hold_s <= 0 || !o->no_keepalive, NT_EINVAL,
              "--hold keeps connections open: not with --no-keepalive");
done:
    return error;
}

int main(int argc, char **argv)
{
    load_opts o;
    int rc = 0;
    if (opts_parse(&o, argc, argv) < 0) {
        fprintf(stderr, "notarium-load: %s\n", nt_error_last());
        usage(stderr);
        return 2;
    }
    if (o.check_records != NULL || o.check_consistency != NULL) {
        if (o.check_records != NULL) {
            rc = load__check_records(&o);
        }
        if (rc == 0 && o.check_consistency != NULL) {
            rc = load__check_consistency(&o);
        }
        if (rc < 0) {
            fprintf(stderr, "notarium-load: check failed: %s\n", nt_error_last());
            return 1;
        }
        return 0;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = load__on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (o.record_path != NULL) {
        load__record = fopen(o.record_path, "a");
        if (load__record == NULL) {
            fprintf(stderr, "notarium-load: %s: %s\n", o.record_path, strerror(errno));
            return 1;
        }
    }
    rc = load__run(&o);
    if (load__record != NULL) {
        fclose(load__record);
    }
    if (rc < 0) {
        fprintf(stderr, "notarium-load: %s\n", nt_error_last());
        return 1;
    }
    return rc;
}
